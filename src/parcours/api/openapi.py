"""The OpenAPI document says what the server really answers when it refuses.

FastAPI documents its own 422 (``loc``/``msg``/``type``); parcours answers ``{"detail": [{"field", "message"}]}``
(French, naming the field), 401/503 as ``{"detail": "…"}`` with ``WWW-Authenticate``, and OperationOutcomes under
``/fhir``. Every operation gets the error responses it can give: 422, 500 and 503 always (the request guard refuses
NUL characters anywhere, the catch-all answers 500, or 503 when the database dropped the connection), 400/413 with a
body, 401/403 behind a token (and 503 of the identity provider), 404 with a path parameter or a body naming records,
409 on writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI

FIELD_ERRORS = "ErreursChamps"
AUTH_ERROR = "ErreurAuthentification"
OUTCOME = "OperationOutcome"
FHIR_JSON = "application/fhir+json"

SCHEMAS: dict[str, dict[str, Any]] = {
    FIELD_ERRORS: {
        "title": FIELD_ERRORS,
        "description": "Erreurs nommant chacune le champ en cause, message en français",
        "type": "object",
        "required": ["detail"],
        "properties": {
            "detail": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["field", "message"],
                    "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                },
            }
        },
    },
    AUTH_ERROR: {
        "title": AUTH_ERROR,
        "description": "Jeton absent ou refusé (en-tête WWW-Authenticate, RFC 6750), ou fournisseur d'identité "
        "injoignable (503, Retry-After)",
        "type": "object",
        "required": ["detail"],
        "properties": {"detail": {"type": "string"}},
    },
    OUTCOME: {
        "title": OUTCOME,
        "description": "OperationOutcome FHIR R4 (application/fhir+json)",
        "type": "object",
        "required": ["resourceType", "issue"],
        "properties": {
            "resourceType": {"type": "string", "enum": ["OperationOutcome"]},
            "issue": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["severity", "code"],
                    "properties": {
                        "severity": {"type": "string", "enum": ["fatal", "error", "warning", "information"]},
                        "code": {"type": "string"},
                        "diagnostics": {"type": "string"},
                        "expression": {"type": "array", "items": {"type": "string"}},
                    },
                },
            },
        },
    },
}

DESCRIPTIONS = {
    "400": "Requête illisible",
    "401": "Authentification requise ou jeton refusé",
    "403": "Accès refusé (tracé)",
    "404": "Introuvable",
    "409": "Conflit avec l'état enregistré",
    "413": "Requête trop volumineuse",
    "422": "Champ invalide (nommé)",
    "500": "Erreur interne (journalisée)",
    "503": "Service momentanément indisponible (base de données ou fournisseur d'identité) : réessayer après "
    "Retry-After",
}
WRITES = {"post", "put", "patch", "delete"}


def _response(status: str, schema: str, media_type: str = "application/json") -> dict[str, Any]:
    content = {media_type: {"schema": {"$ref": f"#/components/schemas/{schema}"}}}
    if schema == OUTCOME:  # a FHIR client may also have asked for plain JSON
        content["application/json"] = content[media_type]
    return {"description": DESCRIPTIONS[status], "content": content}


def error_statuses(path: str, method: str, operation: dict[str, Any]) -> list[str]:
    """The error statuses one operation can answer."""
    secured = bool(operation.get("security"))
    has_body = "requestBody" in operation
    has_path_params = any(p.get("in") == "path" for p in operation.get("parameters", ()))
    statuses = ["422", "500", "503"]
    if has_body:
        statuses += ["400", "413"]
    if secured:
        statuses += ["401", "403"]
    if secured and (has_path_params or has_body):
        statuses.append("404")
    if secured and method in WRITES:
        statuses.append("409")
    if path.startswith("/fhir"):
        statuses = [s for s in statuses if s != "422"] + ["400", "404"]  # FHIR answers bad searches with 400
    return sorted(set(statuses))


def document_errors(schema: dict[str, Any]) -> None:
    """Replace FastAPI's 422 by the real error responses, on every operation."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    components.update(SCHEMAS)
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in {"get", "put", "post", "delete", "patch", "head", "options"}:
                continue
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            for status in error_statuses(path, method, operation):
                if path.startswith("/fhir"):
                    responses[status] = _response(status, OUTCOME, FHIR_JSON)
                elif status == "401":
                    responses[status] = _response(status, AUTH_ERROR)
                elif status == "503":  # the identity provider's (a text) or the database's (field errors)
                    responses[status] = {
                        "description": DESCRIPTIONS[status],
                        "content": {"application/json": {"schema": {"oneOf": [
                            {"$ref": f"#/components/schemas/{AUTH_ERROR}"},
                            {"$ref": f"#/components/schemas/{FIELD_ERRORS}"},
                        ]}}},
                    }  # fmt: skip
                else:
                    responses[status] = _response(status, FIELD_ERRORS)


def install_openapi(app: FastAPI, *, documented_first: Sequence[str] = ()) -> None:
    """``documented_first``: paths the document lists first, in this order (the routes' order is the matching
    order, chosen for speed; the document keeps its reading order)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            paths = schema.get("paths", {})
            first = {path: paths[path] for path in dict.fromkeys(documented_first) if path in paths}
            schema["paths"] = {**first, **{path: item for path, item in paths.items() if path not in first}}
            document_errors(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
