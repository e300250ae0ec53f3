"""``parcours audit``: verify the hash chain of the audit trail, print its head (to copy elsewhere as an anchor),
chain the traces still pending (``sequence``, at a fixed interval with ``--every``: the bound on how long a trace
stays unchained when the service is idle)."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from parcours.cli.common import console, error_console, fail
from parcours.errors import FieldError
from parcours.record import audit_log
from parcours.record.audit import Anchor
from parcours.settings import get_settings
from parcours.store.db import Database

CHAIN_BROKEN = 1

audit_app = typer.Typer(help="Journal d'audit du dossier partagé (chaîné par SHA-256).", no_args_is_help=True)

DatabaseOption = Annotated[
    str | None, typer.Option("--database-url", help="URL SQLAlchemy de la base (par défaut PARCOURS_DATABASE_URL)")
]


def _database(url: str | None) -> Database:
    return Database(url or get_settings().database_url)


@audit_app.command("verify")
def verify(
    anchor: Annotated[
        str | None,
        typer.Option("--anchor", help="ancre NUMÉRO:EMPREINTE relevée auparavant par « parcours audit head »"),
    ] = None,
    database_url: DatabaseOption = None,
) -> None:
    """Vérifier le chaînage du journal : toute entrée modifiée, supprimée ou déplacée est signalée."""
    expected: Anchor | None = None
    if anchor is not None:
        try:
            expected = Anchor.parse(anchor)
        except ValueError as exc:
            fail(FieldError("--anchor", str(exc)))
    database = _database(database_url)
    try:
        with database.unit_of_work() as session:
            result = audit_log.verify_store(session, anchor=expected)
    finally:
        database.dispose()
    if result.broken is not None:
        error_console.print(f"[bold red]Journal d'audit altéré[/] : {result.broken.message}", highlight=False)
        error_console.print(f"  {result.checked} entrée(s) intègre(s) avant l'entrée n° {result.broken.sequence}.")
        raise typer.Exit(CHAIN_BROKEN)
    head = f" ; tête {result.head}" if result.head else ""
    console.print(f"Journal d'audit intègre : {result.checked} entrée(s) vérifiée(s){head}.", highlight=False)


@audit_app.command("head")
def head(database_url: DatabaseOption = None) -> None:
    """Afficher la dernière entrée (NUMÉRO:EMPREINTE), à conserver hors de la base comme ancre."""
    database = _database(database_url)
    try:
        with database.unit_of_work() as session:
            found = audit_log.head(session)
    finally:
        database.dispose()
    typer.echo(str(found) if found else "0:" + "0" * 64)


@audit_app.command("sequence")
def sequence(
    every: Annotated[
        float | None,
        typer.Option("--every", min=0.1, help="recommencer toutes les N secondes (jusqu'à interruption)"),
    ] = None,
    database_url: DatabaseOption = None,
) -> None:
    """Chaîner dans le journal les traces enregistrées et pas encore chaînées."""
    database = _database(database_url)
    try:
        while True:
            with database.unit_of_work() as session:
                chained = audit_log.sequence(session)
                found = audit_log.head(session) if chained else None
            if chained:
                typer.echo(f"{chained} trace(s) chaînée(s) ; tête {found}")
            elif every is None:
                typer.echo("aucune trace en attente")
            if every is None:
                return
            time.sleep(every)
    finally:
        database.dispose()


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
