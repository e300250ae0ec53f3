"""The FHIR RESTful API at ``/fhir``: capability statement, read, search, errors.

Resource mappings (Patient, Practitioner, ServiceRequest, ExplanationOfBenefit, record resources…) register as
``ResourceProvider``s; this module owns what is common to all of them, so that an off-the-shelf FHIR client sees
one consistent server: ``application/fhir+json``, ``Bundle`` searchsets with paging links, ``OperationOutcome`` on
every error, and a ``CapabilityStatement`` generated from the providers (it cannot drift from what is served).
The models are HL7 FHIR R4B (``fhir.resources.R4B``), the R4 family.
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from email.utils import format_datetime
from typing import Any, Generic, Literal, Protocol, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.resource import Resource
from starlette.exceptions import HTTPException as StarletteHTTPException

from parcours import __version__

FHIR_JSON = "application/fhir+json"
FHIR_VERSION = "4.3.0"  # R4B, the R4 family served by fhir.resources.R4B
FHIR_PREFIX = "/fhir"
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 200
# Parameters every search accepts; they shape the result page rather than filter resources.
RESULT_PARAMETERS = frozenset({"_count", "_offset", "_format", "_pretty", "_summary", "_elements", "_sort"})
JSON_FORMATS = frozenset({"json", FHIR_JSON, "application/json", "application/json+fhir"})
SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}

IssueType = Literal[
    "invalid", "structure", "required", "value", "not-found", "not-supported", "forbidden", "security",
    "login", "processing", "exception", "conflict", "too-costly",
]  # fmt: skip

Ctx = TypeVar("Ctx")
Ctx_contra = TypeVar("Ctx_contra", contravariant=True)


class FhirResponse(JSONResponse):
    media_type = FHIR_JSON


class FhirError(Exception):
    """An error to answer as an ``OperationOutcome`` with this HTTP status."""

    def __init__(self, status: int, code: IssueType, diagnostics: str, *, expression: str | None = None) -> None:
        super().__init__(diagnostics)
        self.status = status
        self.code = code
        self.diagnostics = diagnostics
        self.expression = expression


def operation_outcome(issues: Sequence[tuple[IssueType, str, str | None]], severity: str = "error") -> dict[str, Any]:
    """(code, diagnostics, expression) triples as a validated OperationOutcome."""
    outcome = OperationOutcome.model_validate(
        {
            "resourceType": "OperationOutcome",
            "issue": [
                {"severity": severity, "code": code, "diagnostics": text, **({"expression": [expr]} if expr else {})}
                for code, text, expr in issues
            ],
        }
    )
    return to_json(outcome)


def to_json(resource: Resource) -> dict[str, Any]:
    """A fhir.resources model as the JSON a FHIR client expects (aliases, no nulls)."""
    data: dict[str, Any] = json.loads(resource.model_dump_json(exclude_none=True, by_alias=True))
    return data


@dataclass(frozen=True)
class SearchParameter:
    name: str
    type: Literal["token", "reference", "string", "date", "number", "uri"]
    documentation: str


@dataclass(frozen=True)
class Token:
    system: str | None
    code: str


@dataclass(frozen=True)
class SortKey:
    name: str
    descending: bool = False


@dataclass(frozen=True)
class SearchQuery:
    """The filtering parameters of one search, each possibly repeated, plus the page asked for, its order
    (``_sort``, keys the provider declared) and the result parameters the server did not use (lenient handling)."""

    resource_type: str
    params: Mapping[str, tuple[str, ...]]
    count: int
    offset: int
    sort: tuple[SortKey, ...] = ()
    elements: tuple[str, ...] = ()
    summary_count: bool = False
    ignored: tuple[str, ...] = ()

    def ids(self) -> frozenset[str] | None:
        """``_id``: comma-separated ids, repeated parameters all apply (None when absent)."""
        values = self.params.get("_id")
        if not values:
            return None
        sets = [frozenset(v.strip() for v in value.split(",") if v.strip()) for value in values]
        return frozenset.intersection(*sets)

    def first(self, name: str) -> str | None:
        values = self.params.get(name)
        return values[0] if values else None

    def token(self, name: str) -> Token | None:
        """``system|code``, ``|code`` (no system) or ``code`` (any system)."""
        raw = self.first(name)
        if raw is None:
            return None
        if "|" in raw:
            system, _, code = raw.partition("|")
            if not code:
                raise FhirError(400, "invalid", f"Paramètre {name} : valeur manquante après « | »", expression=name)
            return Token(system or None, code)
        return Token(None, raw)

    def reference(self, name: str, resource_type: str) -> str | None:
        """The id of a reference parameter given as ``Type/id``, an absolute URL ending in it, or a bare id."""
        raw = self.first(name)
        if raw is None:
            return None
        parts = raw.rstrip("/").split("/")
        if len(parts) >= 2:
            if parts[-2] != resource_type:
                raise FhirError(
                    400, "invalid", f"Paramètre {name} : référence attendue vers {resource_type}", expression=name
                )
            return parts[-1]
        return raw


@dataclass(frozen=True)
class Page:
    resources: Sequence[Resource]
    total: int


class ResourceProvider(Protocol[Ctx_contra]):
    """One FHIR resource type served read-only. ``ctx`` carries the session and the caller.

    A provider may also declare ``sort_parameters`` (the ``_sort`` keys it orders by, applied from
    ``SearchQuery.sort``) and ``versioned = True`` when its resources carry ``meta.versionId`` (vread, ETag)."""

    resource_type: str
    profile: str | None
    search_parameters: Sequence[SearchParameter]

    def read(self, ctx: Ctx_contra, resource_id: str) -> Resource | None: ...

    def search(self, ctx: Ctx_contra, query: SearchQuery) -> Page: ...


@dataclass
class FhirServer(Generic[Ctx]):
    """The set of providers served under ``/fhir``, and the dependency giving each request its context."""

    context: Callable[..., Any]
    providers: dict[str, ResourceProvider[Ctx]] = field(default_factory=dict)
    security_description: str = (
        "Jeton porteur (OAuth 2 / OpenID Connect, Pro Santé Connect ou FranceConnect) dans l'en-tête Authorization."
    )

    def register(self, provider: ResourceProvider[Ctx]) -> None:
        if provider.resource_type in self.providers:
            raise ValueError(f"FHIR resource type {provider.resource_type} registered twice")
        self.providers[provider.resource_type] = provider

    def capability_statement(self, base_url: str) -> dict[str, Any]:
        resources = []
        for type_name in sorted(self.providers):
            provider = self.providers[type_name]
            versioned = bool(getattr(provider, "versioned", False))
            interactions = ["read", *(["vread"] if versioned else []), "search-type"]
            entry: dict[str, Any] = {
                "type": type_name,
                "interaction": [{"code": code} for code in interactions],
                "versioning": "versioned" if versioned else "no-version",
                "readHistory": False,
                "searchParam": [
                    {"name": p.name, "type": p.type, "documentation": p.documentation}
                    for p in provider.search_parameters
                ],
            }
            if provider.profile:
                entry["supportedProfile"] = [provider.profile]
            resources.append(entry)
        statement = CapabilityStatement.model_validate(
            {
                "resourceType": "CapabilityStatement",
                "status": "active",
                "date": dt.date.today().isoformat(),
                "kind": "instance",
                "software": {"name": "parcours", "version": __version__},
                "implementation": {"description": "parcours — parcours de soins coordonnés", "url": base_url},
                "fhirVersion": FHIR_VERSION,
                "format": ["json", FHIR_JSON],
                "rest": [
                    {
                        "mode": "server",
                        "security": {
                            "service": [
                                {
                                    "coding": [
                                        {
                                            "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                            "code": "OAuth",
                                        }
                                    ]
                                }
                            ],
                            "description": self.security_description,
                        },
                        "resource": resources,
                    }
                ],
            }
        )
        return to_json(statement)

    def router(self) -> APIRouter:
        router = APIRouter(prefix=FHIR_PREFIX, tags=["FHIR R4"], default_response_class=FhirResponse)
        context = self.context

        @router.get("/metadata", summary="CapabilityStatement du serveur FHIR")
        def metadata(request: Request) -> FhirResponse:
            return FhirResponse(self.capability_statement(_base_url(request)))

        @router.get("/{resource_type}/{resource_id}", summary="Lecture d'une ressource (read)")
        def read(resource_type: str, resource_id: str, ctx: Any = Depends(context)) -> FhirResponse:  # noqa: B008 - context chosen at run time
            provider = self._provider(resource_type)
            resource = provider.read(ctx, resource_id)
            if resource is None:
                raise FhirError(404, "not-found", f"{resource_type}/{resource_id} introuvable")
            return _resource_response(to_json(resource))

        @router.get("/{resource_type}/{resource_id}/_history/{version_id}", summary="Lecture d'une version (vread)")
        def vread(resource_type: str, resource_id: str, version_id: str, ctx: Any = Depends(context)) -> FhirResponse:  # noqa: B008 - context chosen at run time
            provider = self._provider(resource_type)
            if not getattr(provider, "versioned", False):
                raise FhirError(404, "not-supported", f"{resource_type} : pas de versions (vread non servi)")
            resource = provider.read(ctx, resource_id)
            if resource is None:
                raise FhirError(404, "not-found", f"{resource_type}/{resource_id} introuvable")
            served = to_json(resource)
            if str(served.get("meta", {}).get("versionId")) != version_id:
                raise FhirError(404, "not-found", f"{resource_type}/{resource_id} : version {version_id} introuvable")
            return _resource_response(served)

        @router.get("/{resource_type}", summary="Recherche (search-type), résultat en Bundle")
        def search(resource_type: str, request: Request, ctx: Any = Depends(context)) -> FhirResponse:  # noqa: B008 - context chosen at run time
            provider = self._provider(resource_type)
            query = _search_query(request, provider)
            page = provider.search(ctx, replace(query, count=0) if query.summary_count else query)
            return FhirResponse(_searchset(request, query, page))

        return router

    def _provider(self, resource_type: str) -> ResourceProvider[Ctx]:
        provider = self.providers.get(resource_type)
        if provider is None:
            raise FhirError(404, "not-supported", f"Type de ressource non servi : {resource_type}")
        return provider

    def install(self, app: FastAPI) -> None:
        app.include_router(self.router())
        install_fhir_errors(app)


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/") + FHIR_PREFIX


def _resource_response(served: dict[str, Any]) -> FhirResponse:
    """A read's answer, with ``ETag`` (weak, the version id) and ``Last-Modified`` when the resource has them."""
    response = FhirResponse(served)
    meta = served.get("meta") or {}
    if meta.get("versionId"):
        response.headers["ETag"] = f'W/"{meta["versionId"]}"'
    if meta.get("lastUpdated"):
        moment = dt.datetime.fromisoformat(str(meta["lastUpdated"]).replace("Z", "+00:00"))
        response.headers["Last-Modified"] = format_datetime(moment.astimezone(dt.UTC), usegmt=True)
    return response


def _search_query(request: Request, provider: ResourceProvider[Any]) -> SearchQuery:
    """The search asked for. Unsupported parameters (and values of the result parameters) are refused with
    ``Prefer: handling=strict``; otherwise they are ignored, and listed in the Bundle (FHIR search, 3.1.1.4)."""
    known = {p.name for p in provider.search_parameters}
    strict = "handling=strict" in request.headers.get("prefer", "").replace(" ", "")
    ignored: list[str] = []

    def unsupported(name: str, message: str) -> None:
        if strict:
            raise FhirError(400, "not-supported", message, expression=name)
        ignored.append(message)

    params: dict[str, tuple[str, ...]] = {}
    for name in request.query_params:
        if name in RESULT_PARAMETERS:
            continue
        if name not in known:
            unsupported(name, f"Paramètre de recherche non pris en charge : {name}")
            continue
        params[name] = tuple(request.query_params.getlist(name))
    for value in request.query_params.getlist("_format"):
        if value not in JSON_FORMATS:
            raise FhirError(406, "not-supported", f"Format non servi : {value} (JSON seulement)", expression="_format")
    summary_count = False
    for value in request.query_params.getlist("_summary"):
        if value == "count":
            summary_count = True
        elif value != "false":
            unsupported("_summary", f"Valeur de _summary non prise en charge : {value} (count ou false)")
    sortable = frozenset(getattr(provider, "sort_parameters", ()))
    sort: list[SortKey] = []
    for value in request.query_params.getlist("_sort"):
        for raw in (v.strip() for v in value.split(",")):
            key = SortKey(raw.removeprefix("-"), raw.startswith("-"))
            if key.name in sortable:
                sort.append(key)
            elif raw:
                unsupported("_sort", f"Tri non pris en charge : {key.name}")
    elements = _elements(request, provider.resource_type, unsupported)
    count = _int_parameter(request, "_count", DEFAULT_PAGE_SIZE, 0, MAX_PAGE_SIZE)
    offset = _int_parameter(request, "_offset", 0, 0, None)
    return SearchQuery(provider.resource_type, params, count, offset, tuple(sort), elements, summary_count,
                       tuple(ignored))  # fmt: skip


def _elements(request: Request, resource_type: str, unsupported: Callable[[str, str], None]) -> tuple[str, ...]:
    model = get_fhir_model_class(resource_type)
    names = {field.alias or name for name, field in model.model_fields.items()}
    elements: list[str] = []
    for value in request.query_params.getlist("_elements"):
        for name in (v.strip() for v in value.split(",")):
            if name in names or any(n.startswith(name) and n[len(name) : len(name) + 1].isupper() for n in names):
                elements.append(name)
            elif name:
                unsupported("_elements", f"Élément inconnu de {resource_type} : {name}")
    return tuple(elements)


def _subset(served: dict[str, Any], elements: tuple[str, ...]) -> dict[str, Any]:
    """``_elements``: the elements asked for, plus what R4 makes mandatory, tagged ``SUBSETTED``."""
    model = get_fhir_model_class(str(served["resourceType"]))
    mandatory = {
        field.alias or name
        for name, field in model.model_fields.items()
        if field.is_required() or (isinstance(field.json_schema_extra, dict)
                                   and field.json_schema_extra.get("element_required"))
    }  # fmt: skip
    kept = {"resourceType", "id", "meta", *mandatory}

    def wanted(key: str) -> bool:
        base = key.removeprefix("_")
        return base in kept or any(
            base == name or (base.startswith(name) and base[len(name) : len(name) + 1].isupper()) for name in elements
        )

    subset = {key: value for key, value in served.items() if wanted(key)}
    meta = dict(subset.get("meta") or {})
    meta["tag"] = [*meta.get("tag", ()), SUBSETTED]
    subset["meta"] = meta
    return subset


def _int_parameter(request: Request, name: str, default: int, low: int, high: int | None) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise FhirError(400, "invalid", f"Paramètre {name} : nombre entier attendu", expression=name) from None
    if value < low:
        raise FhirError(400, "invalid", f"Paramètre {name} : au moins {low}", expression=name)
    return min(value, high) if high is not None else value


def _searchset(request: Request, query: SearchQuery, page: Page) -> dict[str, Any]:
    base = _base_url(request)
    url = f"{base}/{query.resource_type}"

    def link(offset: int) -> str:
        pairs = [(name, value) for name, values in query.params.items() for value in values]
        if query.sort:
            pairs.append(("_sort", ",".join(f"{'-' if k.descending else ''}{k.name}" for k in query.sort)))
        if query.elements:
            pairs.append(("_elements", ",".join(query.elements)))
        if query.summary_count:
            pairs.append(("_summary", "count"))
        pairs += [("_count", str(query.count)), ("_offset", str(offset))]
        return f"{url}?{urlencode(pairs)}"

    links = [{"relation": "self", "url": link(query.offset)}]
    paged = query.count > 0 and not query.summary_count  # a page of nothing has no next page (_count=0: the total)
    if paged and query.offset + query.count < page.total:
        links.append({"relation": "next", "url": link(query.offset + query.count)})
    if paged and query.offset > 0:
        links.append({"relation": "previous", "url": link(max(0, query.offset - query.count))})
    entries: list[dict[str, Any]] = []
    for resource in [] if query.summary_count else page.resources:
        served = to_json(resource)
        if query.elements:
            served = _subset(served, query.elements)
        entries.append({"fullUrl": f"{url}/{resource.id}", "resource": served, "search": {"mode": "match"}})
    if query.ignored:
        outcome = operation_outcome([("not-supported", text, None) for text in query.ignored], severity="warning")
        entries.append({"resource": outcome, "search": {"mode": "outcome"}})
    bundle = {"resourceType": "Bundle", "type": "searchset", "total": page.total, "link": links}
    if entries:
        bundle["entry"] = entries
    if query.elements:  # a subset is put back in the model's order of elements by the Bundle model
        return to_json(Bundle.model_validate(bundle))
    # the Bundle as fhir.resources would write it (its elements in the model's order, no nulls), without validating
    # and serialising every resource a second time: each entry is already a validated resource's JSON
    return bundle


def _is_fhir(request: Request) -> bool:
    return request.url.path == FHIR_PREFIX or request.url.path.startswith(FHIR_PREFIX + "/")


async def _call(handler: Callable[[Request, Exception], Any], request: Request, exc: Exception) -> Response:
    result = handler(request, exc)
    if inspect.isawaitable(result):
        result = await result
    assert isinstance(result, Response)
    return result


def install_fhir_errors(app: FastAPI) -> None:
    """Errors under ``/fhir`` become OperationOutcomes; elsewhere FastAPI's JSON errors stay as they are."""
    previous_http = app.exception_handlers.get(StarletteHTTPException)
    previous_validation = app.exception_handlers.get(RequestValidationError)

    async def fhir_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, FhirError)
        return FhirResponse(operation_outcome([(exc.code, exc.diagnostics, exc.expression)]), status_code=exc.status)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if _is_fhir(request):
            code: IssueType = {401: "login", 403: "forbidden", 404: "not-found", 409: "conflict"}.get(
                exc.status_code, "processing"
            )  # type: ignore[assignment]
            response = FhirResponse(operation_outcome([(code, str(exc.detail), None)]), status_code=exc.status_code)
            if exc.headers:
                response.headers.update(exc.headers)
            return response
        if previous_http is not None:
            return await _call(previous_http, request, exc)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        if _is_fhir(request):
            issues: list[tuple[IssueType, str, str | None]] = [
                ("invalid", str(error.get("msg", "valeur invalide")), ".".join(str(p) for p in error.get("loc", ())))
                for error in exc.errors()
            ]
            return FhirResponse(operation_outcome(issues), status_code=400)
        if previous_validation is not None:
            return await _call(previous_validation, request, exc)
        return JSONResponse({"detail": exc.errors()}, status_code=422)

    app.add_exception_handler(FhirError, fhir_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
