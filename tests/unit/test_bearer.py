"""The one bearer-token check, used by /metrics and the admin API alike (require_admin)."""

from __future__ import annotations

import pytest

from gateway.edge.bearer import bearer_matches


@pytest.mark.parametrize(
    "header", ["Bearer s3cret", "bearer s3cret", "BEARER s3cret", "Bearer  s3cret ", "Bearer s3cret\t"]
)
def test_the_scheme_in_any_case_and_whitespace_around_the_token_are_accepted(header: str) -> None:
    assert bearer_matches(header, "s3cret")


@pytest.mark.parametrize(
    ("header", "token"),
    [
        (None, "s3cret"),
        ("", "s3cret"),
        ("Bearer s3cret", None),
        ("Bearer s3cret", ""),
        ("Basic s3cret", "s3cret"),
        ("Bearer", "s3cret"),
        ("Bearers3cret", "s3cret"),
        ("Bearer s3cre", "s3cret"),
        ("Bearer s3cret s3cret", "s3cret"),
    ],
)
def test_a_missing_header_or_token_another_scheme_or_another_token_is_refused(
    header: str | None, token: str | None
) -> None:
    assert not bearer_matches(header, token)
