"""Every table, imported here so that Alembic and ``Base.metadata`` see all of them."""

from gateway.db.models.api_key import ApiKey
from gateway.db.models.base import Base
from gateway.db.models.batch import Batch, BatchLine
from gateway.db.models.billing import BillingReconciliation, MeterEventRow, StripeWebhookEvent
from gateway.db.models.credit_entry import CreditEntry
from gateway.db.models.customer import Customer
from gateway.db.models.dashboard_rollups import ErrorRollup, LatencyRollup, UsageTotal
from gateway.db.models.feedback import Feedback
from gateway.db.models.file import StoredFile
from gateway.db.models.price_book import ModelPrice, PriceBook
from gateway.db.models.rollout import RolloutEvent, RolloutState, RolloutTally
from gateway.db.models.stored_response import StoredResponse
from gateway.db.models.usage_event import UsageEvent
from gateway.db.models.usage_rollup import UsageRollup
from gateway.db.models.usage_serving import PoolHour, PoolSample

__all__ = [
    "ApiKey",
    "Base",
    "Batch",
    "BatchLine",
    "BillingReconciliation",
    "CreditEntry",
    "Customer",
    "ErrorRollup",
    "Feedback",
    "LatencyRollup",
    "MeterEventRow",
    "ModelPrice",
    "PoolHour",
    "PoolSample",
    "PriceBook",
    "RolloutEvent",
    "RolloutState",
    "RolloutTally",
    "StoredFile",
    "StoredResponse",
    "StripeWebhookEvent",
    "UsageEvent",
    "UsageRollup",
    "UsageTotal",
]
