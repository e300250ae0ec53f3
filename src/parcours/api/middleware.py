"""The request guard: what every request passes before any route, and the catch-all after them.

- **Size**: a body larger than the limit is refused with 413 from its ``Content-Length`` alone, or as soon as the
  bytes streamed in pass the limit; it is never read to the end. Record entries (attachments) have a larger limit.
- **NUL characters** (``\\x00``) in the path, the query string, a header, a form or a JSON string are refused with
  422 naming the field: PostgreSQL cannot store them in text, and no identifier or French text holds one.
- **Depth**: a JSON body nested deeper than ``max_json_depth`` is refused with 422 (the parser would otherwise run
  out of recursion and answer an English 400).
- **Catch-all**: an unexpected exception is logged with its stack and answered 500 in the project's error shape
  (OperationOutcome under ``/fhir``), a handled response, so the connection stays open (keep-alive). A database
  connection lost under the request (server restart, failover; there is no pre-ping) is 503 with ``Retry-After``.

It is a pure ASGI middleware (no ``BaseHTTPMiddleware``): it buffers the body once, bounded, and replays it.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy.exc import DBAPIError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from parcours.api.errors import render_error
from parcours.errors import FieldError
from parcours.settings import Settings

logger = logging.getLogger("parcours.api")

NUL = "\x00"
NUL_MESSAGE = "caractère nul (\\0) interdit"
SERVER_ERROR = FieldError("(serveur)", "erreur interne du serveur ; l'incident est journalisé")
DATABASE_LOST = FieldError("(serveur)", "base de données momentanément injoignable : réessayez dans un instant")
# the routes whose body carries attachments (a DocumentReference's content, base64; a patient's upload, multipart)
ATTACHMENT_ROUTES = re.compile(r"^/(api/record/[^/]+/entries|espace/patient/[^/]+/dossier/documents)/?$")
JSON_TYPES = re.compile(r"^application/([a-z0-9.+-]+\+)?json\s*(;|$)")
FORM_TYPE = "application/x-www-form-urlencoded"


@dataclass(frozen=True, slots=True)
class RequestLimits:
    """Operational limits (not legal figures); ``PARCOURS_MAX_BODY_BYTES``, ``PARCOURS_MAX_ATTACHMENT_BYTES``,
    ``PARCOURS_MAX_JSON_DEPTH``."""

    max_body_bytes: int = 1_048_576
    max_attachment_bytes: int = 10_485_760
    max_json_depth: int = 64

    @classmethod
    def of(cls, settings: Settings) -> RequestLimits:
        return cls(settings.max_body_bytes, settings.max_attachment_bytes, settings.max_json_depth)

    def body_limit(self, method: str, path: str) -> int:
        """The largest body for this request: attachments travel base64 (4/3 of their size) inside JSON."""
        if method in ("POST", "PUT") and ATTACHMENT_ROUTES.match(path):
            return self.max_attachment_bytes * 4 // 3 + 4 + self.max_body_bytes
        return self.max_body_bytes


class RefusedError(Exception):
    """A request the guard answers itself."""

    def __init__(self, status: int, errors: Sequence[FieldError], headers: Mapping[str, str] | None = None):
        super().__init__(status)
        self.status = status
        self.errors = list(errors)
        self.headers = headers


def _too_large(limit: int) -> RefusedError:
    return RefusedError(413, [FieldError("(corps)", f"requête trop volumineuse (au plus {limit} octets)")])


def _path_field(scope: Scope) -> str:
    """The name of the path parameter that holds the NUL, from the documented path template the path matches."""
    app = scope.get("app")
    openapi = getattr(app, "openapi", None)
    templates = openapi().get("paths", {}) if callable(openapi) else {}
    segments = scope.get("path", "").split("/")
    for template in templates:
        parts = template.split("/")
        if len(parts) != len(segments):
            continue
        names = [p[1:-1] if p.startswith("{") and p.endswith("}") else None for p in parts]
        if all(name is not None or part == segment for name, part, segment in zip(names, parts, segments, strict=True)):
            for name, segment in zip(names, segments, strict=True):
                if name is not None and NUL in segment:
                    return str(name)
    return "(chemin)"


def _printable(name: str) -> str:
    return name.replace(NUL, "\\0") or "(vide)"


def _pairs_with_nul(encoded: str) -> list[FieldError]:
    """The fields of a query string or urlencoded form whose name or value holds a NUL."""
    if "%00" not in encoded and NUL not in encoded:
        return []
    pairs = parse_qsl(encoded, keep_blank_values=True, errors="replace")
    return [FieldError(_printable(name), NUL_MESSAGE) for name, value in pairs if NUL in name or NUL in value]


def _walk_json(data: Any, max_depth: int) -> FieldError | None:
    """The first problem of a parsed JSON body: too deep, or a string (key or value) holding a NUL."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(data, ())]
    while stack:
        value, path = stack.pop()
        if len(path) > max_depth:
            return FieldError("(corps)", f"JSON trop imbriqué (au plus {max_depth} niveaux)")
        if isinstance(value, str):
            if NUL in value:
                return FieldError(".".join(path) or "(corps)", NUL_MESSAGE)
        elif isinstance(value, dict):
            for key, item in value.items():
                if NUL in key:
                    return FieldError(".".join((*path, _printable(key))), NUL_MESSAGE)
                stack.append((item, (*path, key)))
        elif isinstance(value, list):
            stack.extend((item, (*path, str(index))) for index, item in enumerate(value))
    return None


def check_json(body: bytes, max_depth: int) -> FieldError | None:
    """Cheap first: only a body that could be too deep or could hold ``\\u0000`` is parsed here (FastAPI parses it
    again for the route; an unparsable body is left to its French 422)."""
    if b"\\u0000" not in body and body.count(b"[") + body.count(b"{") <= max_depth:
        return None
    try:
        data = json.loads(body)
    except RecursionError:
        return FieldError("(corps)", f"JSON trop imbriqué (au plus {max_depth} niveaux)")
    except ValueError:
        return None
    return _walk_json(data, max_depth)


class RequestGuard:
    def __init__(self, app: ASGIApp, limits: RequestLimits | None = None) -> None:
        self.app = app
        self.limits = limits or RequestLimits()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            replay = await self._admit(scope, receive)
        except RefusedError as refused:
            await self._answer(scope, receive, send, refused.status, refused.errors, refused.headers)
            return
        except Exception:
            logger.exception("unexpected error admitting %s %s", scope.get("method"), scope.get("path"))
            await self._answer(scope, receive, send, 500, [SERVER_ERROR])
            return
        if replay is None:
            return
        try:
            await self.app(scope, replay, tracked_send)
        except Exception as error:
            logger.exception("unexpected error answering %s %s", scope.get("method"), scope.get("path"))
            if started:  # too late for an answer of our own: let the server close the connection
                raise
            if isinstance(error, DBAPIError) and error.connection_invalidated:
                # the database dropped the connection (restart, failover): SQLAlchemy has replaced the pool, nothing
                # was committed, a retry succeeds (with its idempotency key for a claim)
                await self._answer(scope, receive, send, 503, [DATABASE_LOST], {"Retry-After": "1"})
                return
            await self._answer(scope, receive, send, 500, [SERVER_ERROR])

    async def _answer(
        self, scope: Scope, receive: Receive, send: Send, status: int, errors: Sequence[FieldError],
        headers: Mapping[str, str] | None = None,
    ) -> None:  # fmt: skip
        response = render_error(scope.get("app"), scope.get("path", ""), status, errors, headers)
        await response(scope, receive, send)

    async def _admit(self, scope: Scope, receive: Receive) -> Receive | None:
        """Check the request line and headers, read the body (bounded), check it; a receive that replays it (None if
        the client left)."""
        if NUL in scope.get("path", ""):
            raise RefusedError(422, [FieldError(_path_field(scope), NUL_MESSAGE)])
        query = scope.get("query_string", b"").decode("latin-1")
        if problems := _pairs_with_nul(query):
            raise RefusedError(422, problems)
        content_type = ""
        declared: int | None = None
        for name, value in scope.get("headers", ()):
            if b"\x00" in value or b"\x00" in name:
                raise RefusedError(422, [FieldError(_printable(name.decode("latin-1")), NUL_MESSAGE)])
            if name == b"content-type":
                content_type = value.decode("latin-1").strip().lower()
            elif name == b"content-length" and value.strip().isdigit():
                declared = int(value)
        limit = self.limits.body_limit(scope.get("method", "GET"), scope.get("path", ""))
        if declared is not None and declared > limit:
            raise _too_large(limit)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left before sending its body: nothing to answer
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body and (not content_type or JSON_TYPES.match(content_type)):  # FastAPI reads untyped bodies as JSON
            if problem := check_json(body, self.limits.max_json_depth):
                raise RefusedError(422, [problem])
        elif body and content_type.startswith(FORM_TYPE) and (problems := _pairs_with_nul(body.decode("latin-1"))):
            raise RefusedError(422, problems)
        return _replay(body, receive)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
