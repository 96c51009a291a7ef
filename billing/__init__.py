"""Stripe billing (meters, credits, webhooks); built in the billing issue."""
