"""``parcours db`` (schema migrations), ``parcours demo-data`` and ``parcours serve``."""

from __future__ import annotations

from typing import Annotated

import typer

from parcours.cli.common import console
from parcours.settings import get_settings

db_app = typer.Typer(help="Base de données : migrations du schéma.", no_args_is_help=True)

DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", help="URL SQLAlchemy (par défaut PARCOURS_DATABASE_URL, ou le fichier SQLite)"),
]


def _url(url: str | None) -> str:
    return url or get_settings().database_url


@db_app.command("upgrade")
def upgrade(revision: str = "head", database_url: DatabaseUrl = None) -> None:
    """Mettre le schéma à jour (jusqu'à la dernière révision par défaut)."""
    from parcours.store.migrate import upgrade as run_upgrade

    run_upgrade(_url(database_url), revision)
    console.print(f"Schéma à jour ({revision}).")


@db_app.command("downgrade")
def downgrade(revision: str, database_url: DatabaseUrl = None) -> None:
    """Revenir à une révision antérieure (« base » : schéma vide)."""
    from parcours.store.migrate import downgrade as run_downgrade

    run_downgrade(_url(database_url), revision)
    console.print(f"Schéma ramené à {revision}.")


@db_app.command("current")
def current(database_url: DatabaseUrl = None) -> None:
    """Afficher la révision du schéma."""
    from parcours.store.db import make_engine
    from parcours.store.migrate import current_revision, head_revision

    engine = make_engine(_url(database_url))
    try:
        console.print(f"Révision : {current_revision(engine) or 'aucune'} (dernière : {head_revision()})")
    finally:
        engine.dispose()


def demo_data(
    patients: Annotated[int, typer.Option(min=1, max=10_000, help="Nombre de patients")] = 40,
    seed: Annotated[int, typer.Option(help="Graine (mêmes données pour la même graine)")] = 2004,
    database_url: DatabaseUrl = None,
) -> None:
    """Charger le jeu de démonstration (personnes fictives, identifiants de démonstration)."""
    _load_demo(_url(database_url), patients, seed, only_if_empty=False)


def _load_demo(url: str, patients: int, seed: int, *, only_if_empty: bool) -> None:
    from parcours.care import demo
    from parcours.store.db import Database
    from parcours.store.migrate import upgrade as run_upgrade

    run_upgrade(url)
    database = Database(url)
    try:
        with database.unit_of_work() as session:
            if only_if_empty and demo.has_data(session):
                console.print("Données déjà présentes : jeu de démonstration non rechargé.")
                return
            summary = demo.load(session, patients=patients, seed=seed)
    finally:
        database.dispose()
    console.print(
        f"Démonstration chargée : {summary.professionals} professionnels, {summary.patients} patients, "
        f"{summary.declarations} déclarations de médecin traitant, {summary.referrals} adressages, "
        f"{summary.teleexpertises} téléexpertises, {summary.claims} feuilles de soins."
    )


def serve(
    host: Annotated[str, typer.Option(help="Adresse d'écoute")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port")] = 8000,
    demo: Annotated[
        bool, typer.Option("--demo", help="Migrer la base et charger la démonstration si elle est vide")
    ] = False,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Processus (PostgreSQL conseillé au-delà de 1)")] = 1,
    database_url: DatabaseUrl = None,
) -> None:
    """Démarrer l'application (API, vues FHIR, pages web)."""
    import os

    import uvicorn

    from parcours.store.migrate import upgrade as run_upgrade

    url = _url(database_url)
    os.environ["PARCOURS_DATABASE_URL"] = url  # the workers build the app from the environment
    if demo:
        _load_demo(url, 40, 2004, only_if_empty=True)
        os.environ.setdefault("PARCOURS_AUTH_LOCAL_ISSUER_ENABLED", "true")  # `parcours token issue` signs for it
        os.environ.setdefault("PARCOURS_WEB_DEMO", "true")  # the demo sign-in page (/connexion/demo)
        if host in ("127.0.0.1", "localhost", "::1"):  # plain http on this machine only
            os.environ.setdefault("PARCOURS_WEB_COOKIE_SECURE", "false")
    else:
        run_upgrade(url)
    _announce_authentication()
    console.print(f"parcours écoute sur http://{host}:{port}  (API : /docs, FHIR : /fhir/metadata)")
    if demo:
        console.print(f"Espaces patient, professionnel et agent : http://{host}:{port}/connexion/demo")
    uvicorn.run("parcours.api.app:create_app", factory=True, host=host, port=port, workers=workers, log_level="warning")


def _announce_authentication() -> None:
    """Say at startup which tokens the API will accept: the local issuer is for the demonstration only."""
    from parcours.api.security import AuthSettings

    auth = AuthSettings()
    if auth.local_issuer_enabled:
        console.print(
            "Jetons de l'émetteur local acceptés (démonstration : `parcours token issue`). "
            "À ne jamais activer en production (PARCOURS_AUTH_LOCAL_ISSUER_ENABLED)."
        )
    if auth.issuers:
        console.print(f"Fournisseurs d'identité reconnus : {', '.join(i.issuer for i in auth.issuers)}")
    elif not auth.local_issuer_enabled:
        console.print(
            "Aucun fournisseur d'identité configuré (PARCOURS_AUTH_ISSUERS) : toute requête authentifiée sera "
            "refusée (401). Pour la démonstration : parcours serve --demo"
        )


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
    app.command("demo-data")(demo_data)
    app.command("serve")(serve)
