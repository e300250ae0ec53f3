"""``parcours compare``: rank the complementary contracts by what a year of care leaves to pay."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.table import Table

from parcours.cli.common import console, fail, print_json, read_json
from parcours.cli.simulate import OutputFormat
from parcours.errors import FieldError, field_errors
from parcours.rules.contracts.compare import NEEDS, Level, rank, typical_year
from parcours.rules.contracts.loader import load_contract
from parcours.rules.contracts.model import Contract, ContractError, catalogue_names
from parcours.rules.engine import RuleInputError
from parcours.rules.event import CareEvent
from parcours.rules.money import format_eur

PUBLIC_ONLY = "c2s"  # not an offer one buys: compared only for people entitled to it


def _events(raw: Any) -> list[CareEvent]:
    items = raw.get("events") if isinstance(raw, dict) else raw
    if not isinstance(items, list) or not items:
        fail(FieldError("events", "une liste d'événements de soins est attendue"))
    events: list[CareEvent] = []
    errors: list[FieldError] = []
    for index, item in enumerate(items):
        try:
            events.append(CareEvent.model_validate(item))
        except ValidationError as exc:
            errors.extend(field_errors(exc, ("events", index)))
    if errors:
        fail(errors)
    return events


def register(app: typer.Typer) -> None:
    @app.command()
    def compare(
        year_file: Annotated[
            str | None, typer.Argument(metavar="[YEAR.json]", help="Une année de soins (liste d'événements)")
        ] = None,
        optique: Annotated[Level, typer.Option(help="Besoins en optique : low, medium, high")] = "low",
        dentaire: Annotated[Level, typer.Option(help="Besoins en dentaire")] = "low",
        hospitalisation: Annotated[Level, typer.Option(help="Besoins en hospitalisation")] = "low",
        soins_courants: Annotated[Level, typer.Option("--soins-courants", help="Besoins en soins courants")] = "low",
        contract: Annotated[
            list[str] | None,
            typer.Option("--contract", "-c", help="Formule ou fichier (répétable) ; défaut : le catalogue"),
        ] = None,
        c2s: Annotated[
            bool,
            typer.Option(
                "--c2s",
                help="La personne a droit à la Complémentaire santé solidaire : la C2S est ajoutée au classement, "
                "chiffrée pour un bénéficiaire (sans participation forfaitaire, franchise ni dépassement)",
            ),
        ] = False,
        year: Annotated[int, typer.Option(help="Année des soins types")] = dt.date.today().year,
        output: Annotated[OutputFormat, typer.Option("--format", "-f", help="text ou json")] = OutputFormat.TEXT,
    ) -> None:
        """Classer les contrats par reste à charge annuel (cotisations comprises) pour une année de soins."""
        if year_file is not None:
            events = _events(read_json(year_file))
            needs = None
        else:
            needs = {"optique": optique, "dentaire": dentaire, "hospitalisation": hospitalisation,
                     "soins_courants": soins_courants}  # fmt: skip
            events = typical_year(needs, year)
        names = contract or [n for n in catalogue_names() if c2s or n != PUBLIC_ONLY]
        contracts: list[Contract] = []
        for name in names:
            try:
                contracts.append(load_contract(name, events[0].date))
            except ContractError as exc:
                fail(FieldError(f"--contract {exc.field}", exc.message))
        try:
            ranking = rank(contracts, events)
        except RuleInputError as exc:
            fail(FieldError(exc.field, exc.message))
        if output is OutputFormat.JSON:
            print_json({"needs": needs, "events": len(events), "ranking": [cost.to_dict() for cost in ranking]})
            return
        title = (
            "Année de soins" if needs is None else ", ".join(f"{k.replace('_', ' ')} : {v}" for k, v in needs.items())
        )
        table = Table(title=f"{title} — {len(events)} soins")
        for header in (
            "Rang",
            "Formule",
            "Sécurité sociale",
            "Mutuelle",
            "Reste à charge",
            "Cotisations",
            "Coût total",
        ):
            table.add_column(header, justify="left" if header == "Formule" else "right")
        for position, cost in enumerate(ranking, 1):
            premiums = "—" if cost.premiums is None else format_eur(cost.premiums)
            table.add_row(str(position), cost.contract.label, format_eur(cost.amo), format_eur(cost.amc),
                          format_eur(cost.out_of_pocket), premiums, format_eur(cost.total))  # fmt: skip
        console.print(table)
        console.print(f"Besoins : {', '.join(NEEDS)} — voir docs/contracts.md pour l'année type de chaque niveau.")
