"""The ``stripe`` block of the config. Billing is on when it is present (``api_key`` is required)."""

from __future__ import annotations

from typing import Annotated

import msgspec

Positive = Annotated[float, msgspec.Meta(gt=0)]


class StripeSettings(msgspec.Struct, forbid_unknown_fields=True):
    api_key: str
    # Signs the webhooks Stripe sends to ``/stripe/webhook``; without it that endpoint refuses them all.
    webhook_secret: str | None = None
    # Where Stripe's API and its meter event stream live: set both to a local fake in tests.
    api_base: str = "https://api.stripe.com"
    meter_events_base: str = "https://meter-events.stripe.com"
    # The meter Tollgate reports to (created when missing): its value is cost in micro-dollars.
    meter_event_name: str = "tollgate_cost_micros"
    # Starts every meter event identifier: two deployments sharing one Stripe account must differ.
    identifier_prefix: str = "tollgate"
    # How often the gateway's billing job runs (``tollgate billing sync`` runs it once). With many
    # replicas, turn the job off in all but one (or run the CLI from a cron job): each would send.
    run_in_gateway: bool = True
    sync_interval_seconds: Positive = 60.0
    # An hour is sent once it has been over this long, so that the journal drain has stored its usage;
    # usage stored later still goes out, as a further event for the same hour.
    settle_seconds: Annotated[float, msgspec.Meta(ge=0)] = 300.0
    # How often the job compares the last day's usage with what Stripe received; 0 turns that off.
    reconcile_interval_seconds: Annotated[float, msgspec.Meta(ge=0)] = 3600.0
    # Waits after Stripe answered 429, doubling from the first up to the last, then the run gives up.
    rate_limit_backoff_seconds: Positive = 0.5
    rate_limit_max_wait_seconds: Positive = 30.0
    request_timeout_seconds: Positive = 30.0
    # Where Checkout sends the customer after paying or giving up (the admin API may say otherwise).
    checkout_success_url: str = "https://example.com/billing/success"
    checkout_cancel_url: str = "https://example.com/billing/cancel"
