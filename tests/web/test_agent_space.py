"""The agents' space over HTTP: the claims worklist and its filters, one claim with its explanation, the batch
summary from its JSON file; other roles are refused."""

from __future__ import annotations

import json
import re
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from parcours.care.demo import DemoPerson
from parcours.cli import app
from parcours.rules.money import format_eur, to_cents
from parcours.store.db import Database
from parcours.store.models import Claim, Professional
from parcours.web.spaces.agent import reasons_of

from .conftest import DemoTown, sign_in


def _agent(demo_town: DemoTown) -> DemoPerson:
    return demo_town.people["agents"][0]


def _listed(html: str) -> list[str]:
    return re.findall(r'data-testid="feuille-([0-9a-f-]+)"', html)


def test_the_worklist_filters_rejected_claims_by_reason_and_professional(
    web_client: TestClient, demo_town: DemoTown
) -> None:
    database = Database(demo_town.url)
    with database.unit_of_work() as session:
        refused = list(session.scalars(select(Claim).where(Claim.status == "rejected")))
        rejected = {c.id for c in refused}
        not_oriented = {c.id for c in refused if "teleconsultation_not_oriented" in reasons_of(c)}
        cardiologist = session.scalars(select(Professional).where(Professional.specialty == "cardiology")).first()
        assert cardiologist is not None
        cardiologist_id = cardiologist.id
        by_cardiologist = {c.id for c in refused if c.professional_id == cardiologist_id}
        all_claims = session.scalar(select(func.count()).select_from(Claim))
    database.dispose()
    assert not_oriented  # the demo town's refused teleconsultations
    sign_in(web_client, _agent(demo_town))
    every = web_client.get("/espace/agent")
    assert every.status_code == 200
    assert f"{all_claims} feuille(s)" in every.text
    only_rejected = web_client.get("/espace/agent?etat=rejected").text
    assert set(_listed(only_rejected)) == rejected
    by_reason = web_client.get("/espace/agent?motif=teleconsultation_not_oriented").text
    assert set(_listed(by_reason)) == not_oriented
    assert "Téléconsultation sans orientation" in by_reason
    early = {c for c in rejected if c not in not_oriented}
    assert set(_listed(web_client.get("/espace/agent?motif=early_renewal").text)) <= early
    by_doctor = web_client.get(f"/espace/agent?etat=rejected&professionnel={cardiologist_id}").text
    assert set(_listed(by_doctor)) == by_cardiologist


def test_one_claim_with_its_explanation(web_client: TestClient, demo_town: DemoTown) -> None:
    database = Database(demo_town.url)
    with database.unit_of_work() as session:
        claim = next(c for c in session.scalars(select(Claim).where(Claim.status == "rejected").order_by(Claim.id))
                     if "teleconsultation_not_oriented" in reasons_of(c))  # fmt: skip
        claim_id, patient_nir = claim.id, claim.patient.nir
    database.dispose()
    sign_in(web_client, _agent(demo_town))
    page = web_client.get(f"/espace/agent/feuilles/{claim_id}")
    assert page.status_code == 200
    assert patient_nir in page.text
    assert "Téléconsultation non remboursable" in page.text  # the refusal's step of the explanation
    assert re.search(r'data-testid="amo">0,00 €<', page.text)


def test_the_batch_summary_page_reads_the_json_file(web_client: TestClient, demo_town: DemoTown) -> None:
    sign_in(web_client, _agent(demo_town))
    demo_town.batch_summary.unlink(missing_ok=True)
    assert "Aucun traitement par lot" in web_client.get("/espace/agent/lot").text
    demo_town.batch_summary.write_text(json.dumps({"run_id": "lot-1", "started_at": "2026-12-06T12:00:00Z"}))
    assert "Résumé de traitement invalide : claims" in web_client.get("/espace/agent/lot").text
    summary = {
        "run_id": "lot-2026-12-06", "started_at": "2026-12-06T02:00:00Z", "finished_at": "2026-12-06T02:00:41Z",
        "source": "claims-2026-11.parquet", "claims": 1000000, "paid": 990500, "rejected": 9000, "errors": 500,
        "billed": 31250000.5, "amo": 21000000.25, "patient": 10250000.25,
        "engines": {"columnar": 998000, "scalar": 2000}, "rejections": {"teleconsultation_not_oriented": 9000},
        "pathways": {"T": 800000, "S": 200000}, "seconds": 41.2, "something_else": True,
    }  # fmt: skip
    demo_town.batch_summary.write_text(json.dumps(summary))
    page = web_client.get("/espace/agent/lot").text
    assert 'data-testid="lot-id">lot-2026-12-06<' in page
    assert 'data-testid="lot-claims">1\u202f000\u202f000<' in page
    assert re.search(r'data-testid="lot-amo">21\s000\s000,25 €<', page)
    assert "/espace/agent?motif=teleconsultation_not_oriented" in page
    demo_town.batch_summary.unlink()


def test_patients_and_professionals_are_refused_the_agents_space(web_client: TestClient, demo_town: DemoTown) -> None:
    for someone in (demo_town.people["patients"][0], demo_town.people["professionals"][0]):
        sign_in(web_client, someone)
        for path in ("/espace/agent", "/espace/agent/lot"):
            assert web_client.get(path).status_code == 403


def test_an_agent_is_refused_the_patients_space(web_client: TestClient, demo_town: DemoTown) -> None:
    sign_in(web_client, _agent(demo_town))
    assert web_client.get("/espace/patient").status_code == 403


def test_the_batch_summary_page_shows_what_a_real_batch_run_wrote(
    web_client: TestClient, demo_town: DemoTown, tmp_path: Path
) -> None:
    """`parcours batch generate` then `parcours batch adjudicate --summary-json` (the CLI, one process): the page shows
    the run's own totals, amounts included."""
    cli = CliRunner()
    generated = cli.invoke(app, ["batch", "generate", str(tmp_path / "in"), "--claims", "400", "--patients", "60",
                                 "--year", "2026", "--seed", "7"])  # fmt: skip
    assert generated.exit_code == 0, generated.output
    ran = cli.invoke(app, ["batch", "adjudicate", str(tmp_path / "in"), str(tmp_path / "out.parquet"), "--workers", "1",
                           "--contract", "confort", "--summary-json", str(demo_town.batch_summary), "--quiet"])  # fmt: skip
    assert ran.exit_code == 0, ran.output
    written = json.loads(demo_town.batch_summary.read_text(encoding="utf-8"))
    assert written["claims"] == 400
    sign_in(web_client, _agent(demo_town))
    page = web_client.get("/espace/agent/lot").text
    demo_town.batch_summary.unlink()
    assert f'data-testid="lot-id">{written["run_id"]}<' in page
    assert 'data-testid="lot-claims">400<' in page
    assert f'data-testid="lot-lines">{written["lines"]:,}<'.replace(",", "\u202f") in page
    assert written["amo"] > 0
    assert written["amc"] > 0
    assert f'data-testid="lot-amo">{format_eur(to_cents(written["amo"]))}<' in page
    assert f'data-testid="lot-amc">{format_eur(to_cents(written["amc"]))}<' in page
