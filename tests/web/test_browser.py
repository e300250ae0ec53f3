"""End to end in a real headless Chromium (Debian's package) against the application served by uvicorn on
localhost: fill the simulator form with the keyboard, read the three amounts, check them; compare formulas;
take the screenshots shown in docs/.

Skipped when Chromium is missing, unless PARCOURS_REQUIRE_BROWSER=1 (CI sets it and installs Chromium)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
import uvicorn

from parcours.api.app import create_app
from parcours.rules.contracts.compare import Level, rank, typical_year
from parcours.rules.contracts.loader import load_contract
from parcours.rules.money import format_eur
from parcours.store.db import Database

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DOCS = Path(__file__).resolve().parents[2] / "docs"
# The screenshots in docs/ are refreshed on demand (PARCOURS_UPDATE_SCREENSHOTS=1), so a test run leaves the tree clean.
UPDATE_SCREENSHOTS = os.environ.get("PARCOURS_UPDATE_SCREENSHOTS") == "1"


def shot(page: Any, name: str, tmp_path: Path) -> None:
    target = DOCS / name if UPDATE_SCREENSHOTS else tmp_path / name
    page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 0


if CHROMIUM is None and os.environ.get("PARCOURS_REQUIRE_BROWSER") != "1":
    pytest.skip("Chromium is not installed (apt-get install chromium)", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    database = Database(f"sqlite:///{tmp_path_factory.mktemp('web') / 'web.db'}")
    port = _free_port()
    config = uvicorn.Config(create_app(database), host="127.0.0.1", port=port, log_level="warning")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx2.get(f"{base}/simulateur", timeout=1).status_code == 200:
                break
        except httpx2.HTTPError:
            time.sleep(0.1)
    yield base
    instance.should_exit = True
    thread.join(timeout=10)
    database.dispose()


# ``browser``: the session-wide Chromium of conftest.py (one Playwright per process: a second would find its loop)


def test_simulator_in_a_browser(server: str, browser: Any, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
    page.goto(f"{server}/simulateur")
    page.select_option("#care_type", "soins_courants")
    page.select_option("#act", "specialist")
    page.fill("#fee", "50")
    page.select_option("#sector", "2-optam")
    page.check("#gp_declared")
    page.check("#referred")
    page.select_option("#contract", "confort")
    page.focus("#contract")
    page.keyboard.press("Tab")  # the submit button is reachable with the keyboard
    assert page.evaluate("document.activeElement.type") == "submit"
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-testid=amo]")
    amo = page.inner_text("[data-testid=amo]")
    amc = page.inner_text("[data-testid=amc]")
    rest = page.inner_text("[data-testid=out-of-pocket]")
    # CS 31,50 € for an OPTAM dermatologist on the MT's referral, billed 50 €: AMO 70 % = 22,05 − 2 € = 20,05 €;
    # Confort 150 % × 31,50 = 47,25 − 22,05 = 25,20 €; left 50 − 20,05 − 25,20 = 4,75 € (2 € PF + 2,75 € overrun)
    assert (amo, amc, rest) == ("20,05 €", "25,20 €", "4,75 €")
    shot(page, "simulateur.png", tmp_path)
    unlabelled = page.evaluate(
        """Array.from(document.querySelectorAll('input, select'))
             .filter(e => !document.querySelector('label[for="' + e.id + '"]')).length"""
    )
    assert unlabelled == 0
    page.close()


def test_type_of_care_filters_the_acts(server: str, browser: Any) -> None:
    page = browser.new_page()
    page.goto(f"{server}/simulateur")
    page.select_option("#care_type", "optique")
    visible = page.evaluate(
        "Array.from(document.querySelectorAll('#act option')).filter(o => !o.hidden).map(o => o.value)"
    )
    assert visible == ["glasses_a", "glasses_b_simple", "glasses_b_progressive"]
    page.close()


def test_simulator_without_javascript(server: str, browser: Any) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{server}/simulateur")
    page.select_option("#care_type", "soins_courants")  # left as is: the act decides the type of care
    page.select_option("#act", "crown_rac0")
    page.select_option("#contract", "essentiel")
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=amo]")
    # 100 % Santé crown: the Sécurité sociale pays 60 % of the 120 € base, the contract all the rest
    assert page.inner_text("[data-testid=out-of-pocket]") == "0,00 €"
    assert page.input_value("#care_type") == "dentaire"
    context.close()


def test_comparator_in_a_browser(server: str, browser: Any, tmp_path: Path) -> None:
    needs: dict[str, Level] = {"optique": "high", "dentaire": "medium", "hospitalisation": "low",
                               "soins_courants": "medium"}  # fmt: skip
    year = dt.date.today().year
    expected = rank(
        [load_contract(name, dt.date(year, 1, 1)) for name in ("confort", "essentiel", "renfort", "ticket-moderateur")],
        typical_year(needs, year),
    )
    page = browser.new_page(viewport={"width": 1024, "height": 900})
    page.goto(f"{server}/comparateur")
    for need, level in needs.items():
        page.select_option(f"#{need}", level)
    page.click("button[type=submit]")
    page.wait_for_selector("#classement")
    rows = page.locator("section tbody tr")
    assert rows.count() == 4
    shown = [[cell.strip() for cell in rows.nth(i).locator("td").all_inner_texts()] for i in range(rows.count())]
    assert shown == [
        [
            cost.contract.label,
            format_eur(cost.amo),
            format_eur(cost.amc),
            format_eur(cost.out_of_pocket),
            format_eur(cost.premiums or 0),
            format_eur(cost.total),
        ]
        for cost in expected
    ]
    shot(page, "comparateur.png", tmp_path)
    page.close()
