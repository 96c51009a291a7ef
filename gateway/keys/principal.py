"""Who is asking: the authenticated key and its customer, as the hot path needs them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from gateway.core.errors import AuthenticationFailed, ModelNotFound


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: int
    key_hash: str
    customer_id: int
    customer_name: str
    allowed_models: frozenset[str] | None = None
    expires_at: dt.datetime | None = None
    revoked: bool = False
    markup_percent: Decimal = Decimal(0)
    rpm: int | None = None
    tpm: int | None = None
    max_concurrency: int | None = None
    budget_micros: int | None = None
    budget_period: str | None = None
    budget_warning_percent: int = 80
    # The customer's own limits, over all of its keys together; None is unlimited.
    customer_rpm: int | None = None
    customer_tpm: int | None = None
    customer_max_concurrency: int | None = None
    customer_budget_micros: int | None = None
    customer_budget_period: str | None = None
    customer_budget_warning_percent: int = 80
    # A prepaid customer is refused once its credit balance is below -credit_grace_micros.
    prepaid: bool = False
    credit_grace_micros: int = 0
    # The key's response cache terms: None keeps the model's TTL; True also caches sampled requests.
    cache_ttl_seconds: int | None = None
    cache_nondeterministic: bool = False
    # Routing: the key's priority tier in a pool's queue (lower first, as vLLM's ``priority``),
    # and the region its requests prefer when they name none.
    priority: int = 0
    region: str | None = None

    def check_usable(self) -> None:
        if self.revoked:
            raise AuthenticationFailed("This API key has been revoked.", code="invalid_api_key")
        # The clock is read only for a key that expires: on every request, it cost more than the rest.
        if self.expires_at is not None and self.expires_at <= dt.datetime.now(dt.UTC):
            raise AuthenticationFailed("This API key has expired.", code="expired_api_key")

    def may_use(self, model: str) -> bool:
        return self.allowed_models is None or model in self.allowed_models

    def check_model(self, model: str) -> None:
        """Refuse a model outside the key's allow-list exactly as one that does not exist (checked first,
        so nothing about the model, not even its kind, is told)."""
        if not self.may_use(model):
            raise ModelNotFound.named(model)
