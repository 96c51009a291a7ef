"""What a client reads of an upstream's failure: its status, its error type and code and its sense,
never the operator's addresses or credentials, and never the provider's verdict on the operator's key."""

from __future__ import annotations

import json

import pytest

from backends.http import status_error
from gateway.core.errors import UpstreamStatusError, UpstreamUnreachable
from gateway.core.redact import redacted

LEAKS = [
    ("Incorrect API key provided: sk-proj-AbC123xyz***********9xQz.", ["sk-proj", "9xQz"]),
    ("sent with Authorization: Bearer tok_live_123456", ["tok_live_123456", "Bearer tok"]),
    ("api_key='hunter2hunter2' was rejected", ["hunter2"]),
    ("retry at http://10.0.7.3:8000/v1/chat/completions", ["10.0.7.3", "http://", "8000/v1"]),
    ("Cannot connect to host 192.168.1.20:443 ssl:default", ["192.168.1.20"]),
    ("pool vllm-0.vllm.default.svc.cluster.local:8000 is draining", ["vllm-0", "svc.cluster"]),
    ("bound to [fe80::1%eth0]:8000 and ::1", ["fe80", "::1"]),
    ("ollama at localhost:11434 said no", ["localhost", "11434"]),
    ("the sidecar gpu-box-7:9000 is down", ["gpu-box-7"]),
    ("aws AKIAIOSFODNN7EXAMPLE denied", ["AKIAIOSFODNN7EXAMPLE"]),
]


@pytest.mark.parametrize(("message", "hidden"), LEAKS, ids=[m[:30] for m, _ in LEAKS])
def test_addresses_and_credentials_are_taken_out(message: str, hidden: list[str]) -> None:
    shown = UpstreamStatusError(message, upstream_status=500).envelope()["error"]["message"]
    assert all(secret not in shown for secret in hidden), shown
    assert redacted(shown) == shown  # nothing left to take out


def test_the_sense_of_a_message_survives() -> None:
    overflow = "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens."
    assert redacted(overflow) == overflow
    for plain in ["Invalid value for 'temperature': expected <= 2", "std::vector at 12:30:45", "max_tokens:4096"]:
        assert redacted(plain) == plain
    assert len(redacted("x" * 10_000)) == 500


@pytest.mark.parametrize("status", [401, 403, 407])
def test_a_refusal_of_the_operators_key_is_a_502_that_says_nothing_more(status: int) -> None:
    body = {"error": {"message": "Incorrect API key provided: sk-abc***def", "type": "invalid_request_error"}}
    body["error"]["code"] = "invalid_api_key"
    error = status_error("openai", status, {}, json.dumps(body).encode())
    envelope = error.envelope()["error"]
    assert error.http_status == 502 and envelope["code"] == "upstream_auth_failed"
    assert envelope["type"] == "upstream_error" and "sk-" not in envelope["message"]
    assert "invalid_api_key" not in json.dumps(envelope)
    assert error.upstream_status == status and "sk-abc" in error.detail  # the routing and the log still know


def test_other_errors_keep_status_type_and_code() -> None:
    body = {"error": {"message": "bad value at http://10.1.1.1/x", "type": "invalid_request_error"}}
    body["error"] |= {"code": "context_length_exceeded", "param": "messages"}
    error = status_error("openai", 400, {"retry-after": "3"}, json.dumps(body).encode())
    assert error.http_status == 400 and error.headers == {"retry-after": "3"}
    assert error.envelope()["error"] == {
        "message": "bad value at [address]",
        "type": "invalid_request_error",
        "param": "messages",
        "code": "context_length_exceeded",
    }
    odd = UpstreamStatusError("x", upstream_status=418, upstream_type="a b c", code="sk-live-0123456789")
    assert (odd.error_type, odd.code) == ("upstream_error", "upstream_error")  # not names: not relayed


def test_transport_errors_are_redacted_too() -> None:
    error = UpstreamUnreachable("upstream vllm is unreachable: Connect call failed ('10.2.3.4', 8000)")
    assert "10.2.3.4" not in error.message and "10.2.3.4" in error.detail
