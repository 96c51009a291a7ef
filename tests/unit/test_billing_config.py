"""The config's ``stripe`` block: secrets from the environment, and mistakes named by their key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.settings import ConfigError, Settings, load_settings

BASE = """
backends:
  sim: {type: simulator}
models:
  - {name: sim-chat, deployments: [{backend: sim, model: sim}]}
"""


def _load(tmp_path: Path, stripe_block: str, env: dict[str, str] | None = None) -> Settings:
    path = tmp_path / "tollgate.yaml"
    path.write_text(BASE + stripe_block)
    return load_settings(path, env or {})


def test_billing_is_off_without_a_stripe_block_and_takes_its_secrets_from_the_environment(tmp_path: Path) -> None:
    assert _load(tmp_path, "").stripe is None
    block = "stripe: {api_key: '${STRIPE_KEY}', webhook_secret: '${STRIPE_WHSEC}', sync_interval_seconds: 30}\n"
    stripe = _load(tmp_path, block, {"STRIPE_KEY": "sk_live_x", "STRIPE_WHSEC": "whsec_y"}).stripe
    assert stripe is not None
    assert (stripe.api_key, stripe.webhook_secret, stripe.sync_interval_seconds) == ("sk_live_x", "whsec_y", 30)
    assert (stripe.meter_event_name, stripe.api_base) == ("tollgate_cost_micros", "https://api.stripe.com")


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("stripe: {webhook_secret: x}\n", "$.stripe: Object missing required field `api_key`"),
        ("stripe: {api_key: x, sync_every: 5}\n", "$.stripe: Object contains unknown field `sync_every`"),
        ("stripe: {api_key: x, sync_interval_seconds: 0}\n", "$.stripe.sync_interval_seconds: Expected `float` > 0.0"),
    ],
)
def test_a_bad_stripe_block_is_named_by_its_path(tmp_path: Path, block: str, message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        _load(tmp_path, block)
    assert message in str(refused.value)
