"""The signed-in spaces in a real headless Chromium, with axe-core on every page (zero serious or critical
violations). Skipped without Chromium unless PARCOURS_REQUIRE_BROWSER=1."""

from __future__ import annotations

from typing import Any

from .conftest import LiveServer, SignedInPage, assert_accessible


def test_sign_in_page_and_demo_sign_in_are_accessible(browser: Any, live_server: LiveServer) -> None:
    context = browser.new_context()
    page = context.new_page()
    for path in ("/connexion", "/connexion/demo"):
        page.goto(f"{live_server.url}{path}")
        assert_accessible(page)
    context.close()


def test_patient_home_is_accessible_on_a_phone_and_keyboard_reachable(
    signed_in_page: SignedInPage, live_server: LiveServer
) -> None:
    person = live_server.town.people["patients"][0]
    page = signed_in_page(person, width=390, height=844)
    assert page.url.endswith("/espace/patient")
    assert_accessible(page)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Aller au contenu"
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # nothing wider than the phone
