"""A pool's scale-to-zero settings: durations, what they exclude, and how the servers are started."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from backends.vllm import VLLMConfig, duration_seconds
from backends.vllm_launch import server_args, server_env


def pool(**fields: Any) -> VLLMConfig:
    return msgspec.convert({"urls": ["http://127.0.0.1:8000/v1"], **fields}, VLLMConfig)


@pytest.mark.parametrize(("given", "seconds"), [(90, 90.0), (2.5, 2.5), ("45s", 45.0), ("15m", 900.0), ("1h", 3600.0)])
def test_durations_in_seconds_or_with_a_unit(given: float | str, seconds: float) -> None:
    assert duration_seconds(given) == seconds


@pytest.mark.parametrize("given", ["soon", "15 minutes", "0", -3, "m"])
def test_what_is_not_a_duration_is_refused(given: float | str) -> None:
    with pytest.raises(ValueError):
        duration_seconds(given)


def test_a_pool_at_zero_needs_idle_after() -> None:
    with pytest.raises(msgspec.ValidationError, match="needs idle_after"):
        pool(min_replicas=0)
    scaled = pool(min_replicas=0, idle_after="15m", max_cold_start_wait="2m")
    assert scaled.scales_to_zero and scaled.idle_seconds == 900.0 and scaled.cold_start_wait == 120.0
    assert not pool().scales_to_zero and not pool(min_replicas=1).scales_to_zero


def test_a_bad_duration_is_a_config_error() -> None:
    with pytest.raises(msgspec.ValidationError, match="not a duration"):
        pool(min_replicas=0, idle_after="a while")


def test_sleep_mode_and_a_control_endpoint_exclude_each_other() -> None:
    control = {"url": "http://127.0.0.1:9000", "token": "0123456789abcdef"}
    with pytest.raises(msgspec.ValidationError, match="exclude each other"):
        pool(min_replicas=0, idle_after=60, sleep_mode=True, control=control)


def test_sleep_mode_starts_the_servers_with_it_and_its_endpoints() -> None:
    launch = {"model": "/models/m", "env": {"HF_HUB_OFFLINE": "1"}}
    sleepy = pool(min_replicas=0, idle_after=60, sleep_mode=True, launch=launch)
    assert sleepy.launch is not None and "--enable-sleep-mode" in server_args(sleepy.launch)
    assert server_env(sleepy.launch) == {"HF_HUB_OFFLINE": "1", "VLLM_SERVER_DEV_MODE": "1"}
    plain = pool(launch=launch)
    assert plain.launch is not None and "--enable-sleep-mode" not in server_args(plain.launch)
    assert server_env(plain.launch) == {"HF_HUB_OFFLINE": "1"}
