"""What the Stripe calls take and give, apart from Stripe's SDK, which takes a second or more to
import: only a process that talks to Stripe loads it (see :mod:`billing.stripe_api`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from gateway.core.errors import UpstreamError

STREAM_BATCH = 100  # events per meter event stream request, Stripe's maximum


class StripeUnavailable(UpstreamError):
    """Stripe refused or could not be reached (a 502 to our own clients); ``stripe_status`` is what
    Stripe answered, None when it could not be reached."""

    default_code = "stripe_error"

    def __init__(self, message: str, *, stripe_status: int | None = None, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.stripe_status = stripe_status


@dataclass(frozen=True, slots=True)
class MeterEventOut:
    identifier: str
    stripe_customer_id: str
    timestamp: dt.datetime
    value: int


@dataclass(frozen=True, slots=True)
class CheckoutLink:
    id: str
    url: str
    expires_at: dt.datetime
