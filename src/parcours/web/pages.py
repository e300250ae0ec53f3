"""The French pages of the simulator and the comparator (server-rendered, usable without JavaScript), and their
JSON twins under /api. No personal data is stored: these routes are public."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from parcours.errors import FieldError
from parcours.rules.contracts.compare import NEEDS
from parcours.rules.money import format_eur, to_cents
from parcours.web.presets import BY_KEY, CARE_TYPES, PRESETS
from parcours.web.service import (
    FIELD_LABELS,
    PUBLIC_ONLY,
    ComparisonIn,
    InputError,
    SimulationIn,
    contracts_listing,
    parse,
    run_comparison,
    run_simulation,
)

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters["eur"] = lambda value: format_eur(to_cents(value))

router = APIRouter()
LEVELS = {"low": "faibles", "medium": "moyens", "high": "importants"}
NEED_LABELS = {"optique": "Optique", "dentaire": "Dentaire", "hospitalisation": "Hospitalisation",
               "soins_courants": "Soins courants"}  # fmt: skip
CHECKBOXES = ("gp_declared", "referred", "c2s", "costly_act", "ald")


def _form_data(form: Any, checkboxes: tuple[str, ...]) -> dict[str, Any]:
    data = {key: value for key, value in form.items() if value != ""}
    for name in checkboxes:
        data[name] = name in form
    return data


def _context(errors: list[FieldError] | None = None, **extra: Any) -> dict[str, Any]:
    contracts = [c for c in contracts_listing() if c["name"] != PUBLIC_ONLY]
    return {"care_types": CARE_TYPES, "presets": PRESETS, "contracts": contracts, "levels": LEVELS,
            "needs": NEEDS, "need_labels": NEED_LABELS, **_errors(errors or []), **extra}  # fmt: skip


def _errors(errors: list[FieldError]) -> dict[str, Any]:
    """The messages under their French labels, each linked to its field; ``error_fields`` marks the inputs."""
    shown = []
    by_field: dict[str, str] = {}
    for error in errors:
        name = error.field.split(".")[0]
        known = name in FIELD_LABELS
        shown.append({"label": FIELD_LABELS[name] if known else "Formulaire", "message": error.message,
                      "anchor": name if known else None})  # fmt: skip
        if known:
            by_field.setdefault(name, error.message)
    return {"errors": shown, "error_fields": by_field}


def _coherent(values: dict[str, Any]) -> dict[str, Any]:
    """Show the type of care of the act chosen (the form may be sent without its script)."""
    preset = BY_KEY.get(str(values.get("act")))
    return values if preset is None else {**values, "care_type": preset.care_type}


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def home(request: Request) -> Response:
    return templates.TemplateResponse(request, "accueil.html", _context())


@router.get("/simulateur", response_class=HTMLResponse, tags=["simulateur"], summary="Page du simulateur")
def simulator_page(request: Request) -> Response:
    return templates.TemplateResponse(request, "simulateur.html", _context(values={"gp_declared": True}))


@router.post("/simulateur", response_class=HTMLResponse, include_in_schema=False)
async def simulator_submit(request: Request) -> Response:
    async with request.form() as form:
        values = _coherent(_form_data(form, CHECKBOXES))
    try:
        result = run_simulation(parse(SimulationIn, values))
    except InputError as exc:
        return templates.TemplateResponse(request, "simulateur.html", _context(values=values, errors=exc.errors),
                                          status_code=422)  # fmt: skip
    return templates.TemplateResponse(request, "simulateur.html", _context(values=values, result=result))


@router.get("/comparateur", response_class=HTMLResponse, tags=["simulateur"], summary="Page du comparateur")
def comparator_page(request: Request) -> Response:
    return templates.TemplateResponse(request, "comparateur.html", _context(values={}))


@router.post("/comparateur", response_class=HTMLResponse, include_in_schema=False)
async def comparator_submit(request: Request) -> Response:
    async with request.form() as form:
        values = _form_data(form, ("c2s",))
    try:
        result = run_comparison(parse(ComparisonIn, values))
    except InputError as exc:
        return templates.TemplateResponse(request, "comparateur.html", _context(values=values, errors=exc.errors),
                                          status_code=422)  # fmt: skip
    return templates.TemplateResponse(request, "comparateur.html", _context(values=values, result=result))


def _json_errors(exc: InputError) -> JSONResponse:
    return JSONResponse({"detail": [e.to_dict() for e in exc.errors]}, status_code=422)


@router.post("/api/simulations", tags=["simulateur"], summary="Simuler Sécurité sociale, mutuelle et reste à charge")
def simulation_api(data: dict[str, Any]) -> Any:
    try:
        return run_simulation(parse(SimulationIn, data))
    except InputError as exc:
        return _json_errors(exc)


@router.post("/api/comparisons", tags=["simulateur"], summary="Classer les formules pour des besoins donnés")
def comparison_api(data: dict[str, Any]) -> Any:
    try:
        return run_comparison(parse(ComparisonIn, data))
    except InputError as exc:
        return _json_errors(exc)


@router.get("/api/contracts", tags=["simulateur"], summary="Formules du catalogue et soins proposés")
def contracts_api() -> dict[str, Any]:
    return {
        "contracts": contracts_listing(),
        "presets": [{"key": p.key, "care_type": p.care_type, "label": p.label} for p in PRESETS],
    }


def install(app: Any) -> None:
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
