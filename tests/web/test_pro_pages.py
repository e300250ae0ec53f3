"""The professional space's pages over HTTP (TestClient): each answers in French, asks the same access decisions as
the API, and a wrong professional gets nothing. The browser journeys are in test_pro_browser.py."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from .conftest import DemoTown, csrf_of, sign_in
from .pro_cast import Cast, build


@pytest.fixture(scope="session")
def cast(demo_town: DemoTown) -> Cast:
    return build(demo_town.url)


def test_every_page_answers_for_the_gp(web_client: TestClient, cast: Cast) -> None:
    sign_in(web_client, cast.gp)
    for path in ("/espace/pro", "/espace/pro/patients", "/espace/pro/patients?q=zel", "/espace/pro/patients/declarer",
                 f"/espace/pro/patients/{cast.zeller.id}", "/espace/pro/adressages", "/espace/pro/adressages/nouveau",
                 "/espace/pro/teleexpertises", "/espace/pro/teleexpertises/nouvelle", "/espace/pro/feuilles",
                 "/espace/pro/feuilles/nouvelle", "/espace/pro/urgence"):  # fmt: skip
        answer = web_client.get(path)
        assert answer.status_code == 200, (path, answer.text[:2000])
        assert 'lang="fr"' in answer.text
    listed = web_client.get("/espace/pro/patients?q=zel").text
    assert "Zeller" in listed
    assert "Zimmer" not in listed


def test_a_preview_reads_the_engine_amounts(web_client: TestClient, cast: Cast) -> None:
    sign_in(web_client, cast.gp)
    form = web_client.get("/espace/pro/feuilles/nouvelle").text
    data = {"csrf_token": csrf_of(form), "patient_id": cast.zeller.id, "date": "2026-03-02", "act0_code": "G",
            "act0_fee": "30", "idempotency_key": "pro-pages-preview-1", "action": "calculer"}  # fmt: skip
    answer = web_client.post("/espace/pro/feuilles/nouvelle", data=data)
    assert answer.status_code == 200, answer.text[:3000]
    assert "Code parcours : <strong>T</strong>" in answer.text
    assert "19,00" in answer.text  # examples/gp-in-pathway.json: G 30 € → AMO 19,00 €
    fragment = web_client.post("/espace/pro/feuilles/calcul", data=data)
    assert fragment.status_code == 200
    assert "19,00" in fragment.text


def test_the_unrelated_professional_sees_nothing(web_client: TestClient, cast: Cast) -> None:
    sign_in(web_client, cast.unrelated)
    answer = web_client.get(f"/espace/pro/patients/{cast.zeller.id}")
    assert answer.status_code == 403
    assert "Zeller" not in answer.text
    assert "Zeller" not in web_client.get("/espace/pro/patients").text


def test_a_form_without_its_csrf_token_is_refused(web_client: TestClient, cast: Cast) -> None:
    sign_in(web_client, cast.gp)
    answer = web_client.post("/espace/pro/feuilles/nouvelle", data={"patient_id": cast.zeller.id})
    assert answer.status_code == 403


def test_coherence_flags_are_shown_to_the_mt_only(web_client: TestClient, cast: Cast) -> None:
    sign_in(web_client, cast.gp)
    page = web_client.get(f"/espace/pro/patients/{cast.zeller.id}").text
    assert "Doublon de traitement" in page
    assert "2 prescripteurs différents" in page
    sign_in(web_client, cast.cardiologist)
    page = web_client.get(f"/espace/pro/patients/{cast.zeller.id}").text
    assert "métoprolol" in page  # the referred specialist reads the record
    assert "Doublon de traitement" not in page  # the synthesis is the MT's


def test_the_gp_downloads_the_file_a_patient_filed_and_an_unrelated_doctor_cannot(
    web_client: TestClient, cast: Cast
) -> None:
    import re

    from .pro_cast import person
    from .test_patient_space import PDF

    sign_in(web_client, person(cast.zeller))
    page = web_client.get(f"/espace/patient/{cast.zeller.id}/dossier").text
    filed = web_client.post(f"/espace/patient/{cast.zeller.id}/dossier/documents",
                            data={"csrf_token": csrf_of(page), "title": "Échographie scannée", "doc_type": "18748-4"},
                            files={"file": ("echo.pdf", PDF, "application/pdf")})  # fmt: skip
    assert filed.status_code == 303
    sign_in(web_client, cast.gp)
    record = web_client.get(f"/espace/pro/patients/{cast.zeller.id}").text
    link = re.search(rf'href="(/espace/pro/patients/{cast.zeller.id}/documents/[0-9a-f-]+/fichier)"', record)
    assert link, "the MT sees a download link for the patient's PDF"
    assert "Télécharger : Échographie scannée (PDF" in record
    download = web_client.get(link.group(1))
    assert download.status_code == 200
    assert download.content == PDF
    sign_in(web_client, cast.unrelated)
    refused = web_client.get(link.group(1))
    assert refused.status_code == 403
    assert refused.content != PDF
    assert "Zeller" not in refused.text
