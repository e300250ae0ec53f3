"""The patient space over HTTP (no JavaScript): every page, the forms with their CSRF token and their errors tied
to the fields, and the access decisions — another patient's pages are refused and show nothing of them."""

from __future__ import annotations

import datetime as dt
import gc
import re
import warnings

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from parcours.api.security import AuthSettings, issue_token
from parcours.care import claims, declarations
from parcours.record.identity import Principal
from parcours.rules.dates import add_years
from parcours.rules.money import format_eur
from parcours.rules.params import default_parameters
from parcours.store.db import Database
from parcours.store.models import Claim, Patient, Professional
from parcours.store.record import LegalRepresentative, RecordEntry

from .conftest import DemoTown, Someone, csrf_of, sign_in, someone

PAGES = ("medecin-traitant", "dossier", "dossier/reglages", "soins", "remboursements", "acces", "simulateur")


def test_every_page_of_my_space_answers_in_french(web_client: TestClient, with_record: list[Someone]) -> None:
    me = with_record[0]
    sign_in(web_client, me.person)
    for page in PAGES:
        answer = web_client.get(f"/espace/patient/{me.patient_id}/{page}")
        assert answer.status_code == 200, (page, answer.text[:500])
        assert '<html lang="fr">' in answer.text
        assert answer.headers["cache-control"] == "no-store"
        # every input is labelled
        ids = set(re.findall(r'<(?:input|select|textarea)[^>]*\bid="([^"]+)"', answer.text))
        labelled = set(re.findall(r'<label for="([^"]+)"', answer.text))
        assert ids <= labelled, (page, ids - labelled)


def test_another_patients_pages_are_refused_and_show_nothing_of_them(
    web_client: TestClient, with_record: list[Someone]
) -> None:
    me, other = with_record[0], with_record[1]
    sign_in(web_client, me.person)
    for page in PAGES:
        answer = web_client.get(f"/espace/patient/{other.patient_id}/{page}")
        assert answer.status_code in (403, 404), page
        assert other.name not in answer.text
        assert other.person.identifier not in answer.text
    unknown = web_client.get("/espace/patient/00000000-0000-0000-0000-000000000000/dossier")
    assert unknown.status_code == 403  # an unknown id is refused like an existing one: nothing to learn


def test_another_patients_claim_is_not_shown_under_my_id(
    web_client: TestClient, with_record: list[Someone], demo_town: DemoTown
) -> None:
    me, other = with_record[0], with_record[1]
    database = Database(demo_town.url)
    with database.unit_of_work() as session:
        claim_id = session.scalars(select(Claim.id).where(Claim.patient_id == other.patient_id)).first()
    database.dispose()
    sign_in(web_client, me.person)
    answer = web_client.get(f"/espace/patient/{me.patient_id}/remboursements/{claim_id}")
    assert answer.status_code == 403
    assert other.name not in answer.text


def _first_document(html: str) -> str:
    found = re.search(r'data-testid="document-([0-9a-f-]+)"', html)
    assert found
    return found.group(1)


def test_mask_and_unmask_a_document_with_the_form(web_client: TestClient, with_record: list[Someone]) -> None:
    me = with_record[2]
    sign_in(web_client, me.person)
    page = web_client.get(f"/espace/patient/{me.patient_id}/dossier").text
    entry = _first_document(page)
    refused = web_client.post(f"/espace/patient/{me.patient_id}/dossier/{entry}/masquer")  # no CSRF token
    assert refused.status_code == 403
    assert "Masqué</span>" not in web_client.get(f"/espace/patient/{me.patient_id}/dossier").text
    done = web_client.post(
        f"/espace/patient/{me.patient_id}/dossier/{entry}/masquer", data={"csrf_token": csrf_of(page)}
    )
    assert done.status_code == 303
    shown = web_client.get(done.headers["location"]).text
    assert "Le document est masqué" in shown
    assert re.search(rf'data-testid="document-{entry}".*?Masqué</span>', shown, re.S)
    undone = web_client.post(f"/espace/patient/{me.patient_id}/dossier/{entry}/demasquer",
                             data={"csrf_token": csrf_of(shown)})  # fmt: skip
    assert undone.status_code == 303


def test_documents_filter_by_type(web_client: TestClient, with_record: list[Someone]) -> None:
    me = with_record[0]
    sign_in(web_client, me.person)
    every = web_client.get(f"/espace/patient/{me.patient_id}/dossier").text
    prescriptions = web_client.get(f"/espace/patient/{me.patient_id}/dossier?type=57833-6").text
    assert every.count('data-testid="document-') > prescriptions.count('data-testid="document-') >= 1
    assert "Ordonnance de biologie" in prescriptions
    assert "Compte rendu de consultation</td>" not in prescriptions


def test_add_a_document_errors_are_tied_to_their_fields(web_client: TestClient, with_record: list[Someone]) -> None:
    me = with_record[1]
    sign_in(web_client, me.person)
    page = web_client.get(f"/espace/patient/{me.patient_id}/dossier").text
    answer = web_client.post(f"/espace/patient/{me.patient_id}/dossier/documents",
                             data={"csrf_token": csrf_of(page), "title": "", "doc_type": "", "text": "x"})  # fmt: skip
    assert answer.status_code == 422
    assert re.search(r'id="title"[^>]*aria-describedby="title-error"[^>]*aria-invalid="true"', answer.text)
    assert 'id="title-error"' in answer.text
    assert 'id="doc_type-error"' in answer.text
    assert 'href="#title"' in answer.text  # the summary links to the field
    added = web_client.post(f"/espace/patient/{me.patient_id}/dossier/documents",
                            data={"csrf_token": csrf_of(page), "title": "Bilan sanguin de mars", "doc_type": "11502-2",
                                  "doc_date": "2026-03-02", "text": "Cholestérol normal."})  # fmt: skip
    assert added.status_code == 303
    assert "Bilan sanguin de mars" in web_client.get(f"/espace/patient/{me.patient_id}/dossier").text


def test_declare_a_gp_the_attestation_is_the_consent(
    web_client: TestClient, demo_town: DemoTown, web_auth: AuthSettings
) -> None:
    database = Database(demo_town.url)
    with database.unit_of_work() as session:  # an adult demo patient without a médecin traitant, and a GP
        adults = {p.identifier for p in demo_town.people["patients"]}
        patient = next(p for p in session.scalars(select(Patient).order_by(Patient.nir))
                       if p.nir in adults and declarations.active_declaration(session, p.id) is None)  # fmt: skip
        gp = session.scalars(select(Professional).where(Professional.specialty == "general_practice")
                             .order_by(Professional.rpps)).first()  # fmt: skip
        me = someone(patient)
    assert gp is not None
    sign_in(web_client, me.person)
    url = f"/espace/patient/{me.patient_id}/medecin-traitant"
    page = web_client.get(url).text
    assert "Aucun médecin traitant déclaré" in page
    without_consent = web_client.post(f"{url}/attestation",
                                      data={"csrf_token": csrf_of(page), "professional_rpps": gp.rpps})  # fmt: skip
    assert without_consent.status_code == 422
    assert 'id="consent-error"' in without_consent.text
    given = web_client.post(f"{url}/attestation",
                            data={"csrf_token": csrf_of(page), "professional_rpps": gp.rpps, "consent": "oui"})  # fmt: skip
    assert given.status_code == 200
    token = re.search(r'data-testid="attestation">([^<]+)<', given.text)
    assert token
    # the doctor files the declaration with it (the API; the professional space does the same)
    bearer = {"Authorization": f"Bearer {issue_token(Principal.professional(gp.rpps), web_auth)}"}
    filed = web_client.post("/api/declarations", headers=bearer,
                            json={"patient_id": me.patient_id, "professional_rpps": gp.rpps,
                                  "vitale_attestation": token.group(1)})  # fmt: skip
    assert filed.status_code == 201, filed.text
    shown = web_client.get(url).text
    assert f"Dr {gp.given_name} {gp.family_name}" in re.search(r'data-testid="mt-actuel">(.*?)</p>', shown, re.S).group(
        1
    )  # type: ignore[union-attr]
    history = web_client.get(f"/espace/patient/{me.patient_id}/acces").text
    assert "attestation de présence remise à" in history
    database.dispose()


def test_outside_the_pathway_a_gp_visit_costs_10_60_more(demo_town: DemoTown) -> None:
    """Brief: GP 30 € hors parcours → 21 − 10,60 − 2 = 8,40 € reimbursed (S3), against 19 € in the pathway.

    The example presumes a GP installed long ago: one recently installed keeps the patient in the pathway (code J),
    and the demo town installs its doctors at dates relative to today."""
    database = Database(demo_town.url)
    with database.unit_of_work() as session:
        candidates = session.execute(
            select(Claim, Professional.installed_on)
            .join(Professional, Professional.id == Claim.professional_id)
            .where(Claim.amo == 1900, Claim.billed == 3000, Claim.pathway == "T")
            .order_by(Claim.id)
        ).all()
        parameters = default_parameters()
        claim = next(
            claim
            for claim, installed_on in candidates
            if installed_on is None
            or claim.care_date
            >= add_years(installed_on, parameters.at(claim.care_date)["pathway.recently_installed_gp_years"])
        )
        outside = claims.outside_pathway(claim)
        assert outside.amo == 840
        assert outside.patient - claim.patient_share == 1060
        assert any(step.rule == "pathway.majoration" for step in outside.explanation)
    database.dispose()


def test_a_parent_sees_the_minors_record(web_client: TestClient, demo_town: DemoTown) -> None:
    parent = demo_town.people["parents"][0]
    database = Database(demo_town.url)
    with database.unit_of_work() as session:
        child = session.scalars(select(LegalRepresentative.patient_id)
                                .where(LegalRepresentative.representative_nir == parent.identifier)).first()  # fmt: skip
        others = session.scalar(select(func.count()).select_from(Patient)) or 0
    database.dispose()
    assert others > 1
    sign_in(web_client, parent)
    home = web_client.get("/espace/patient")
    assert f"/espace/patient/{child}/dossier" in home.text
    page = web_client.get(f"/espace/patient/{child}/dossier")
    assert page.status_code == 200
    assert "que vous représentez" in page.text


def test_block_a_professional_and_choose_emergency_opposition(
    web_client: TestClient, with_record: list[Someone], demo_town: DemoTown
) -> None:
    me = with_record[2]
    cardiologist = next(p for p in demo_town.people["professionals"] if p.detail.startswith("cardiology"))
    sign_in(web_client, me.person)
    url = f"/espace/patient/{me.patient_id}/dossier/reglages"
    page = web_client.get(url).text
    missing = web_client.post(f"{url}/blocage", data={"csrf_token": csrf_of(page), "block_rpps": ""})
    assert missing.status_code == 422
    assert 'id="block_rpps-error"' in missing.text
    done = web_client.post(f"{url}/blocage", data={"csrf_token": csrf_of(page), "block_rpps": cardiologist.identifier})
    assert done.status_code == 303
    shown = web_client.get(url).text
    assert f'data-testid="bloque-{cardiologist.identifier}"' in shown
    assert web_client.post(f"{url}/deblocage", data={"csrf_token": csrf_of(shown),
                                                     "rpps": cardiologist.identifier}).status_code == 303  # fmt: skip
    assert (
        web_client.post(f"{url}/opposition", data={"csrf_token": csrf_of(shown), "opposed": "oui"}).status_code == 303
    )
    assert 'id="opposed-oui" name="opposed" value="oui" checked' in web_client.get(url).text
    web_client.post(f"{url}/opposition", data={"csrf_token": csrf_of(shown), "opposed": "non"})


def test_reimbursements_show_each_share_and_the_counters_against_their_caps(
    web_client: TestClient, with_record: list[Someone], demo_town: DemoTown
) -> None:
    me = with_record[0]
    database = Database(demo_town.url)
    with database.unit_of_work() as session:
        counters = claims.yearly_counters(session, me.patient_id, dt.date.today().year)
        first = session.scalars(select(Claim).where(Claim.patient_id == me.patient_id)).first()
        assert first is not None
        claim_id, amo = first.id, first.amo
    database.dispose()
    sign_in(web_client, me.person)
    page = web_client.get(f"/espace/patient/{me.patient_id}/remboursements").text
    # brief: participations forfaitaires and franchises are each capped at 50 € a year
    assert re.search(rf'data-testid="pf-payees">{format_eur(counters["participation"])}</strong> sur 50,00 €', page)
    assert re.search(
        rf'data-testid="franchises-payees">{format_eur(counters["franchises"])}</strong> sur 50,00 €', page
    )
    # Mon soutien psy: 12 sessions a calendar year since 15 June 2024 [T8][T9]
    assert f'data-testid="seances-psy">{counters["psychologist_sessions"]}</strong> sur 12 ' in page
    detail = web_client.get(f"/espace/patient/{me.patient_id}/remboursements/{claim_id}").text
    assert f'data-testid="amo">{format_eur(amo)}<' in detail
    assert "explication, euro par euro" in detail


def test_reimbursements_say_what_tiers_payant_left_owed(
    web_client: TestClient, with_record: list[Someone], demo_town: DemoTown
) -> None:
    """A consultation in tiers payant: the participation forfaitaire could not be kept back from a reimbursement, so
    the page says how much is owed and that it will come off the next ones."""
    me = with_record[-1]
    day = dt.date.today() - dt.timedelta(days=1)
    database = Database(demo_town.url)
    with database.unit_of_work() as session:
        gp = declarations.gp_on(session, me.patient_id, day)
        assert gp is not None
        claims.submit(session, claims.ClaimIn(idempotency_key=f"tiers-payant-{me.patient_id}", patient_id=me.patient_id,
                                              professional_rpps=gp.rpps, date=day, acts=[{"code": "G"}],
                                              tiers_payant=True))  # fmt: skip
    with database.unit_of_work() as session:
        owed = claims.owed_on(session, me.patient_id, dt.date.today())
    database.dispose()
    assert owed["participation"] > 0  # an adult's consultation carries a participation forfaitaire [brief]
    sign_in(web_client, me.person)
    page = web_client.get(f"/espace/patient/{me.patient_id}/remboursements").text
    found = re.search(r'data-testid="dettes">En tiers payant, <strong>([^<]+)</strong>.*?\(([^)]+)\)', page, re.S)
    assert found, page
    assert found.group(1) == format_eur(owed["participation"] + owed["franchises"])
    assert f"{format_eur(owed['participation'])} de participations" in found.group(2)
    assert "déduira de vos prochains remboursements" in page


def test_the_simulator_is_prefilled_with_my_situation(web_client: TestClient, with_record: list[Someone]) -> None:
    for me in with_record:  # a patient without the C2S, which would pay the rest
        sign_in(web_client, me.person)
        page = web_client.get(f"/espace/patient/{me.patient_id}/simulateur").text
        hidden = dict(re.findall(r'<input type="hidden" name="(age|gp_declared|c2s)" value="([^"]*)"', page))
        if "c2s" not in hidden:
            break
    assert "c2s" not in hidden
    assert "age" in hidden
    assert hidden.get("gp_declared") == "on"  # the demo patients with a record have a médecin traitant
    form = {**hidden, "act": "gp", "fee": "30", "sector": "1", "contract": "ticket-moderateur", "date": "2026-03-02"}
    result = web_client.post("/simulateur", data=form).text
    # brief §1: a GP visit in the pathway, 30 €: 21 € − 2 € PF = 19 € from the Sécurité sociale
    assert 'data-testid="amo">19,00 €<' in result


def test_a_refused_look_is_traced_in_the_other_patients_history(
    web_client: TestClient, with_record: list[Someone]
) -> None:
    me, other = with_record[7], with_record[8]
    sign_in(web_client, me.person)
    assert web_client.get(f"/espace/patient/{other.patient_id}/dossier").status_code == 403
    sign_in(web_client, other.person)
    history = web_client.get(f"/espace/patient/{other.patient_id}/acces").text
    row = next(r for r in history.split("<tr") if me.name in r)  # the curious patient, named
    assert "refusé" in row
    assert "un patient n&#39;accède qu&#39;à ses propres données" in row


# A one-page PDF and a PNG, as a scanner or a laboratory portal gives them (the first bytes decide the type).
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6300010000050001"
                    "0d0a2db40000000049454e44ae426082")  # fmt: skip


def _upload(client: TestClient, me: Someone, title: str, name: str, data: bytes, declared: str) -> object:
    page = client.get(f"/espace/patient/{me.patient_id}/dossier").text
    return client.post(f"/espace/patient/{me.patient_id}/dossier/documents",
                       data={"csrf_token": csrf_of(page), "title": title, "doc_type": "11502-2", "text": ""},
                       files={"file": (name, data, declared)})  # fmt: skip


def test_a_patient_files_a_pdf_and_downloads_it_back_unchanged(
    web_client: TestClient, with_record: list[Someone]
) -> None:
    me = with_record[2]
    sign_in(web_client, me.person)
    added = _upload(web_client, me, "Analyses d'avril", "analyses.pdf", PDF, "application/pdf")
    assert added.status_code == 303, re.findall(r"role=\"alert\".{0,600}", added.text, re.S)  # type: ignore[attr-defined]
    listing = web_client.get(f"/espace/patient/{me.patient_id}/dossier").text
    found = re.search(rf'href="/espace/patient/{me.patient_id}/dossier/([0-9a-f-]+)">Analyses d&#39;avril<', listing)
    assert found, "the new document links to its page"
    page = web_client.get(f"/espace/patient/{me.patient_id}/dossier/{found.group(1)}")
    assert page.status_code == 200
    assert "Télécharger le fichier (PDF, " in page.text
    download = web_client.get(f"/espace/patient/{me.patient_id}/dossier/{found.group(1)}/fichier")
    assert download.status_code == 200
    assert download.content == PDF
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["content-disposition"].startswith('attachment; filename="Analyses d_avril.pdf"')
    assert download.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in download.headers["content-security-policy"]


def test_a_text_document_reads_on_its_page(web_client: TestClient, with_record: list[Someone]) -> None:
    me = with_record[0]
    sign_in(web_client, me.person)
    listing = web_client.get(f"/espace/patient/{me.patient_id}/dossier").text
    first = re.search(rf'href="/espace/patient/{me.patient_id}/dossier/([0-9a-f-]+)">', listing)
    assert first
    page = web_client.get(f"/espace/patient/{me.patient_id}/dossier/{first.group(1)}")
    assert page.status_code == 200
    assert 'class="document-texte"' in page.text


def test_an_upload_is_judged_by_its_content_not_its_name(web_client: TestClient, with_record: list[Someone]) -> None:
    me = with_record[2]
    sign_in(web_client, me.person)
    script = _upload(web_client, me, "Faux PDF", "facture.pdf", b"<script>alert(1)</script>", "application/pdf")
    assert script.status_code == 422  # type: ignore[attr-defined]
    assert 'id="file-error"' in script.text  # type: ignore[attr-defined]
    assert "format non accepté" in script.text  # type: ignore[attr-defined]
    image = _upload(web_client, me, "Radio scannée", "radio.bin", PNG, "application/octet-stream")
    assert image.status_code == 303  # type: ignore[attr-defined]
    assert "Faux PDF" not in web_client.get(f"/espace/patient/{me.patient_id}/dossier").text


def test_an_upload_above_the_attachment_limit_is_refused(web_client: TestClient, with_record: list[Someone]) -> None:
    me = with_record[2]
    sign_in(web_client, me.person)
    limit = web_client.app.state.limits.max_attachment_bytes  # type: ignore[attr-defined]
    big = _upload(web_client, me, "Trop gros", "gros.pdf", PDF + b"0" * limit, "application/pdf")
    assert big.status_code in (413, 422)  # type: ignore[attr-defined]
    assert "Trop gros" not in web_client.get(f"/espace/patient/{me.patient_id}/dossier").text


def test_another_patients_document_and_file_are_refused(web_client: TestClient, with_record: list[Someone]) -> None:
    owner, intruder = with_record[0], with_record[1]
    sign_in(web_client, owner.person)
    listing = web_client.get(f"/espace/patient/{owner.patient_id}/dossier").text
    entry = re.search(rf'href="/espace/patient/{owner.patient_id}/dossier/([0-9a-f-]+)">', listing)
    assert entry
    sign_in(web_client, intruder.person)
    for suffix in ("", "/fichier"):
        refused = web_client.get(f"/espace/patient/{owner.patient_id}/dossier/{entry.group(1)}{suffix}")
        assert refused.status_code == 403
        assert owner.name not in refused.text
        # through the intruder's own record id, the other's entry is not found either
        crossed = web_client.get(f"/espace/patient/{intruder.patient_id}/dossier/{entry.group(1)}{suffix}")
        assert crossed.status_code == 404


def _profile_post(client: TestClient, me: Someone, path: str, **fields: str) -> object:
    page = client.get(f"/espace/patient/{me.patient_id}/dossier").text
    return client.post(f"/espace/patient/{me.patient_id}/dossier/{path}", data={"csrf_token": csrf_of(page), **fields})


def _stored(demo_town: DemoTown, me: Someone, resource_type: str) -> list[dict[str, object]]:
    database = Database(demo_town.url)
    with database.unit_of_work() as session:
        rows = session.scalars(select(RecordEntry.resource).where(
            RecordEntry.patient_id == me.patient_id, RecordEntry.resource_type == resource_type))  # fmt: skip
        found = [dict(r) for r in rows]
    database.dispose()
    return found


def test_a_patient_declares_an_allergy_and_it_is_marked_unconfirmed(
    web_client: TestClient, demo_town: DemoTown, with_record: list[Someone]
) -> None:
    me = with_record[-1]
    sign_in(web_client, me.person)
    added = _profile_post(web_client, me, "profil", item_kind="allergie", item_text="Amoxicilline (urticaire)",
                          item_date="2019-06-01", item_note="réaction en 2019")  # fmt: skip
    assert added.status_code == 303  # type: ignore[attr-defined]
    page = web_client.get(f"/espace/patient/{me.patient_id}/dossier?message=profil").text
    allergies = page.split('id="p-AllergyIntolerance"')[1].split("</section>")[0]
    assert "Amoxicilline (urticaire)" in allergies
    assert "déclaré par vous" in page
    stored = [
        r for r in _stored(demo_town, me, "AllergyIntolerance") if r["code"] == {"text": "Amoxicilline (urticaire)"}
    ]
    assert len(stored) == 1
    assert stored[0]["verificationStatus"]["coding"][0]["code"] == "unconfirmed"  # type: ignore[index]
    assert stored[0]["clinicalStatus"]["coding"][0]["code"] == "active"  # type: ignore[index]
    assert stored[0]["onsetDateTime"] == "2019-06-01"


def test_a_vaccination_needs_its_date_and_nothing_is_stored_without_it(
    web_client: TestClient, demo_town: DemoTown, with_record: list[Someone]
) -> None:
    me = with_record[-1]
    sign_in(web_client, me.person)
    before = len(_stored(demo_town, me, "Immunization"))
    refused = _profile_post(web_client, me, "profil", item_kind="vaccination", item_text="DTP rappel 25 ans")
    assert refused.status_code == 422  # type: ignore[attr-defined]
    assert re.search(r'id="item_date"[^>]*aria-describedby="item_date-error"', refused.text)  # type: ignore[attr-defined]
    assert 'value="DTP rappel 25 ans"' in refused.text  # type: ignore[attr-defined]  # what was typed is kept
    assert len(_stored(demo_town, me, "Immunization")) == before
    future = (dt.date.today() + dt.timedelta(days=2)).isoformat()
    later = _profile_post(web_client, me, "profil", item_kind="vaccination", item_text="DTP", item_date=future)
    assert later.status_code == 422  # type: ignore[attr-defined]
    assert "dans le futur" in later.text  # type: ignore[attr-defined]
    done = _profile_post(web_client, me, "profil", item_kind="vaccination", item_text="DTP rappel 25 ans",
                         item_date="2024-09-10")  # fmt: skip
    assert done.status_code == 303  # type: ignore[attr-defined]
    assert len(_stored(demo_town, me, "Immunization")) == before + 1


def test_a_blood_pressure_is_one_observation_with_its_two_components(
    web_client: TestClient, demo_town: DemoTown, with_record: list[Someone]
) -> None:
    me = with_record[-2]
    sign_in(web_client, me.person)
    added = _profile_post(web_client, me, "mesures", measure="tension", measure_value="132",
                          measure_value_2="84", measure_date="2026-11-20")  # fmt: skip
    assert added.status_code == 303  # type: ignore[attr-defined]
    measures = web_client.get(f"/espace/patient/{me.patient_id}/dossier").text.split('id="p-Observation"')[1]
    assert "Tension artérielle : 132/84 mmHg" in measures.split("</section>")[0]
    panels = [r for r in _stored(demo_town, me, "Observation") if r.get("effectiveDateTime") == "2026-11-20"]
    assert len(panels) == 1
    assert panels[0]["code"]["coding"][0]["code"] == "85354-9"  # type: ignore[index]
    components = panels[0]["component"]
    assert [c["code"]["coding"][0]["code"] for c in components] == ["8480-6", "8462-4"]  # type: ignore[attr-defined, index]
    assert components[1]["valueQuantity"]["code"] == "mm[Hg]"  # type: ignore[index]


def test_an_implausible_measure_is_refused_on_its_field(web_client: TestClient, with_record: list[Someone]) -> None:
    me = with_record[-2]
    sign_in(web_client, me.person)
    heavy = _profile_post(web_client, me, "mesures", measure="poids", measure_value="720", measure_date="2026-11-20")
    assert heavy.status_code == 422  # type: ignore[attr-defined]
    assert re.search(r'id="measure_value-error">valeur hors des limites plausibles', heavy.text)  # type: ignore[attr-defined]
    word = _profile_post(
        web_client, me, "mesures", measure="poids", measure_value="beaucoup", measure_date="2026-11-20"
    )
    assert "indiquez un nombre" in word.text  # type: ignore[attr-defined]
    inverted = _profile_post(web_client, me, "mesures", measure="tension", measure_value="80", measure_value_2="120",
                             measure_date="2026-11-20")  # fmt: skip
    assert 'id="measure_value_2-error"' in inverted.text  # type: ignore[attr-defined]
    comma = _profile_post(web_client, me, "mesures", measure="poids", measure_value="72,5", measure_date="2026-11-21")
    assert comma.status_code == 303  # type: ignore[attr-defined]
    assert "Poids : 72,5 kg" in web_client.get(f"/espace/patient/{me.patient_id}/dossier").text


def test_another_patient_cannot_write_in_my_profile(
    web_client: TestClient, demo_town: DemoTown, with_record: list[Someone]
) -> None:
    owner, intruder = with_record[-1], with_record[0]
    sign_in(web_client, intruder.person)
    page = web_client.get(f"/espace/patient/{intruder.patient_id}/dossier").text
    before = len(_stored(demo_town, owner, "Condition"))
    refused = web_client.post(f"/espace/patient/{owner.patient_id}/dossier/profil",
                              data={"csrf_token": csrf_of(page), "item_kind": "antecedent", "item_text": "Faux"})  # fmt: skip
    assert refused.status_code == 403
    assert len(_stored(demo_town, owner, "Condition")) == before


def test_an_uploaded_file_is_closed_once_the_page_has_answered(
    web_client: TestClient, with_record: list[Someone]
) -> None:
    """The form's files (spooled to disk) are closed by the form dependency, not left to the garbage collector."""
    me = with_record[2]
    sign_in(web_client, me.person)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        added = _upload(web_client, me, "Compte rendu", "cr.pdf", PDF, "application/pdf")
        refused = _upload(web_client, me, "", "cr.pdf", PDF, "application/pdf")  # the 422 path closes it too
        gc.collect()
    assert (added.status_code, refused.status_code) == (303, 422)  # type: ignore[attr-defined]
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
