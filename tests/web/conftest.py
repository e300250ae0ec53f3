"""Fixtures of the web spaces' tests.

- ``demo_url``: a migrated SQLite file holding the demo town (``care.demo``), made once per test session; tests that
  write pick people nobody else uses, so they may share it.
- ``web_client``: a ``TestClient`` over it, and ``sign_in(client, person)`` through the demo sign-in form.
- ``live_server``: the application served by uvicorn in a thread on a free port over the same file.
- ``browser`` (Chromium, headless) and ``signed_in_page(person)``: a page signed in through the demo sign-in page.
- ``assert_accessible(page)``: axe-core (axe-playwright-python) finds no serious or critical violation.

Browser fixtures skip when Chromium is missing, unless ``PARCOURS_REQUIRE_BROWSER=1`` (then they fail).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.conftest import BACKENDS, PG_URL, fresh_postgres_schema

from parcours.api.app import create_app
from parcours.api.security import AuthSettings
from parcours.care import demo
from parcours.care.demo import DemoPerson
from parcours.settings import WebSettings
from parcours.store.db import Database
from parcours.store.migrate import upgrade
from parcours.store.models import Patient
from parcours.store.record import RecordEntry

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REQUIRE_BROWSER = os.environ.get("PARCOURS_REQUIRE_BROWSER") == "1"
SERIOUS = {"serious", "critical"}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class DemoTown:
    url: str
    people: dict[str, list[DemoPerson]]
    batch_summary: Path


@pytest.fixture(scope="session", params=BACKENDS)
def demo_town(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoTown]:
    """The demo town on SQLite and, when ``PARCOURS_TEST_DATABASE_URL`` is set, on PostgreSQL: every web test, the
    browser journeys included, runs on both."""
    folder = tmp_path_factory.mktemp("demo-town")
    with ExitStack() as stack:
        if request.param == "postgresql":
            assert PG_URL is not None
            url = stack.enter_context(
                fresh_postgres_schema(PG_URL, f"web_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}")
            )
        else:
            url = f"sqlite:///{folder / 'demo.db'}"
        upgrade(url)
        database = Database(url)
        try:
            with database.unit_of_work() as session:
                demo.load(session, patients=40, seed=2004)
            with database.unit_of_work() as session:
                people = demo.people_to_sign_in_as(session, limit=500)
        finally:
            database.dispose()
        yield DemoTown(url, people, folder / "batch-summary.json")


@pytest.fixture(scope="session")
def web_settings(demo_town: DemoTown) -> WebSettings:
    return WebSettings(session_secret="tests-only-secret", cookie_secure=False, demo=True,  # type: ignore[arg-type]
                       batch_summary_file=demo_town.batch_summary)  # fmt: skip


@pytest.fixture(scope="session")
def web_auth(tmp_path_factory: pytest.TempPathFactory) -> AuthSettings:
    return AuthSettings(local_key_file=tmp_path_factory.mktemp("web-auth") / "key.pem", local_issuer_enabled=True)


def make_app(demo_town: DemoTown, web_settings: WebSettings, web_auth: AuthSettings) -> tuple[FastAPI, Database]:
    database = Database(demo_town.url)
    return create_app(database, web_auth, web=web_settings), database


@pytest.fixture
def web_client(demo_town: DemoTown, web_settings: WebSettings, web_auth: AuthSettings) -> Iterator[TestClient]:
    app, database = make_app(demo_town, web_settings, web_auth)
    with TestClient(app, follow_redirects=False) as client:
        yield client
    database.dispose()


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def sign_in(client: TestClient, person: DemoPerson) -> None:
    """Sign ``client`` in as ``person`` through the demo sign-in form (its CSRF token included)."""
    page = client.get("/connexion/demo")
    assert page.status_code == 200
    answer = client.post("/connexion/demo", data={"csrf_token": csrf_of(page.text),
                                                  "person": f"{person.role}:{person.identifier}"})  # fmt: skip
    assert answer.status_code == 303, answer.text


@dataclass(frozen=True)
class Someone:
    person: DemoPerson
    patient_id: str
    name: str


def someone(patient: Patient) -> Someone:
    person = DemoPerson("patient", patient.nir, f"{patient.given_name} {patient.family_name}", "")
    return Someone(person, patient.id, person.name)


@pytest.fixture(scope="module")
def with_record(demo_town: DemoTown) -> list[Someone]:
    """Adult demo patients with documents in their record (written by their MT), oldest NIR first."""
    database = Database(demo_town.url)
    with database.unit_of_work() as session:
        adults = {p.identifier for p in demo_town.people["patients"]}
        rows = session.scalars(
            select(Patient).where(Patient.id.in_(select(RecordEntry.patient_id).where(RecordEntry.section == "document")))
            .order_by(Patient.nir)
        )  # fmt: skip
        found = [someone(p) for p in rows if p.nir in adults]
    database.dispose()
    assert len(found) >= 3, "the demo town should give adults a record"
    return found


@dataclass(frozen=True)
class LiveServer:
    url: str
    database: Database
    town: DemoTown


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def live_server(demo_town: DemoTown, web_settings: WebSettings, web_auth: AuthSettings) -> Iterator[LiveServer]:
    app, database = make_app(demo_town, web_settings, web_auth)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx2.get(f"{base}/health", timeout=1).status_code == 200:
                break
        except httpx2.HTTPError:
            time.sleep(0.1)
    yield LiveServer(base, database, demo_town)
    server.should_exit = True
    thread.join(timeout=10)
    database.dispose()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        if REQUIRE_BROWSER:
            pytest.fail("PARCOURS_REQUIRE_BROWSER=1 but no chromium on PATH")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    try:
        from playwright import sync_api
    except ImportError:
        if REQUIRE_BROWSER:
            raise
        pytest.skip("playwright is not installed")
    with sync_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield instance
        instance.close()


SignedInPage = Callable[..., Any]


@pytest.fixture
def signed_in_page(browser: Any, live_server: LiveServer) -> Iterator[SignedInPage]:
    """``signed_in_page(person, width=1280)``: a new browser context signed in as ``person`` (demo sign-in)."""
    contexts: list[Any] = []

    def open_page(person: DemoPerson, width: int = 1280, height: int = 900) -> Any:
        context = browser.new_context(viewport={"width": width, "height": height}, locale="fr-FR")
        contexts.append(context)
        page = context.new_page()
        page.goto(f"{live_server.url}/connexion/demo?tous=1")
        page.click(f"[data-testid='demo-{person.identifier}']")
        page.wait_for_load_state()
        assert "/espace/" in page.url, page.url
        return page

    yield open_page
    for context in contexts:
        context.close()


def accessibility_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [v for v in results.response["violations"] if v.get("impact") in SERIOUS]


def assert_accessible(page: Any) -> None:
    """Zero serious or critical axe-core violation (the RGAA criteria axe checks: see docs/web.md)."""
    found = accessibility_violations(page)
    details = [f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}" for v in found]
    assert not found, f"{page.url}: " + "; ".join(details)


@pytest.fixture(name="assert_accessible")
def assert_accessible_fixture() -> Callable[[Any], None]:
    return assert_accessible
