"""JSON errors of the API: 4xx naming the field, in French, as ``{"detail": [{"field", "message"}]}``."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from parcours.care.errors import CareError
from parcours.errors import field_name, translate

STATUS = {"invalid": 422, "not_found": 404, "conflict": 409, "forbidden": 403}


def error_body(field: str, message: str) -> dict[str, list[dict[str, str]]]:
    return {"detail": [{"field": field, "message": message}]}


async def _care_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CareError)
    return JSONResponse(error_body(exc.field, exc.message), status_code=STATUS[exc.kind])


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    detail = [{"field": field_name(tuple(e["loc"])), "message": translate(dict(e))} for e in exc.errors()]
    return JSONResponse({"detail": detail}, status_code=422)


def install_errors(app: FastAPI) -> None:
    app.add_exception_handler(CareError, _care_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
