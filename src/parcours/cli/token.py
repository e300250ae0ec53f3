"""``parcours token``: tokens of the local issuer for the demo and the tests, and their verification."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from pydantic import ValidationError

from parcours.api.security import AuthenticationError, AuthSettings, LocalSigningKey, TokenVerifier, issue_token
from parcours.cli.common import fail, print_json
from parcours.errors import FieldError, field_errors
from parcours.record.identity import IdentityError, Principal

token_app = typer.Typer(
    help="Jetons d'authentification (émetteur local de démonstration).",
    no_args_is_help=True,
)


def _settings() -> AuthSettings:
    """The configuration, with the local issuer on: these commands are about its tokens. A note says when the
    server, configured the same way, would not accept them."""
    try:
        settings = AuthSettings()
    except ValidationError as exc:
        fail(field_errors(exc, ("PARCOURS_AUTH",)))
    if not settings.local_issuer_enabled:
        typer.echo(
            "note : l'API n'accepte ces jetons que lancée avec --demo ou PARCOURS_AUTH_LOCAL_ISSUER_ENABLED=true",
            err=True,
        )
    return settings.model_copy(update={"local_issuer_enabled": True})


@token_app.command("issue")
def issue(
    patient: Annotated[str | None, typer.Option("--patient", help="NIR du patient (ou du parent d'un mineur)")] = None,
    professional: Annotated[str | None, typer.Option("--professional", help="RPPS du professionnel")] = None,
    agent: Annotated[str | None, typer.Option("--agent", help="identifiant de l'agent de l'assurance maladie")] = None,
    organisation: Annotated[
        str | None, typer.Option("--organisation", help="organisme de l'agent (ex. CPAM 75)")
    ] = None,
    admin: Annotated[str | None, typer.Option("--admin", help="identifiant de l'administrateur")] = None,
    name: Annotated[str | None, typer.Option("--name", help="nom affiché dans le journal d'accès")] = None,
    minutes: Annotated[int | None, typer.Option("--minutes", min=1, help="durée de validité en minutes")] = None,
) -> None:
    """Émettre un jeton signé par la clé locale (démonstration, tests). Il s'utilise en en-tête
    « Authorization: Bearer JETON »."""
    chosen = [
        flag
        for flag, value in (
            ("--patient", patient),
            ("--professional", professional),
            ("--agent", agent),
            ("--admin", admin),
        )
        if value is not None
    ]
    if len(chosen) != 1:
        fail(FieldError("rôle", "indiquer exactement une option parmi --patient, --professional, --agent, --admin"))
    settings = _settings()
    try:
        if patient is not None:
            principal = Principal.patient(patient, display_name=name)
        elif professional is not None:
            principal = Principal.professional(professional, display_name=name)
        elif agent is not None:
            if not organisation:
                fail(FieldError("--organisation", "un agent doit nommer son organisme"))
            principal = Principal.insurer_agent(agent, display_name=name, organisation=organisation)
        else:
            assert admin is not None
            principal = Principal.administrator(admin, display_name=name, organisation=organisation)
    except (ValueError, IdentityError) as exc:
        fail(FieldError(chosen[0], str(exc)))
    lifetime = dt.timedelta(minutes=minutes) if minutes else None
    typer.echo(issue_token(principal, settings, lifetime=lifetime))


@token_app.command("verify")
def verify(token: Annotated[str, typer.Argument(help="le jeton à vérifier")]) -> None:
    """Vérifier un jeton comme le fait l'API et afficher qui il désigne."""
    verifier = TokenVerifier(_settings())
    try:
        principal = verifier.verify(token.strip())
    except AuthenticationError as exc:
        fail(FieldError("jeton", exc.message))
    print_json(
        {
            "role": principal.role.value,
            "identifier": principal.identifier,
            "issuer": principal.issuer,
            "name": principal.display_name,
            "organisation": principal.organisation,
        }
    )


@token_app.command("jwks")
def jwks() -> None:
    """Afficher la clé publique de l'émetteur local (JWKS), pour qu'un autre service vérifie ses jetons."""
    settings = _settings()
    print_json({"keys": [LocalSigningKey.load_or_create(settings.local_key_file).public_jwk]})


def register(app: typer.Typer) -> None:
    app.add_typer(token_app, name="token")
