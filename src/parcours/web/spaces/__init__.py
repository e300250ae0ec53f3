"""The signed-in spaces (patient, professional, agent): one module each, on the shared ``base``.

``install(app)`` adds the sessions, the sign-in pages, every space's router and the HTML answers of the spaces to
refusals (the API keeps its JSON ones: the handlers below hand non-web paths back to them).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from parcours.api.errors import STATUS
from parcours.care.errors import CareError
from parcours.record.access import Basis
from parcours.record.guard import AccessDeniedError, record_refusal
from parcours.settings import WebSettings, get_web_settings
from parcours.web import oidc, session, signin
from parcours.web.spaces import agent, patient, pro
from parcours.web.spaces.base import is_web_path, problem, redirect

ROUTERS = [patient.router, pro.router, agent.router]


async def _sign_in_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, session.SignInRequiredError)
    return redirect("/connexion", suite=exc.next_url)


async def _wrong_space(request: Request, exc: Exception) -> Response:
    return problem(request, 403, "Accès refusé", "Cet espace n'est pas destiné à votre profil.")


async def _csrf(request: Request, exc: Exception) -> Response:
    return problem(request, 403, "Formulaire refusé",
                   "Ce formulaire a expiré ou ne vient pas de cette page : rechargez la page et recommencez.")  # fmt: skip


def _chain(app: FastAPI, kind: type[Exception], web: Any) -> None:
    """Answer ``kind`` with ``web`` on the spaces' paths and with the handler already installed elsewhere."""
    previous = app.exception_handlers.get(kind)

    async def handler(request: Request, exc: Exception) -> Response:
        if is_web_path(request) or previous is None:
            result: Response = await web(request, exc)
            return result
        answer = previous(request, exc)
        if hasattr(answer, "__await__"):
            answer = await answer
        assert isinstance(answer, Response)
        return answer

    app.add_exception_handler(kind, handler)


async def _access_denied(request: Request, exc: Exception) -> Response:
    """403 (traced in a transaction of its own, as the API does); what a minor keeps from their parents: 404."""
    assert isinstance(exc, AccessDeniedError)
    with request.app.state.database.unit_of_work() as db:
        record_refusal(db, exc)
    if exc.decision.basis is Basis.HIDDEN_FROM_REPRESENTATIVES:
        return problem(request, 404, "Page introuvable", "Cette page n'existe pas.")
    return problem(request, 403, "Accès refusé", exc.message)


async def _care_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CareError)
    status = STATUS[exc.kind]
    title = {404: "Page introuvable", 403: "Accès refusé", 409: "Action impossible"}.get(status, "Saisie invalide")
    return problem(request, status, title, exc.message)


def install(app: FastAPI, settings: WebSettings | None = None) -> None:
    """Mount the spaces on ``app`` (after the API's error handlers, which they extend)."""
    settings = settings or get_web_settings()
    session.install(app, settings)
    app.state.oidc_client = oidc.OidcClient(settings)
    app.add_exception_handler(session.SignInRequiredError, _sign_in_required)
    app.add_exception_handler(session.WrongSpaceError, _wrong_space)
    app.add_exception_handler(session.CsrfError, _csrf)
    _chain(app, AccessDeniedError, _access_denied)
    _chain(app, CareError, _care_error)
    app.include_router(signin.router)
    for router in ROUTERS:
        app.include_router(router)
