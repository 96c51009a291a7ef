"""A request body that is not a JSON object a client could mean is a 400 ``invalid_json``, whatever
is wrong with it: never a 500 from deep inside the decoder."""

from __future__ import annotations

import pytest

from gateway.core.errors import InvalidRequest
from gateway.core.numbers import INT32_MAX, whole_number
from gateway.protocol.chat import ChatCompletionRequest
from gateway.protocol.decoding import MAX_DEPTH, decode_object, validate
from gateway.protocol.limits import MAX_OUTPUT_TOKENS, check_size


def nested(depth: int) -> bytes:
    return b'{"model": "m", "x": ' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


@pytest.mark.parametrize(
    "body",
    [
        nested(MAX_DEPTH + 1),  # within Python's recursion limit, but deep enough to trip code after decoding
        nested(100_000),  # msgspec's own RecursionError
        b'{"model": "gpt\xff\xfe"}',  # not UTF-8
        b'{"model": "\xed\xa0\x80"}',  # a UTF-16 surrogate encoded as UTF-8
    ],
    ids=["past the depth bound", "far past it", "invalid utf-8", "surrogate"],
)
def test_undecodable_bodies_are_invalid_json(body: bytes) -> None:
    with pytest.raises(InvalidRequest) as refused:
        decode_object(body)
    assert (refused.value.http_status, refused.value.code) == (400, "invalid_json")


def test_bodies_up_to_the_depth_bound_decode() -> None:
    assert decode_object(nested(MAX_DEPTH))["model"] == "m"
    wide = b'{"input": [' + b",".join([b"[1, 2, 3]"] * 500) + b"]}"  # many brackets, little depth
    assert len(decode_object(wide)["input"]) == 500
    assert decode_object(b'{"s": "' + b"[" * 500 + b'"}')["s"] == "[" * 500  # brackets inside a string


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_token_counts_past_the_bound_are_tokens_too_large(field: str) -> None:
    raw = {"model": "m", "messages": [{"role": "user", "content": "hi"}], field: 10**30}
    with pytest.raises(InvalidRequest) as refused:
        check_size(validate(raw, ChatCompletionRequest), max_messages=10)
    assert (refused.value.code, refused.value.param) == ("tokens_too_large", field)
    check_size(validate({**raw, field: MAX_OUTPUT_TOKENS}, ChatCompletionRequest), max_messages=10)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("42", 42),
        (" 7 ", 7),
        ("0", 0),
        (str(INT32_MAX), INT32_MAX),
        (str(INT32_MAX + 1), None),
        ("²", None),
        ("١٢", None),
        ("9" * 5000, None),
        ("", None),
        ("-1", None),
        ("1_000", None),
        ("+5", None),
    ],
)
def test_whole_numbers_are_ascii_digits_within_a_bound(text: str, expected: int | None) -> None:
    assert whole_number(text, INT32_MAX) == expected
