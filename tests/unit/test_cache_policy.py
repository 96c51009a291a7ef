"""What may be cached, what may be stored, and the request's own controls."""

from __future__ import annotations

import pytest

from backends.base import Operation
from gateway.cache.policy import Controls, cacheable_request, complete_answer, parse_controls, ttl_for
from gateway.core.errors import InvalidRequest
from gateway.settings import ModelCache

ASK = [{"role": "user", "content": "hi"}]


def test_only_deterministic_requests_are_cached_unless_the_model_opts_in() -> None:
    config = ModelCache()
    assert cacheable_request(Operation.CHAT, {"messages": ASK, "temperature": 0}, config)
    assert cacheable_request(Operation.CHAT, {"messages": ASK, "temperature": 0.7, "seed": 1}, config)
    assert not cacheable_request(Operation.CHAT, {"messages": ASK}, config)
    assert not cacheable_request(Operation.CHAT, {"messages": ASK, "temperature": 0.7}, config)
    assert cacheable_request(Operation.CHAT, {"messages": ASK, "temperature": 0.7}, ModelCache(nondeterministic=True))
    assert cacheable_request(Operation.CHAT, {"messages": ASK, "temperature": 0.7}, config, key_opts_in=True)


def test_logprobs_are_never_cached_and_embeddings_always_are() -> None:
    config = ModelCache(nondeterministic=True)
    assert cacheable_request(Operation.EMBEDDINGS, {"input": "x"}, ModelCache())  # deterministic models
    assert complete_answer(Operation.EMBEDDINGS, {"data": [{"index": 0, "embedding": [0.5]}]})
    assert not complete_answer(Operation.EMBEDDINGS, {"data": []})
    assert not cacheable_request(Operation.CHAT, {"messages": ASK, "temperature": 0, "logprobs": True}, config)


def _chat(finish: str, **message: object) -> dict[str, object]:
    return {"choices": [{"index": 0, "finish_reason": finish, "message": {"role": "assistant", **message}}]}


def test_only_complete_text_answers_are_stored() -> None:
    assert complete_answer(Operation.CHAT, _chat("stop", content="Paris."))
    assert not complete_answer(Operation.CHAT, _chat("length", content="Par"))
    assert not complete_answer(Operation.CHAT, _chat("content_filter", content=""))
    call = [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    assert not complete_answer(Operation.CHAT, _chat("tool_calls", content=None, tool_calls=call))
    assert not complete_answer(Operation.CHAT, _chat("stop", content="", tool_calls=call))
    assert not complete_answer(Operation.CHAT, {"error": {"message": "boom"}})
    assert complete_answer(Operation.COMPLETIONS, {"choices": [{"text": "x", "finish_reason": "stop"}]})


def test_cache_control_and_ttl_headers() -> None:
    assert parse_controls(None, None) == Controls()
    assert parse_controls("no-cache", None) == Controls(read=False)
    assert parse_controls("No-Store, max-age=0", "60") == Controls(write=False, ttl_seconds=60)
    model = ModelCache(ttl_seconds=300)
    assert ttl_for(model, Controls(), None, 3600) == 300
    assert ttl_for(model, Controls(), 60, 3600) == 60  # the key's TTL over the model's
    assert ttl_for(model, Controls(ttl_seconds=20), 60, 3600) == 20  # the request's over both
    assert ttl_for(model, Controls(ttl_seconds=10**9), None, 3600) == 3600


# "²" and "¹²³" pass str.isdigit() and "9" * 5000 is more digits than int() reads: each was a 500.
@pytest.mark.parametrize("value", ["0", "-5", "soon", "1.5", "", "²", "¹²³", "١٢٣", "9" * 5000, str(2**31)])
def test_a_bad_ttl_header_is_a_clear_400(value: str) -> None:
    with pytest.raises(InvalidRequest) as error:
        parse_controls(None, value)
    assert error.value.http_status == 400 and error.value.param == "x-tollgate-cache-ttl"
