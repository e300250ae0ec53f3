"""``parcours simulate``: the pathway status and the Assurance Maladie reimbursement of one care event."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.table import Table

from parcours.cli.common import console, fail, print_json, read_json
from parcours.errors import FieldError, field_errors
from parcours.rules.contracts.amc import ContractYear, apply_contract
from parcours.rules.contracts.loader import load_contract
from parcours.rules.contracts.model import ContractError
from parcours.rules.contracts.simulation import to_dict as contract_dict
from parcours.rules.engine import RuleInputError, default_engine
from parcours.rules.event import CareEvent, YearToDate
from parcours.rules.money import format_eur, format_rate
from parcours.rules.result import Adjudication

STATE_KEY = "year_to_date"
CONTRACT_STATE_KEY = "contract_year_to_date"


class OutputFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


def parse_request(raw: Any) -> tuple[CareEvent, YearToDate | None]:
    """An event JSON object, optionally with the patient's ``year_to_date`` state beside the facts."""
    if not isinstance(raw, dict):
        fail(FieldError("(racine)", "un objet JSON décrivant l'événement de soins est attendu"))
    body = dict(raw)
    body.pop(CONTRACT_STATE_KEY, None)
    state_raw = body.pop(STATE_KEY, None)
    errors: list[FieldError] = []
    event = state = None
    try:
        event = CareEvent.model_validate(body)
    except ValidationError as exc:
        errors.extend(field_errors(exc))
    if state_raw is not None:
        try:
            state = YearToDate.model_validate(state_raw)
        except ValidationError as exc:
            errors.extend(field_errors(exc, (STATE_KEY,)))
    if errors or event is None:
        fail(errors)
    return event, state


def adjudicate_or_fail(event: CareEvent, state: YearToDate | None) -> Adjudication:
    try:
        return default_engine().adjudicate(event, state)
    except RuleInputError as exc:
        fail(FieldError(exc.field, exc.message))


def render_text(result: Adjudication) -> None:
    if result.pathway is None:
        verdict = "non concerné par le parcours"
    else:
        status = {True: "dans le parcours", False: "hors parcours", None: "non concerné"}[result.in_pathway]
        verdict = f"indicateur {result.pathway} — {status}"
    console.print(f"[bold]Parcours de soins :[/] {verdict}")
    table = Table(title=f"Soins du {result.date.strftime('%d/%m/%Y')}", show_lines=False)
    for header in (
        "Acte",
        "Facturé",
        "Base",
        "Taux",
        "Majoration",
        "Participation",
        "Franchise",
        "Sécurité sociale",
        "Reste",
    ):
        table.add_column(header, justify="right" if header != "Acte" else "left")
    for line in result.lines:
        table.add_row(
            line.code + (" (refusé)" if line.status == "rejected" else ""),
            format_eur(line.fee),
            format_eur(line.base),
            format_rate(line.rate),
            format_eur(line.majoration),
            format_eur(line.participation),
            format_eur(line.franchise),
            format_eur(line.amo),
            format_eur(line.patient),
        )
    console.print(table)
    console.print(
        f"[bold]Remboursement Sécurité sociale : {format_eur(result.amo)}[/] — "
        f"reste avant complémentaire : {format_eur(result.patient)}"
    )
    console.print("\n[bold]Explication[/]")
    for step in result.explanation:
        console.print(f"  • {step.text}", highlight=False, markup=False)
    for warning in result.warnings:
        console.print(f"[yellow]Attention :[/] {warning}", highlight=False)


def with_contract(
    result: Adjudication, event: CareEvent, name_or_file: str, contract_state: Any, output: OutputFormat
) -> None:
    try:
        contract = load_contract(name_or_file, event.date)
    except ContractError as exc:
        fail(FieldError(f"--contract {exc.field}", exc.message))
    shares = apply_contract(contract, event, result, ContractYear.from_dict(contract_state, event.date))
    if output is OutputFormat.JSON:
        print_json(contract_dict(result, shares))
        return
    render_text(result)
    console.print(f"\n[bold]{contract.label}[/]")
    table = Table(show_lines=False)
    for header in ("Acte", "Facturé", "Sécurité sociale", "Complémentaire", "Reste à charge"):
        table.add_column(header, justify="right" if header != "Acte" else "left")
    for share in shares.shares:
        table.add_row(share.line.code, format_eur(share.line.fee), format_eur(share.line.amo), format_eur(share.amc),
                      format_eur(share.out_of_pocket))  # fmt: skip
    console.print(table)
    console.print(
        f"[bold]Remboursement Sécurité sociale : {format_eur(result.amo)} — Remboursement mutuelle : "
        f"{format_eur(shares.amc)} — Reste à charge : {format_eur(shares.out_of_pocket)}[/]"
    )
    for step in shares.explanation:
        console.print(f"  • {step.text}", highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    @app.command()
    def simulate(
        event_file: Annotated[
            str,
            typer.Argument(metavar="EVENT.json", help="Fichier JSON de l'événement, ou - pour l'entrée standard"),
        ],
        output: Annotated[OutputFormat, typer.Option("--format", "-f", help="text ou json")] = OutputFormat.TEXT,
        contract: Annotated[
            str | None,
            typer.Option("--contract", "-c", help="Formule du catalogue (ex. confort) ou fichier YAML de garanties"),
        ] = None,
    ) -> None:
        """Parcours de soins et remboursement de l'Assurance Maladie pour un événement de soins ; avec --contract,
        la part de la complémentaire et le reste à charge."""
        raw = read_json(event_file)
        event, state = parse_request(raw)
        result = adjudicate_or_fail(event, state)
        if contract is not None:
            with_contract(result, event, contract, raw.get(CONTRACT_STATE_KEY), output)
            return
        if output is OutputFormat.JSON:
            print_json(result.to_dict(default_engine().parameters))
        else:
            render_text(result)
