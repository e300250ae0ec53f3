"""JSON errors of the API: 4xx naming the field, in French, as ``{"detail": [{"field", "message"}]}``.

Errors raised before or around the routes (the request guard's 413 and 422, the catch-all 500) are answered through
``render_error``, which hands paths under a registered prefix (``/fhir``: OperationOutcome) to their own renderer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from parcours.care.errors import CareError
from parcours.errors import FieldError, field_name, translate

STATUS = {"invalid": 422, "not_found": 404, "conflict": 409, "forbidden": 403}

# what Starlette and FastAPI raise themselves (unknown route, wrong method, unreadable body), said in French
HTTP_MESSAGES = {
    400: ("(corps)", "requête illisible"),
    404: ("(url)", "ressource introuvable"),
    405: ("(méthode)", "méthode non admise pour cette adresse"),
    413: ("(corps)", "requête trop volumineuse"),
    415: ("content-type", "type de contenu non admis"),
}

ErrorRenderer = Callable[[int, Sequence[FieldError], Mapping[str, str] | None], Response]


def error_body(field: str, message: str) -> dict[str, list[dict[str, str]]]:
    return {"detail": [{"field": field, "message": message}]}


def json_error(status: int, errors: Sequence[FieldError], headers: Mapping[str, str] | None = None) -> Response:
    """The project's error shape: ``{"detail": [{"field", "message"}]}``."""
    return JSONResponse({"detail": [e.to_dict() for e in errors]}, status_code=status, headers=dict(headers or {}))


def register_error_renderer(app: FastAPI, prefix: str, renderer: ErrorRenderer) -> None:
    """Errors of requests under ``prefix`` (``/fhir``) are answered by ``renderer`` rather than in the JSON shape."""
    renderers: dict[str, ErrorRenderer] = getattr(app.state, "error_renderers", {})
    renderers[prefix.rstrip("/")] = renderer
    app.state.error_renderers = renderers


def render_error(
    app: Any, path: str, status: int, errors: Sequence[FieldError], headers: Mapping[str, str] | None = None
) -> Response:
    """The error response for a request to ``path``: the renderer of its prefix, else the JSON shape."""
    state = getattr(app, "state", None)
    renderers: dict[str, ErrorRenderer] = getattr(state, "error_renderers", {}) if state is not None else {}
    for prefix, renderer in renderers.items():
        if path == prefix or path.startswith(prefix + "/"):
            return renderer(status, errors, headers)
    return json_error(status, errors, headers)


async def _care_error(request: Request, exc: Exception) -> Response:
    """A service's refusal, in the shape of the path (an OperationOutcome under ``/fhir``)."""
    assert isinstance(exc, CareError)
    return render_error(request.app, request.url.path, STATUS[exc.kind], [FieldError(exc.field, exc.message)])


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    detail = [{"field": field_name(tuple(e["loc"])), "message": translate(dict(e))} for e in exc.errors()]
    return JSONResponse({"detail": detail}, status_code=422)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (404 of an unknown route, 405, 400 of an unreadable body) in the project's shape."""
    assert isinstance(exc, StarletteHTTPException)
    field, message = HTTP_MESSAGES.get(exc.status_code, ("(requête)", "requête refusée"))
    if isinstance(exc.detail, list):  # already the project's shape
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
    return json_error(exc.status_code, [FieldError(field, message)], exc.headers)


def install_errors(app: FastAPI) -> None:
    app.add_exception_handler(CareError, _care_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
