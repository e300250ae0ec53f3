"""Sign-in and sign-out pages: the identity providers configured (FranceConnect, Pro Santé Connect) and, with
``serve --demo``, a page to sign in as a person of the demo town."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from parcours.api.deps import SessionDep
from parcours.care import demo
from parcours.record.identity import Principal, Role
from parcours.web import oidc, session
from parcours.web.spaces.base import NOTICES, home_of, problem, redirect, render

router = APIRouter(include_in_schema=False)
NOTICES.update({"deconnecte": "Vous êtes déconnecté(e).", "expire": "Votre session a expiré : reconnectez-vous."})
Form = Annotated[FormData, Depends(session.checked_form)]


def safe_next(target: str | None) -> str | None:
    """Only a path of this site (never ``//host`` nor a scheme): no open redirect after sign-in."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


def _signed_in(request: Request, principal: Principal, next_url: str | None) -> Response:
    settings = session.settings_of(request)
    session.remember(request, session.WebSession.signed_in(principal, settings))
    return session.save(request, redirect(safe_next(next_url) or home_of(principal)))


def _client(request: Request) -> oidc.OidcClient:
    client: oidc.OidcClient = request.app.state.oidc_client
    return client


@router.get("/connexion")
def sign_in_page(request: Request, suite: str | None = None) -> Response:
    settings = session.settings_of(request)
    return render(request, "connexion.html", {"providers": oidc.configured(settings), "demo": settings.demo,
                                              "suite": safe_next(suite)})  # fmt: skip


@router.get("/connexion/demo")
def demo_page(request: Request, db: SessionDep, suite: str | None = None, tous: bool = False) -> Response:
    if not session.settings_of(request).demo:
        return problem(request, 404, "Page introuvable", "La connexion de démonstration n'est pas activée ici.")
    people = demo.people_to_sign_in_as(db, limit=500 if tous else 12)
    return render(request, "connexion_demo.html", {"people": people, "suite": safe_next(suite), "everyone": tous})


@router.post("/connexion/demo")
def demo_sign_in(request: Request, form: Form, db: SessionDep) -> Response:
    if not session.settings_of(request).demo:
        return problem(request, 404, "Page introuvable", "La connexion de démonstration n'est pas activée ici.")
    chosen = str(form.get("person", ""))
    people = [p for group in demo.people_to_sign_in_as(db, limit=500).values() for p in group]
    person = next((p for p in people if f"{p.role}:{p.identifier}" == chosen), None)
    if person is None:
        return problem(request, 422, "Personne inconnue", "Choisissez une personne de la démonstration dans la liste.")
    role = Role(person.role)
    extra = {"issuer": "urn:parcours:demo", "display_name": person.name}
    if role is Role.PATIENT:
        principal = Principal.patient(person.identifier, **extra)
    elif role is Role.PROFESSIONAL:
        principal = Principal.professional(person.identifier, **extra)
    else:
        principal = Principal.insurer_agent(person.identifier, organisation=person.organisation, **extra)
    return _signed_in(request, principal, str(form.get("suite") or "") or None)


@router.get("/connexion/{key}")
def provider_sign_in(request: Request, key: str, suite: str | None = None) -> Response:
    settings = session.settings_of(request)
    config = oidc.provider(settings, key)
    if config is None:
        return problem(request, 404, "Page introuvable", "Ce fournisseur d'identité n'est pas configuré.")
    base = (settings.public_url or str(request.base_url)).rstrip("/")
    try:
        url, pending = _client(request).start(config, f"{base}/connexion/{key}/retour")
    except oidc.SignInError as exc:
        return problem(request, 503, "Connexion impossible", str(exc))
    if safe_next(suite):
        pending["next"] = str(safe_next(suite))
    session.remember(request, session.current(request).with_pending(pending))
    return session.save(request, RedirectResponse(url, status_code=303))


@router.get("/connexion/{key}/retour")
def provider_return(request: Request, key: str) -> Response:
    settings = session.settings_of(request)
    config = oidc.provider(settings, key)
    if config is None:
        return problem(request, 404, "Page introuvable", "Ce fournisseur d'identité n'est pas configuré.")
    pending = session.current(request).pending
    try:
        principal = _client(request).finish(config, pending, dict(request.query_params))
    except oidc.SignInError as exc:
        session.remember(request, session.current(request).with_pending(None))
        return problem(request, 401, "Connexion impossible", str(exc))
    return _signed_in(request, principal, (pending or {}).get("next"))


@router.post("/deconnexion")
def sign_out(request: Request, form: Form) -> Response:
    return session.forget(redirect("/connexion", notice="deconnecte"), request)
