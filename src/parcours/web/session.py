"""Sessions of the signed-in web spaces: who is signed in, in a signed cookie, and the CSRF token of its forms.

The cookie holds the signed-in principal (role, identifier, name, organisation, issuer), the session's CSRF token
and its end; it is signed with itsdangerous (a changed byte and the cookie is ignored), HttpOnly, SameSite=Lax and
Secure (``PARCOURS_WEB_COOKIE_SECURE=false`` only for development over plain http). A session ends at a fixed time
after sign-in (``PARCOURS_WEB_SESSION_MINUTES``) or at sign-out: a signed-in session has an identifier, and sign-out
stores it as ended (``record.sessions``), so a copy of the cookie taken before is refused too. Before sign-in the same cookie carries an anonymous
session: the CSRF token of the sign-in forms and, during an OpenID Connect sign-in, its state, nonce and PKCE
verifier. Every POST of the spaces must carry the session's CSRF token (``checked_form``).

The pages map the session to the same ``Principal`` the API's bearer tokens give, so access decisions and the audit
trail are the API's.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.datastructures import FormData

from parcours.record import sessions as ended_sessions
from parcours.record.identity import Principal, Role
from parcours.settings import WebSettings

COOKIE = "parcours_session"
CSRF_FIELD = "csrf_token"
SALT = "parcours.web.session"
# a sign-in started with an identity provider must come back within this long (an operational choice)
PENDING_SECONDS = 600


class SignInRequiredError(Exception):
    """No one is signed in (or the session ended): the page sends to the sign-in page."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class WrongSpaceError(Exception):
    """The signed-in person may not use this space (a patient on the agents' pages…)."""


class CsrfError(Exception):
    """A form came without the session's CSRF token (or with another one)."""


@dataclass(frozen=True)
class WebSession:
    """The content of the session cookie. ``principal`` None: an anonymous session (before sign-in)."""

    csrf: str
    expires: int  # epoch seconds
    principal: Principal | None = None
    pending: dict[str, str] | None = None  # an OpenID Connect sign-in under way: provider, state, nonce, verifier
    session_id: str | None = None  # signed-in sessions only: what sign-out records as ended
    dirty: bool = field(default=False, compare=False)

    @classmethod
    def anonymous(cls, settings: WebSettings) -> WebSession:
        return cls(csrf=secrets.token_urlsafe(32), expires=int(time.time()) + settings.session_minutes * 60, dirty=True)

    @classmethod
    def signed_in(cls, principal: Principal, settings: WebSettings) -> WebSession:
        """A fresh session (new CSRF token: nothing of the anonymous one carries over)."""
        return cls(csrf=secrets.token_urlsafe(32), expires=int(time.time()) + settings.session_minutes * 60,
                   principal=principal, session_id=secrets.token_urlsafe(24), dirty=True)  # fmt: skip

    def with_pending(self, pending: dict[str, str] | None) -> WebSession:
        return replace(self, pending=pending, dirty=True)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"csrf": self.csrf, "exp": self.expires}
        if self.principal is not None:
            p = self.principal
            data["who"] = {"role": p.role.value, "id": p.identifier, "iss": p.issuer, "name": p.display_name,
                           "org": p.organisation}  # fmt: skip
        if self.pending is not None:
            data["pending"] = self.pending
        if self.session_id is not None:
            data["sid"] = self.session_id
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WebSession:
        who = data.get("who")
        principal = None
        if who is not None:
            principal = Principal(Role(who["role"]), str(who["id"]), issuer=str(who["iss"]),
                                  display_name=who.get("name"), organisation=who.get("org"))  # fmt: skip
        sid = data.get("sid")
        return cls(csrf=str(data["csrf"]), expires=int(data["exp"]), principal=principal, pending=data.get("pending"),
                   session_id=str(sid) if sid else None)  # fmt: skip


class SessionCodec:
    """Signs and reads the cookie."""

    def __init__(self, settings: WebSettings) -> None:
        self.settings = settings
        secret = settings.session_secret.get_secret_value() or secrets.token_urlsafe(48)
        self._serializer = URLSafeTimedSerializer(secret, salt=SALT)

    def dumps(self, session: WebSession) -> str:
        return self._serializer.dumps(session.to_json())

    def loads(self, cookie: str | None) -> WebSession | None:
        if not cookie or len(cookie) > 4096:
            return None
        try:
            data = self._serializer.loads(cookie, max_age=self.settings.session_minutes * 60 + PENDING_SECONDS)
            session = WebSession.from_json(data)
        except (BadSignature, KeyError, TypeError, ValueError):
            return None
        if session.expires <= time.time():
            return None
        return session


def _codec(request: Request) -> SessionCodec:
    codec: SessionCodec = request.app.state.web_sessions
    return codec


def settings_of(request: Request) -> WebSettings:
    return _codec(request).settings


def current(request: Request) -> WebSession:
    """The request's session: the cookie's if it is genuine and current, otherwise a new anonymous one (saved with
    the response by ``render``/``save``)."""
    cached = getattr(request.state, "web_session", None)
    if isinstance(cached, WebSession):
        return cached
    found = _codec(request).loads(request.cookies.get(COOKIE))
    if found is not None and found.principal is not None and not _still_open(request, found):
        found = None
    session = found or WebSession.anonymous(_codec(request).settings)
    request.state.web_session = session
    return session


def _still_open(request: Request, session: WebSession) -> bool:
    """A signed-in session is open if it has an identifier that no sign-out ended (a cookie without one predates
    server-side sign-out: refused, the person signs in again)."""
    if session.session_id is None:
        return False
    with request.app.state.database.unit_of_work() as db:
        return not ended_sessions.is_ended(db, session.session_id)


def remember(request: Request, session: WebSession) -> None:
    """Make ``session`` the request's (saved with the response)."""
    request.state.web_session = replace(session, dirty=True)


def save(request: Request, response: Response) -> Response:
    """Set the cookie on ``response`` if the request's session is new or changed."""
    session = current(request)
    if session.dirty:
        settings = _codec(request).settings
        response.set_cookie(COOKIE, _codec(request).dumps(session), max_age=max(1, session.expires - int(time.time())),
                            httponly=True, secure=settings.cookie_secure, samesite="lax", path="/")  # fmt: skip
    return response


def forget(response: Response, request: Request) -> Response:
    """Sign out: the session is recorded as ended (any copy of its cookie is refused from now on) and the cookie is
    deleted (the next request starts anonymous)."""
    ending = current(request)
    if ending.session_id is not None:
        with request.app.state.database.unit_of_work() as db:
            ended_sessions.end(db, ending.session_id, dt.datetime.fromtimestamp(ending.expires, dt.UTC))
    settings = _codec(request).settings
    response.delete_cookie(COOKIE, path="/", httponly=True, secure=settings.cookie_secure, samesite="lax")
    request.state.web_session = None
    return response


def principal(request: Request) -> Principal | None:
    return current(request).principal


def require(request: Request, *roles: Role) -> Principal:
    """The signed-in principal, if their role may use the page (``roles`` empty: any role)."""
    who = current(request).principal
    if who is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequiredError(target)
    if roles and who.role not in roles:
        raise WrongSpaceError()
    return who


def check_csrf(request: Request, form: FormData) -> None:
    sent = form.get(CSRF_FIELD)
    expected = current(request).csrf
    if not isinstance(sent, str) or not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfError()


async def checked_form(request: Request) -> AsyncIterator[FormData]:
    """The POSTed form, once its CSRF token is checked (a ``CsrfError`` otherwise: 403, nothing done). Its uploaded
    files (spooled to disk past 1 MB) are closed once the page has answered."""
    async with request.form() as form:
        check_csrf(request, form)
        yield form


def install(app: Any, settings: WebSettings) -> SessionCodec:
    codec = SessionCodec(settings)
    app.state.web_sessions = codec
    return codec
