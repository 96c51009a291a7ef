"""Billing at the gateway's edge: Stripe's webhook, and the billing part of the admin API and CLI."""
