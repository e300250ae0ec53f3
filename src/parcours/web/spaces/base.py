"""What every signed-in space shares: the templates and their filters, ``render`` with the layout's context
(who is signed in, the CSRF token, the space's navigation), redirects after a POST with a notice, errors tied to
their fields, and the HTML answers to refusals (403/404, traced as the API's are).

A space is a module of this package with an ``APIRouter`` and a ``Space`` registered here: its title, its home and
its navigation, shown by ``espace.html``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from parcours.care.errors import CareError
from parcours.errors import FieldError
from parcours.record.identity import Principal, Role
from parcours.rules.money import format_eur, to_cents
from parcours.web import session
from parcours.web.spaces.labels import FILTERS

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
templates = Jinja2Templates(directory=TEMPLATES)


def _date(value: dt.date | dt.datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return f"{value:%d/%m/%Y à %H:%M}"
    return f"{value:%d/%m/%Y}"


def _day(value: dt.date | dt.datetime | None) -> str:
    if value is None:
        return ""
    return f"{value:%d/%m/%Y}"


def _eur(cents: int | None) -> str:
    return "" if cents is None else format_eur(int(cents))


templates.env.filters["eur_cents"] = _eur
templates.env.filters["date_fr"] = _date
templates.env.filters["day_fr"] = _day
templates.env.filters["eur"] = lambda value: format_eur(to_cents(value))  # euros (the stored JSON's amounts)
templates.env.filters.update(FILTERS)


@dataclass(frozen=True)
class Space:
    """A signed-in space: who it is for, its home page and its navigation (href, label)."""

    key: str  # "patient", "pro", "agent"
    title: str
    home: str
    roles: tuple[Role, ...]
    nav: tuple[tuple[str, str], ...]


SPACES: dict[str, Space] = {}
# the messages shown after a POST, by key (``redirect(url, notice=key)``); each space adds its own
NOTICES: dict[str, str] = {}


def register(space: Space, notices: Mapping[str, str] | None = None) -> Space:
    SPACES[space.key] = space
    NOTICES.update(notices or {})
    return space


def home_of(principal: Principal) -> str:
    """Where a person lands after sign-in: the first space made for their role."""
    for space in SPACES.values():
        if principal.role in space.roles:
            return space.home
    return "/"


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    space: Space | None = None,
    status_code: int = 200,
    nav_args: Mapping[str, str] | None = None,
) -> Response:
    """A page of a space in ``espace.html``: the context gets ``me``, ``csrf_token``, ``space``, ``notice`` and
    empty ``errors``/``error_fields`` unless given, and ``nav``: the space's links, their ``{placeholders}`` filled
    from ``nav_args`` (a link whose placeholder is not given is left out). Saves the session cookie if new."""
    web = session.current(request)
    nav: list[tuple[str, str]] = []
    for href, label in space.nav if space else ():
        try:
            nav.append((href.format(**(nav_args or {})), label))
        except KeyError:
            continue
    notice_key = request.query_params.get("message")
    full: dict[str, Any] = {
        "me": web.principal,
        "csrf_token": web.csrf,
        "csrf_field": session.CSRF_FIELD,
        "space": space,
        "spaces": SPACES,
        "notice": NOTICES.get(notice_key) if notice_key else None,
        "errors": [],
        "error_fields": {},
        "current_path": request.url.path,
        "nav": nav,
    }
    full.update(context or {})
    response = templates.TemplateResponse(request, template, full, status_code=status_code)
    response.headers.setdefault("Cache-Control", "no-store")  # health data: never kept by a shared cache
    return session.save(request, response)


def redirect(url: str, notice: str | None = None, **query: str) -> RedirectResponse:
    """After a POST: 303 to the page to show (Post/Redirect/Get), with a notice key if any."""
    params = {**query, **({"message": notice} if notice else {})}
    return RedirectResponse(f"{url}?{urlencode(params)}" if params else url, status_code=303)


def form_errors(errors: Iterable[FieldError | CareError], labels: Mapping[str, str]) -> dict[str, Any]:
    """The errors of a form, each tied to its field (``_fields.html``: ``described`` and ``field_error``):
    ``errors`` for the summary (label, message, anchor) and ``error_fields`` {field: message}. A field not in
    ``labels`` is shown in the summary as the form's."""
    shown = []
    by_field: dict[str, str] = {}
    for error in errors:
        name = error.field.split(".")[0]
        known = name in labels
        shown.append({"label": labels[name] if known else "Formulaire", "message": error.message,
                      "anchor": name if known else None})  # fmt: skip
        if known:
            by_field.setdefault(name, error.message)
    return {"errors": shown, "error_fields": by_field}


def text_field(form: Any, name: str) -> str | None:
    """A text input of a form, stripped; None when empty."""
    value = form.get(name)
    if not isinstance(value, str):
        return None
    return value.strip() or None


def problem(request: Request, status_code: int, title: str, message: str) -> Response:
    """An error page in the layout (403, 404, 422…), saying what happened in French and nothing more."""
    return render(request, "espace_erreur.html", {"title": title, "message": message}, status_code=status_code)


def is_web_path(request: Request) -> bool:
    path = request.url.path
    return path.startswith("/espace") or path.startswith("/connexion") or path.startswith("/deconnexion")


__all__ = ["HTMLResponse", "Space", "form_errors", "redirect", "register", "render", "templates"]


def person(*roles: Role) -> Any:
    """A dependency: the signed-in principal, if their role is one of ``roles`` (sign-in page otherwise, 403 for
    another role). ``Me = Annotated[Principal, person(Role.PATIENT)]``."""
    from fastapi import Depends

    def dependency(request: Request) -> Principal:
        return session.require(request, *roles)

    return Depends(dependency)
