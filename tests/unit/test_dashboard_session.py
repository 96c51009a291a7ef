"""Dashboard session cookies and CSRF tokens: forged, altered, expired or stale ones are refused."""

from __future__ import annotations

from gateway.dashboard.session import LIFETIME_SECONDS, SessionSigner

NOW = 1_800_000_000.0


def test_an_issued_cookie_opens_until_it_expires() -> None:
    signer = SessionSigner("token-1")
    cookie = signer.issue(NOW)

    assert signer.open(cookie, NOW + 60) is not None
    assert signer.open(cookie, NOW + LIFETIME_SECONDS) is None


def test_an_altered_or_foreign_cookie_is_refused() -> None:
    signer = SessionSigner("token-1")
    issued, session_id, signature = signer.issue(NOW).split(".")

    assert signer.open(f"{int(issued) + 3600}.{session_id}.{signature}", NOW) is None  # extended by hand
    assert signer.open(f"{issued}.{session_id}.{'0' * 64}", NOW) is None
    assert signer.open("garbage", NOW) is None
    assert signer.open(None, NOW) is None
    assert SessionSigner("token-2").open(signer.issue(NOW), NOW) is None  # the admin token was changed


def test_a_csrf_token_belongs_to_one_session() -> None:
    signer = SessionSigner("token-1")
    mine = signer.open(signer.issue(NOW), NOW)
    theirs = signer.open(signer.issue(NOW), NOW)
    assert mine is not None and theirs is not None

    assert signer.csrf_matches(mine, signer.csrf_token(mine))
    assert not signer.csrf_matches(mine, signer.csrf_token(theirs))
    assert not signer.csrf_matches(mine, None)


def test_only_the_admin_token_itself_signs_in() -> None:
    signer = SessionSigner("token-1")

    assert signer.token_matches(" token-1\n")
    assert not signer.token_matches("token-")
    assert not signer.token_matches("")
