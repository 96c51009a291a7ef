"""Signing in to the dashboard with the admin token, signing out, and the checks every page makes.

Pages need a valid session cookie (else they redirect to the sign-in form); forms that change
anything need the session's CSRF token too (else 403). Without an ``admin_token`` in the settings
the dashboard is off, like the admin API. Wrong tokens are throttled per client address and signing
out revokes the session (``gateway/dashboard/sign_in.py``).
"""

from __future__ import annotations

from typing import Any

from litestar import Response, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from gateway.dashboard.session import COOKIE, LIFETIME_SECONDS, Session, SessionSigner
from gateway.dashboard.sign_in import SignInGuard
from gateway.edge.errors import HttpRequest

HOME = "/dashboard/usage"
LOGIN = "/dashboard/login"
SECURITY_HEADERS = {
    # No scripts at all; the stylesheet is inline. Nobody may frame the dashboard.
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self';"
    " frame-ancestors 'none'; base-uri 'none'",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


def session_of(request: HttpRequest, signer: SessionSigner | None) -> Session | None:
    return None if signer is None else signer.open(request.cookies.get(COOKIE))


def page(
    request: HttpRequest,
    signer: SessionSigner | None,
    name: str,
    context: dict[str, Any],
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Template:
    """A dashboard page, with what the layout needs: the CSRF token for forms (the sign-out button).
    ``signer`` is None while the dashboard is off (no admin token)."""
    session = session_of(request, signer)
    csrf = signer.csrf_token(session) if signer is not None and session is not None else ""
    return Template(
        template_name=name,
        context={**context, "csrf_token_value": csrf, "path": request.url.path},
        status_code=status,
        headers={**SECURITY_HEADERS, **(headers or {})},
    )


async def check_session(
    request: HttpRequest, signer: SessionSigner | None, sign_in: SignInGuard
) -> Response[Any] | Template | None:
    """What the signed-in pages' ``before_request`` answers (``gateway.dependencies.require_session``):
    the sign-in form for strangers, 403 for a form posted without this session's CSRF token, None to go on."""
    if signer is None:
        return _disabled(request)
    session = signer.open(request.cookies.get(COOKIE))
    if session is None or await sign_in.is_revoked(session):
        return Redirect(LOGIN, status_code=HTTP_303_SEE_OTHER)
    if request.method != "GET":
        form = await request.form()
        if not signer.csrf_matches(session, _field(form, "csrf_token")):
            return Response(
                "This form has expired or did not come from the dashboard; reload the page and try again.",
                status_code=403,
                media_type="text/plain",
                headers=SECURITY_HEADERS,
            )
    return None


def _disabled(request: HttpRequest) -> Template:
    text = "The dashboard is disabled: set admin_token in the config (or TOLLGATE_ADMIN_TOKEN) to enable it."
    return page(request, None, "message.html", {"title": "Dashboard disabled", "message": text}, 403)


def _field(form: Any, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None


@get("/login", sync_to_thread=False)
def login_form(request: HttpRequest, signer: NamedDependency[SessionSigner | None]) -> Template:
    if signer is None:
        return _disabled(request)
    return page(request, signer, "login.html", {"title": "Sign in", "error": None})


@post("/login")
async def login(
    request: HttpRequest, signer: NamedDependency[SessionSigner | None], sign_in: NamedDependency[SignInGuard]
) -> Response[Any] | Template:
    address = _address(request)
    wait = await sign_in.retry_after(address)
    if wait is not None:
        error = f"Too many wrong tokens from this address; try again in {wait} s."
        return page(
            request, signer, "login.html", {"title": "Sign in", "error": error}, 429, {"retry-after": str(wait)}
        )
    given = _field(await request.form(), "token") or ""
    if signer is None or not signer.token_matches(given):
        await sign_in.failed(address)
        return page(request, signer, "login.html", {"title": "Sign in", "error": "That is not the admin token."}, 401)
    secure = request.url.scheme == "https"
    cookie = Cookie(
        key=COOKIE,
        value=signer.issue(),
        path="/dashboard",
        max_age=LIFETIME_SECONDS,
        httponly=True,
        secure=secure,
        samesite="strict",
    )
    return Redirect(HOME, status_code=HTTP_303_SEE_OTHER, cookies=[cookie], headers=SECURITY_HEADERS)


def _address(request: HttpRequest) -> str:
    """The peer's address: a forwarded-for header is the client's to choose, so it is not believed."""
    return request.client.host if request.client is not None else "unknown"


@post("/logout")
async def logout(
    request: HttpRequest, signer: NamedDependency[SessionSigner | None], sign_in: NamedDependency[SignInGuard]
) -> Response[Any]:
    """Signs out for good: the session is revoked, so a copy of the cookie no longer opens any page."""
    session = session_of(request, signer)
    if session is not None:
        await sign_in.revoke(session)
    gone = Cookie(key=COOKIE, value="", path="/dashboard", max_age=0, expires=0, httponly=True, samesite="strict")
    return Redirect(LOGIN, status_code=HTTP_303_SEE_OTHER, cookies=[gone], headers=SECURITY_HEADERS)
