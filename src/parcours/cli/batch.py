"""``parcours batch``: adjudicate a file of claims (all cores, or Spark), explain one claim, generate synthetic data."""

from __future__ import annotations

import datetime as dt
import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from parcours.cli.common import console, error_console, fail, print_json
from parcours.cli.simulate import OutputFormat, adjudicate_or_fail, render_text, with_contract
from parcours.errors import FieldError
from parcours.rules.catalogue import Category
from parcours.rules.engine import default_engine
from parcours.rules.money import format_eur
from parcours.rules.result import Adjudication

batch_app = typer.Typer(help="Traitement par lot : liquidation de fichiers de demandes de remboursement.")


class EngineChoice(StrEnum):
    LOCAL = "local"
    SPARK = "spark"


class Layout(StrEnum):
    FILE = "file"
    PARTS = "parts"


def _euros(cents: int) -> float:
    return round(cents / 100, 2)


def summary_json(summary: dict[str, Any], source: str, started: dt.datetime, finished: dt.datetime) -> dict[str, Any]:
    """The summary in the shape the agents' space reads (``web.spaces.agent.BatchSummary``, amounts in euros),
    with the batch's own counts beside it."""
    return {
        "run_id": f"lot-{started.strftime('%Y%m%dT%H%M%SZ')}",
        "started_at": started.isoformat().replace("+00:00", "Z"),
        "finished_at": finished.isoformat().replace("+00:00", "Z"),
        "source": source,
        "rows": summary.get("rows", 0),
        "lines": summary.get("lines", 0),
        "claims": summary.get("claims", 0),
        "patients": summary.get("patients", 0),
        "paid": summary.get("paid", 0),
        "rejected": summary.get("refused", 0),
        "errors": summary.get("errors", 0),
        "errors_by_column": summary.get("errors_by_column", {}),
        "billed": _euros(summary.get("billed", 0)),
        "amo": _euros(summary.get("amo", 0)),
        "amc": _euros(summary.get("amc", 0)),
        "patient": _euros(summary.get("patient", 0)),
        "out_of_pocket": _euros(summary.get("out_of_pocket", 0)),
        "participation": _euros(summary.get("participation", 0)),
        "franchise": _euros(summary.get("franchise", 0)),
        "deferred": _euros(summary.get("deferred", 0)),
        "recovered": _euros(summary.get("recovered", 0)),
        "engines": summary.get("engines", {}),
        "rejections": summary.get("rejections", {}),
        "pathways": summary.get("pathways", {}),
        "seconds": summary.get("seconds"),
        "workers": summary.get("workers"),
    }


def render_summary(summary: dict[str, Any], output: Path, rejects: Path) -> None:
    table = Table(title="Résumé du lot", show_header=False)
    table.add_column("", style="bold")
    table.add_column("", justify="right")
    seconds = summary.get("seconds") or 0
    rows = summary.get("rows", 0)
    for label, value in (
        ("Lignes lues", f"{rows:,}".replace(",", " ")),
        ("Lignes liquidées", f"{summary.get('lines', 0):,}".replace(",", " ")),
        ("Demandes", f"{summary.get('claims', 0):,}".replace(",", " ")),
        ("Patients", f"{summary.get('patients', 0):,}".replace(",", " ")),
        ("Lignes refusées par les règles", f"{summary.get('refused', 0):,}".replace(",", " ")),
        ("Lignes rejetées (saisie invalide)", f"{summary.get('errors', 0):,}".replace(",", " ")),
        ("Total facturé", format_eur(summary.get("billed", 0))),
        ("Assurance Maladie", format_eur(summary.get("amo", 0))),
        ("Complémentaire", format_eur(summary.get("amc", 0))),
        ("Part du patient (avant complémentaire)", format_eur(summary.get("patient", 0))),
        ("Participations forfaitaires", format_eur(summary.get("participation", 0))),
        ("Franchises médicales", format_eur(summary.get("franchise", 0))),
        # Tiers payant: not withheld, owed by the patient; recovered from a later reimbursement paid to them.
        ("Participations et franchises différées (tiers payant)", format_eur(summary.get("deferred", 0))),
        ("Participations et franchises récupérées", format_eur(summary.get("recovered", 0))),
        ("Durée", f"{seconds:.1f} s ({rows / seconds:,.0f} lignes/s)".replace(",", " ") if seconds else "—"),
    ):
        table.add_row(label, value)
    console.print(table)
    for column, count in sorted(summary.get("errors_by_column", {}).items()):
        console.print(f"  rejets sur la colonne {column} : {count}", highlight=False)
    console.print(f"Résultat : {output}", highlight=False)
    if summary.get("errors"):
        console.print(f"Rejets : {rejects}", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(batch_app, name="batch")


@batch_app.command("adjudicate")
def adjudicate_command(
    claims: Annotated[str, typer.Argument(metavar="CLAIMS", help="Fichier Parquet ou CSV, dossier ou motif de fichiers Parquet")],
    output: Annotated[Path, typer.Argument(metavar="OUT.parquet", help="Fichier Parquet de résultat (dossier avec --output-layout parts)")],
    workers: Annotated[int | None, typer.Option("--workers", "-w", min=1, help="Processus (par défaut : tous les cœurs)")] = None,
    contract: Annotated[str | None, typer.Option("--contract", "-c", help="Formule de complémentaire pour tous les patients")] = None,
    state_in: Annotated[Path | None, typer.Option("--state-in", help="État de l'année en cours (fichier Parquet ou dossier) d'un lot précédent")] = None,
    state_out: Annotated[Path | None, typer.Option("--state-out", help="Où écrire l'état de l'année après ce lot")] = None,
    summary_file: Annotated[Path | None, typer.Option("--summary-json", help="Écrire aussi le résumé en JSON")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Sans barre de progression")] = False,
    engine: Annotated[EngineChoice, typer.Option("--engine", help="local (tous les cœurs) ou spark (PySpark, extra spark)")] = EngineChoice.LOCAL,
    master: Annotated[str | None, typer.Option("--master", help="Spark : URL du maître (ex. local[2], yarn)")] = None,
    layout: Annotated[Layout, typer.Option("--output-layout", help="file : un fichier Parquet par sortie ; parts : un dossier de fichiers part-00000.parquet… par sortie (résultat, rejets, état), écrits en parallèle")] = Layout.FILE,
) -> None:  # fmt: skip
    """Liquide un lot de lignes d'actes (une ligne par acte, regroupées par claim_id) : parcours, base, taux,
    part de l'Assurance Maladie, participation, franchise, dépassement, part du patient ; avec --contract (ou une
    colonne contract), la complémentaire et le reste à charge."""
    from parcours.batch.runner import InputError, adjudicate
    from parcours.rules.contracts.loader import load_contract
    from parcours.rules.contracts.model import ContractError

    if contract is not None:
        try:
            load_contract(contract, dt.date.today())
        except ContractError as exc:
            fail(FieldError(f"--contract {exc.field}", exc.message))
    if state_in is not None and not state_in.exists():
        fail(FieldError("--state-in", f"fichier ou dossier introuvable : {state_in}"))
    started = dt.datetime.now(dt.UTC).replace(microsecond=0)
    try:
        if engine is EngineChoice.SPARK:
            run = _spark(claims, output, contract, state_in, state_out, master, workers)
        else:
            with _ProgressBar(quiet) as report:
                run = adjudicate(claims, output, workers=workers, contract=contract, state_in=state_in,
                                 state_out=state_out, progress=report, layout=layout.value)  # fmt: skip
    except InputError as exc:
        fail(FieldError(exc.field, exc.message))
    finished = dt.datetime.now(dt.UTC).replace(microsecond=0)
    for notice in run.notices:
        console.print(f"[yellow]Reprise :[/] {notice}", highlight=False)
    if summary_file is not None:
        summary_file.write_text(
            json.dumps(summary_json(run.summary, claims, started, finished), ensure_ascii=False, indent=2) + "\n",
            encoding="utf-8",
        )
    render_summary(run.summary, run.output, run.rejects)


def _count(text: str, option: str) -> int:
    """100000, 100k, 100M, 1.2G → an integer (French error naming the option)."""
    units = {"k": 10**3, "m": 10**6, "g": 10**9}
    raw = text.strip().lower().replace("_", "")
    factor = units.get(raw[-1:], 1)
    number = raw[:-1] if raw[-1:] in units else raw
    try:
        value = int(float(number) * factor)
    except ValueError:
        fail(FieldError(option, f"nombre attendu (ex. 100000, 100k, 100M) : {text}"))
    if value < 1:
        fail(FieldError(option, "doit être au moins 1"))
    return value


@batch_app.command("generate")
def generate_command(
    output: Annotated[Path, typer.Argument(metavar="OUT/", help="Dossier où écrire les fichiers Parquet")],
    claims: Annotated[str, typer.Option("--claims", help="Nombre de demandes (ex. 1M, 100M)")] = "100k",
    patients: Annotated[str | None, typer.Option("--patients", help="Nombre de patients (par défaut demandes / 8)")] = None,
    year: Annotated[int, typer.Option("--year", min=2024, max=2026, help="Année des soins")] = 2025,
    seed: Annotated[int, typer.Option("--seed", help="Graine (reproductible)")] = 0,
    other_share: Annotated[float, typer.Option("--other-share", min=0, max=1, help="Part optique, hôpital, téléexpertise")] = 0.02,
    chunk: Annotated[str, typer.Option("--chunk", help="Demandes par fichier")] = "1M",
) -> None:  # fmt: skip
    """Écrit une année synthétique de demandes multi-actes (une ligne par acte), de tous les types de soins, en
    fichiers Parquet de --chunk demandes ; les patients sont les mêmes d'un fichier à l'autre."""
    from parcours.batch.generate import generate_claims

    total = _count(claims, "--claims")
    per_file = _count(chunk, "--chunk")
    n_patients = _count(patients, "--patients") if patients is not None else max(1, total // 8)
    output.mkdir(parents=True, exist_ok=True)
    import pyarrow.parquet as pq

    lines = 0
    files = (total + per_file - 1) // per_file
    for i in range(files):
        size = min(per_file, total - i * per_file)
        table = generate_claims(size, seed=seed, patients=n_patients, other_share=other_share,
                                first_day=dt.date(year, 1, 1), last_day=dt.date(year, 12, 31), chunk=i,
                                first_claim_id=i * per_file)  # fmt: skip
        tmp = output / f".part-{i:05d}.parquet.tmp"
        pq.write_table(table, tmp)
        tmp.replace(output / f"part-{i:05d}.parquet")
        lines += table.num_rows
    console.print(
        f"{total:,} demandes, {lines:,} lignes, {n_patients:,} patients → {output} ({files} fichiers)".replace(
            ",", " "
        ),
        highlight=False,
    )


@batch_app.command("explain")
def explain_command(
    output: Annotated[
        Path,
        typer.Argument(
            metavar="OUT.parquet",
            help="Résultat de parcours batch adjudicate (fichier, ou dossier de fichiers part-*.parquet)",
        ),
    ],
    claim_id: Annotated[int, typer.Argument(metavar="CLAIM_ID", help="Identifiant de la demande (claim_id)")],
    output_format: Annotated[OutputFormat, typer.Option("--format", "-f", help="text ou json")] = OutputFormat.TEXT,
) -> None:
    """Explique une demande d'un lot liquidé : la même explication que parcours simulate, avec l'état de l'année
    du patient avant cette demande."""
    from parcours.batch.explain import claim_to_explain
    from parcours.batch.runner import InputError

    if not output.exists():
        fail(FieldError("OUT.parquet", f"fichier introuvable : {output}"))
    try:
        claim = claim_to_explain(output, claim_id)
    except InputError as exc:
        fail(FieldError(exc.field, exc.message))
    result = adjudicate_or_fail(claim.event, claim.state)
    if claim.contract:
        with_contract(result, claim.event, claim.contract, claim.contract_state, output_format)
    elif output_format is OutputFormat.JSON:
        print_json(result.to_dict(default_engine().parameters))
    else:
        render_text(result)
    stored = [(line["amo"], line["patient"]) for line in claim.lines]
    again = _per_input_line(result)
    if stored != again:
        error_console.print("[yellow]Attention :[/] le lot a donné d'autres montants pour cette demande "
                            "(paramètres ou fichier d'entrée modifiés depuis ?)")  # fmt: skip


def _per_input_line(result: Adjudication) -> list[tuple[int, int]]:
    """(AMO, patient) per input act, a hospital stay's daily charge line added to its stay, as the batch writes."""
    out = []
    lines = result.lines
    i = 0
    while i < len(lines):
        group = [lines[i]]
        if lines[i].category is Category.HOSPITAL_STAY and i + 1 < len(lines):
            group.append(lines[i + 1])
            i += 1
        i += 1
        out.append((sum(x.amo for x in group), sum(x.patient for x in group)))
    return out


def _spark(
    claims: str,
    output: Path,
    contract: str | None,
    state_in: Path | None,
    state_out: Path | None,
    master: str | None,
    workers: int | None,
) -> Any:
    try:
        from parcours.batch.spark import adjudicate_spark, session
    except ImportError:  # pragma: no cover - without the extra
        fail(FieldError("--engine", "PySpark n'est pas installé (pip install 'parcours[spark]')"))
    try:
        import pyspark  # noqa: F401
    except ImportError:
        fail(FieldError("--engine", "PySpark n'est pas installé (pip install 'parcours[spark]')"))
    spark = session(master, workers)
    return adjudicate_spark(claims, output, contract=contract, state_in=state_in, state_out=state_out, spark=spark)


class _ProgressBar:
    """A Rich progress bar (split, then adjudication) with rows per second; nothing when quiet."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:,.0f} lignes"),
            TextColumn("{task.fields[speed]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> Any:
        if self.quiet:
            return lambda phase, rows, total: None
        self.bar.start()
        return self.report

    def report(self, phase: str, rows: int, total: int | None) -> None:
        labels = {"split": "Répartition par patient", "adjudicate": "Liquidation"}
        if phase not in self.tasks:
            self.tasks[phase] = self.bar.add_task(labels.get(phase, phase), total=total, speed="")
        task = self.tasks[phase]
        self.bar.update(task, advance=rows, total=total)
        speed = self.bar.tasks[self.tasks[phase]].speed
        if speed:
            self.bar.update(task, speed=f"{speed:,.0f} lignes/s".replace(",", " "))

    def __exit__(self, *exc: object) -> None:
        if not self.quiet:
            self.bar.stop()
