"""The patient and agent spaces in a real headless Chromium, with axe-core on every page visited (zero serious or
critical violations). Skipped without Chromium unless PARCOURS_REQUIRE_BROWSER=1.

The journeys: a patient changes their médecin traitant (their presence attestation is the consent the doctor files)
and masks a document; a bris de glace shows in the patient's access history; an agent filters the rejected claims
and reads one; a patient opening another patient's page gets a refusal and nothing of them; a form sent without its
CSRF token is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
from sqlalchemy import select

from parcours.api.security import AuthSettings, issue_token
from parcours.care import declarations
from parcours.record.identity import Principal
from parcours.store.models import Claim, Professional

from .conftest import LiveServer, SignedInPage, Someone, assert_accessible


def _bearer(principal: Principal, auth: AuthSettings) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(principal, auth)}"}


def test_sign_in_pages_are_accessible(browser: Any, live_server: LiveServer) -> None:
    context = browser.new_context()
    page = context.new_page()
    for path in ("/connexion", "/connexion/demo"):
        page.goto(f"{live_server.url}{path}")
        assert_accessible(page)
    context.close()


def test_patient_home_on_a_phone_is_accessible_and_keyboard_usable(
    signed_in_page: SignedInPage, live_server: LiveServer
) -> None:
    page = signed_in_page(live_server.town.people["patients"][0], width=390, height=844)
    assert page.url.endswith("/espace/patient")
    assert_accessible(page)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Aller au contenu"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # the focus is visible
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the phone


def test_a_patient_changes_gp_and_masks_a_document(
    signed_in_page: SignedInPage, live_server: LiveServer, with_record: list[Someone], web_auth: AuthSettings
) -> None:
    me = with_record[4]
    with live_server.database.unit_of_work() as session:
        current = declarations.active_declaration(session, me.patient_id)
        gps = session.scalars(select(Professional).where(Professional.specialty == "general_practice")
                              .order_by(Professional.rpps))  # fmt: skip
        new_gp = next(g for g in gps if current is None or g.id != current.professional_id)
        rpps, name = new_gp.rpps, f"Dr {new_gp.given_name} {new_gp.family_name}"
    page = signed_in_page(me.person)
    page.click("text=Médecin traitant")
    page.wait_for_url("**/medecin-traitant")
    assert_accessible(page)
    page.click("button:text('Donner mon accord')")  # nothing chosen: the errors say which field
    page.wait_for_selector("#professional_rpps-error")
    assert page.get_attribute("#professional_rpps", "aria-invalid") == "true"
    assert_accessible(page)
    page.select_option("#professional_rpps", rpps)
    page.check("#consent")
    page.click("button:text('Donner mon accord')")
    token = page.input_value("[data-testid=attestation]")
    assert_accessible(page)
    filed = httpx2.post(f"{live_server.url}/api/declarations", headers=_bearer(Principal.professional(rpps), web_auth),
                       json={"patient_id": me.patient_id, "professional_rpps": rpps, "vitale_attestation": token})  # fmt: skip
    assert filed.status_code == 201, filed.text
    page.reload()
    assert name in page.inner_text("[data-testid=mt-actuel]")

    page.click("nav >> text=Mon dossier")
    page.wait_for_url("**/dossier")
    assert_accessible(page)
    first = page.locator("[data-testid^=document-]").first
    title = first.locator("td").first.inner_text()
    first.locator("button:text('Masquer')").click()
    page.wait_for_selector("text=Le document est masqué")
    assert "Masqué" in page.locator("tr", has_text=title).first.inner_text()
    assert_accessible(page)


def test_bris_de_glace_shows_in_the_patients_access_history(
    signed_in_page: SignedInPage, live_server: LiveServer, with_record: list[Someone], web_auth: AuthSettings
) -> None:
    me = with_record[5]
    emergency_doctor = next(p for p in live_server.town.people["professionals"] if p.detail.startswith("psychiatry"))
    headers = _bearer(Principal.professional(emergency_doctor.identifier), web_auth)
    opened = httpx2.post(f"{live_server.url}/api/record/{me.patient_id}/emergency-access", headers=headers,
                        json={"reason": "patient inconscient admis aux urgences"})  # fmt: skip
    assert opened.status_code == 201, opened.text
    read = httpx2.get(f"{live_server.url}/api/record/{me.patient_id}/entries", headers=headers)
    assert read.status_code == 200, read.text
    page = signed_in_page(me.person)
    page.goto(f"{live_server.url}/espace/patient/{me.patient_id}/acces")
    alert = page.inner_text("[data-testid=alerte-bris-de-glace]")
    assert "bris de glace" in alert
    rows = page.locator("[data-testid=bris-de-glace]")
    assert rows.count() >= 1
    assert "patient inconscient admis aux urgences" in rows.first.inner_text()
    assert "Bris de glace" in rows.first.inner_text()
    assert_accessible(page)


def test_an_agent_filters_rejected_claims_and_reads_one(signed_in_page: SignedInPage, live_server: LiveServer) -> None:
    page = signed_in_page(live_server.town.people["agents"][0])
    assert page.url.endswith("/espace/agent")
    assert_accessible(page)
    page.select_option("#etat", "rejected")
    page.select_option("#motif", "teleconsultation_not_oriented")
    page.focus("#au")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # the filter button, with the keyboard
    page.wait_for_url("**etat=rejected**")
    rows = page.locator("[data-testid^=feuille-]")
    assert rows.count() >= 1
    assert all("refusée" in rows.nth(i).inner_text() for i in range(rows.count()))
    assert_accessible(page)
    rows.first.locator("a").click()
    page.wait_for_url("**/espace/agent/feuilles/**")
    assert "Téléconsultation non remboursable" in page.inner_text("#contenu")
    assert page.inner_text("[data-testid=amo]") == "0,00 €"
    assert_accessible(page)
    page.click("nav >> text=Dernier traitement par lot")
    page.wait_for_url("**/espace/agent/lot")  # axe must see the new page, not the one being left (a race under load)
    page.wait_for_load_state()
    assert page.inner_text("h1") == "Dernier traitement par lot"
    assert_accessible(page)


def test_a_patient_gets_nothing_of_another_patient(
    signed_in_page: SignedInPage, live_server: LiveServer, with_record: list[Someone]
) -> None:
    me, other = with_record[6], with_record[7]
    page = signed_in_page(me.person)
    for where in ("dossier", "acces", "remboursements", "medecin-traitant"):
        answer = page.goto(f"{live_server.url}/espace/patient/{other.patient_id}/{where}")
        assert answer is not None
        assert answer.status in (403, 404)
        text = page.inner_text("body")
        assert other.name not in text
        assert other.person.identifier not in text
    assert_accessible(page)


def test_a_form_without_its_csrf_token_is_refused(
    signed_in_page: SignedInPage, live_server: LiveServer, with_record: list[Someone]
) -> None:
    me = with_record[6]
    page = signed_in_page(me.person)
    page.goto(f"{live_server.url}/espace/patient/{me.patient_id}/dossier")
    form = page.locator("[data-testid^=document-] form").first
    form.evaluate("f => f.querySelector('input[name=csrf_token]').remove()")
    form.locator("button").click()
    page.wait_for_selector("text=Formulaire refusé")
    assert_accessible(page)
    page.goto(f"{live_server.url}/espace/patient/{me.patient_id}/dossier")
    assert "Masqué</span>" not in page.content()  # nothing was done


def test_the_accessibility_check_does_catch_violations(browser: Any) -> None:
    """The helper is not vacuous: an unlabelled field and an image without text are serious or critical."""
    from .conftest import accessibility_violations

    context = browser.new_context()
    page = context.new_page()
    page.set_content('<html lang="fr"><head><title>t</title></head><body><main><input type="text">'
                     '<img src="x.png"></main></body></html>')  # fmt: skip
    found = {v["id"] for v in accessibility_violations(page)}
    assert {"label", "image-alt"} <= found
    context.close()


PATIENT_PAGES = ("", "/{p}/medecin-traitant", "/{p}/dossier", "/{p}/dossier/reglages", "/{p}/soins",
                 "/{p}/remboursements", "/{p}/acces", "/{p}/simulateur")  # fmt: skip


def test_every_page_of_the_spaces_is_accessible_on_desktop_and_phone(
    signed_in_page: SignedInPage, live_server: LiveServer, with_record: list[Someone]
) -> None:
    me = with_record[3]
    with live_server.database.unit_of_work() as session:
        claim_id = session.scalars(select(Claim.id).where(Claim.patient_id == me.patient_id)).first()
        rejected = session.scalars(select(Claim.id).where(Claim.status == "rejected")).first()
    patient_pages = [f"/espace/patient{p.format(p=me.patient_id)}" for p in PATIENT_PAGES]
    patient_pages.append(f"/espace/patient/{me.patient_id}/remboursements/{claim_id}")
    agent_pages = ["/espace/agent", "/espace/agent?etat=rejected", f"/espace/agent/feuilles/{rejected}",
                   "/espace/agent/lot"]  # fmt: skip
    for person, pages in ((me.person, patient_pages), (live_server.town.people["agents"][0], agent_pages)):
        for width in (1280, 390):
            page = signed_in_page(person, width=width, height=844)
            for path in pages:
                answer = page.goto(f"{live_server.url}{path}")
                assert answer is not None
                assert answer.status == 200, path
                assert_accessible(page)
                if width == 390:
                    assert page.evaluate("document.documentElement.scrollWidth") <= 390, path


def test_a_parent_opens_the_minors_record_with_the_keyboard(
    signed_in_page: SignedInPage, live_server: LiveServer
) -> None:
    parent = live_server.town.people["parents"][0]
    page = signed_in_page(parent, width=390, height=844)
    link = page.locator("main a[href$='/dossier']").first
    link.focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/dossier")
    assert "que vous représentez" in page.inner_text("main")
    assert_accessible(page)


def test_a_patient_files_a_scanned_pdf_and_opens_it(
    signed_in_page: SignedInPage, live_server: LiveServer, with_record: list[Someone], tmp_path: Any
) -> None:
    from .test_patient_space import PDF

    me = with_record[-1]
    scan = tmp_path / "compte-rendu.pdf"
    scan.write_bytes(PDF)
    page = signed_in_page(me.person)
    page.goto(f"{live_server.url}/espace/patient/{me.patient_id}/dossier")
    page.fill("#title", "Compte rendu scanné")
    page.select_option("#doc_type", "11488-4")
    page.set_input_files("#file", str(scan))
    page.click("button:text('Ajouter au dossier')")
    page.wait_for_selector("text=Le document est ajouté à votre dossier.")
    page.click("a:text('Compte rendu scanné')")
    page.wait_for_selector("h1:text('Compte rendu scanné')")
    assert_accessible(page)
    with page.expect_download() as download:
        page.click("a:text('Télécharger le fichier')")
    path = download.value.path()
    assert path is not None
    assert Path(path).read_bytes() == PDF


def test_a_patient_adds_a_measure_with_the_keyboard_and_reads_it_in_the_profile(
    signed_in_page: SignedInPage, live_server: LiveServer, with_record: list[Someone]
) -> None:
    me = with_record[-2]
    page = signed_in_page(me.person)
    page.goto(f"{live_server.url}/espace/patient/{me.patient_id}/dossier")
    page.select_option("#measure", "poids")
    page.fill("#measure_value", "7000")
    page.fill("#measure_date", "2026-10-02")
    page.click("button:text('Ajouter la mesure')")
    page.wait_for_selector("#measure_value-error")
    assert_accessible(page)  # the page with its errors tied to the fields
    page.fill("#measure_value", "70,4")
    page.focus("#measure_date")
    page.keyboard.press("Tab")  # the next control is the form's button
    page.keyboard.press("Enter")
    page.wait_for_selector("text=La mesure est ajoutée à votre profil médical.")
    assert page.locator("#p-Observation + ul").inner_text().count("Poids : 70,4 kg") == 1
