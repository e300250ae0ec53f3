"""Screenshots of the signed-in spaces for docs/screenshots/, desktop (1280 px) and phone (390 px).

Builds the demo town in a temporary SQLite file, serves the application on a free port, signs in through the demo
sign-in page as the people below and saves one full-page PNG per page and width:

    PYTHONPATH=src python scripts/screenshots.py            # Chromium at /usr/bin/chromium
    PYTHONPATH=src python scripts/screenshots.py --only patient

A space adds its pages to ``SHOTS`` (space, who, path, name). Not a test: it asserts nothing, it shows.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx2
import uvicorn
from sqlalchemy import func, select

from parcours.api.app import create_app
from parcours.api.security import AuthSettings, issue_token
from parcours.care import demo
from parcours.care.demo import DemoPerson
from parcours.record.identity import Principal
from parcours.settings import WebSettings
from parcours.store.db import Database
from parcours.store.migrate import upgrade
from parcours.store.models import Claim, Patient, Professional, Referral
from parcours.store.record import RecordEntry

OUT = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}


@dataclass(frozen=True)
class Town:
    url: str
    people: dict[str, list[DemoPerson]]
    database: Database
    base: str
    auth: AuthSettings
    facts: dict[str, str]


@dataclass(frozen=True)
class Shot:
    space: str
    who: Callable[[Town], DemoPerson]
    path: Callable[[Town], str]
    name: str


def _patient(town: Town) -> DemoPerson:
    nir = town.facts["patient_nir"]
    return next(p for p in town.people["patients"] if p.identifier == nir)


def _agent(town: Town) -> DemoPerson:
    return town.people["agents"][0]


def _gp(town: Town) -> DemoPerson:
    """The demo GP who referred the most patients (a médecin traitant's day)."""
    return next(p for p in town.people["professionals"] if p.identifier == town.facts["gp_rpps"])


SHOTS: list[Shot] = [
    Shot("patient", _patient, lambda t: "/espace/patient", "patient-accueil"),
    Shot("patient", _patient, lambda t: f"/espace/patient/{t.facts['patient_id']}/medecin-traitant", "patient-medecin-traitant"),
    Shot("patient", _patient, lambda t: f"/espace/patient/{t.facts['patient_id']}/dossier", "patient-dossier"),
    Shot("patient", _patient, lambda t: f"/espace/patient/{t.facts['patient_id']}/dossier/{t.facts['document_id']}", "patient-document"),
    Shot("patient", _patient, lambda t: f"/espace/patient/{t.facts['patient_id']}/acces", "patient-acces"),
    Shot("patient", _patient, lambda t: f"/espace/patient/{t.facts['patient_id']}/remboursements", "patient-remboursements"),
    Shot("patient", lambda t: t.people["parents"][0], lambda t: "/espace/patient", "parent-accueil"),
    Shot("pro", _gp, lambda t: "/espace/pro", "pro-accueil"),
    Shot("pro", _gp, lambda t: "/espace/pro/patients", "pro-patients"),
    Shot("pro", _gp, lambda t: "/espace/pro/adressages", "pro-adressages"),
    Shot("pro", _gp, lambda t: "/espace/pro/teleexpertises", "pro-teleexpertises"),
    Shot("pro", _gp, lambda t: "/espace/pro/feuilles", "pro-feuilles"),
    Shot("agent", _agent, lambda t: "/espace/agent?etat=rejected", "agent-feuilles-refusees"),
    Shot("agent", _agent, lambda t: f"/espace/agent/feuilles/{t.facts['rejected_claim']}", "agent-feuille"),
    Shot("agent", _agent, lambda t: "/espace/agent/lot", "agent-lot"),
]  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _facts(database: Database, people: dict[str, list[DemoPerson]]) -> dict[str, str]:
    """A demo patient with a record (an adult), one of their documents, and a refused claim."""
    adults = {p.identifier for p in people["patients"]}
    with database.unit_of_work() as session:
        with_record = select(RecordEntry.patient_id).where(RecordEntry.section == "document")
        patient = next(p for p in session.scalars(select(Patient).where(Patient.id.in_(with_record))
                                                  .order_by(Patient.nir)) if p.nir in adults)  # fmt: skip
        document = session.scalars(select(RecordEntry.id).where(RecordEntry.patient_id == patient.id,
                                   RecordEntry.section == "document").order_by(RecordEntry.id)).first()  # fmt: skip
        rejected = session.scalars(select(Claim.id).where(Claim.status == "rejected").order_by(Claim.id)).first()
        busiest = session.execute(select(Referral.referrer_id, func.count()).group_by(Referral.referrer_id)
                                  .order_by(func.count().desc(), Referral.referrer_id)).first()  # fmt: skip
        assert busiest is not None
        gp = session.get(Professional, busiest[0])
        assert gp is not None
        return {"patient_id": patient.id, "patient_nir": patient.nir, "rejected_claim": str(rejected), "document_id": str(document),
                "gp_rpps": gp.rpps}  # fmt: skip


def _history(town: Town) -> None:
    """A bris de glace on the patient's record, so that the access history shows one."""
    doctor = next(p for p in town.people["professionals"] if p.detail.startswith("psychiatry"))
    headers = {"Authorization": f"Bearer {issue_token(Principal.professional(doctor.identifier), town.auth)}"}
    patient = town.facts["patient_id"]
    httpx2.post(f"{town.base}/api/record/{patient}/emergency-access", headers=headers,
               json={"reason": "patient inconscient admis aux urgences"}).raise_for_status()  # fmt: skip
    httpx2.get(f"{town.base}/api/record/{patient}/entries", headers=headers).raise_for_status()


def _summary(path: Path) -> None:
    """The summary of a real batch run on a small synthetic year (`parcours batch generate` then `adjudicate`)."""
    from typer.testing import CliRunner

    from parcours.cli import app

    cli = CliRunner()
    folder = path.parent
    for args in (
        ["batch", "generate", str(folder / "lot"), "--claims", "20k", "--patients", "2500", "--year", "2026"],
        ["batch", "adjudicate", str(folder / "lot"), str(folder / "lot.parquet"), "--contract", "confort",
         "--summary-json", str(path), "--quiet"],
    ):  # fmt: skip
        result = cli.invoke(app, args)
        if result.exit_code != 0:
            raise SystemExit(f"parcours {' '.join(args[:2])} : {result.output}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="un seul espace (patient, pro, agent)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("Chromium introuvable (apt-get install chromium)", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'demo.db'}"
        upgrade(url)
        database = Database(url)
        with database.unit_of_work() as session:
            demo.load(session, patients=40, seed=2004)
        with database.unit_of_work() as session:
            people = demo.people_to_sign_in_as(session, limit=500)
        auth = AuthSettings(local_key_file=Path(folder) / "key.pem", local_issuer_enabled=True)
        summary = Path(folder) / "batch-summary.json"
        _summary(summary)
        web = WebSettings(session_secret="screenshots", cookie_secure=False, demo=True,  # type: ignore[arg-type]
                          batch_summary_file=summary)  # fmt: skip
        port = _free_port()
        server = uvicorn.Server(uvicorn.Config(create_app(database, auth, web=web), host="127.0.0.1", port=port,
                                               log_level="warning"))  # fmt: skip
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        base = f"http://127.0.0.1:{port}"
        while True:
            try:
                if httpx2.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx2.HTTPError:
                time.sleep(0.1)
        town = Town(url, people, database, base, auth, _facts(database, people))
        _history(town)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            for shot in SHOTS:
                if args.only and shot.space != args.only:
                    continue
                for label, (width, height) in WIDTHS.items():
                    context = browser.new_context(viewport={"width": width, "height": height}, locale="fr-FR")
                    page = context.new_page()
                    page.goto(f"{base}/connexion/demo?tous=1")
                    page.click(f"[data-testid='demo-{shot.who(town).identifier}']")
                    page.wait_for_load_state()
                    page.goto(f"{base}{shot.path(town)}")
                    target = args.out / f"{shot.name}-{label}.png"
                    page.screenshot(path=str(target), full_page=True)
                    print(target.relative_to(args.out.parent.parent) if args.out == OUT else target)
                    context.close()
            browser.close()
        server.should_exit = True
        thread.join(timeout=10)
        database.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
