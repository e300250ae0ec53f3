"""The spaces' shared infrastructure over HTTP: sessions, sign-in and sign-out, CSRF, the cookie's flags."""

from __future__ import annotations

from fastapi.testclient import TestClient

from parcours.api.security import AuthSettings
from parcours.care.demo import DemoPerson
from parcours.settings import WebSettings
from parcours.web.session import COOKIE, SessionCodec, WebSession

from .conftest import DemoTown, csrf_of, make_app, sign_in


def first_patient(town: DemoTown) -> DemoPerson:
    return town.people["patients"][0]


def test_spaces_send_to_sign_in_when_nobody_is_signed_in(web_client: TestClient) -> None:
    answer = web_client.get("/espace/patient")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/connexion?suite=%2Fespace%2Fpatient"


def test_demo_sign_in_then_sign_out(web_client: TestClient, demo_town: DemoTown) -> None:
    person = first_patient(demo_town)
    sign_in(web_client, person)
    home = web_client.get("/espace/patient")
    assert home.status_code == 200
    assert person.name in home.text
    answer = web_client.post("/deconnexion", data={"csrf_token": csrf_of(home.text)})
    assert answer.status_code == 303
    assert web_client.get("/espace/patient").status_code == 303


def test_a_copy_of_the_cookie_taken_before_sign_out_is_refused_after_it(
    web_client: TestClient, demo_town: DemoTown, web_settings: WebSettings, web_auth: AuthSettings
) -> None:
    person = first_patient(demo_town)
    sign_in(web_client, person)
    home = web_client.get("/espace/patient")
    copied = web_client.cookies[COOKIE]
    app, database = make_app(demo_town, web_settings, web_auth)
    with TestClient(app, follow_redirects=False) as other_browser:
        other_browser.cookies.set(COOKIE, copied)
        assert other_browser.get("/espace/patient").status_code == 200  # the copy works while the session is open
        assert web_client.post("/deconnexion", data={"csrf_token": csrf_of(home.text)}).status_code == 303
        answer = other_browser.get("/espace/patient")
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/connexion")
    database.dispose()


def test_signing_out_ends_that_session_only(web_client: TestClient, demo_town: DemoTown, web_settings: WebSettings,
                                            web_auth: AuthSettings) -> None:  # fmt: skip
    person = first_patient(demo_town)
    app, database = make_app(demo_town, web_settings, web_auth)
    with TestClient(app, follow_redirects=False) as phone:
        sign_in(phone, person)
        sign_in(web_client, person)
        home = web_client.get("/espace/patient")
        web_client.post("/deconnexion", data={"csrf_token": csrf_of(home.text)})
        assert phone.get("/espace/patient").status_code == 200
    database.dispose()


def test_a_signed_in_cookie_without_a_session_id_is_refused(web_client: TestClient, demo_town: DemoTown) -> None:
    from parcours.record.identity import Principal

    settings = WebSettings(session_secret="tests-only-secret")  # type: ignore[arg-type]
    no_id = WebSession(csrf="x", expires=2**31, principal=Principal.patient(first_patient(demo_town).identifier))
    web_client.cookies.set(COOKIE, SessionCodec(settings).dumps(no_id))
    assert web_client.get("/espace/patient").status_code == 303


def test_the_cookie_is_signed_httponly_lax_and_secure_by_default(demo_town: DemoTown) -> None:
    from parcours.api.app import create_app
    from parcours.store.db import Database

    database = Database(demo_town.url)
    app = create_app(database, web=WebSettings(session_secret="s", demo=True))  # type: ignore[arg-type]
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        page = client.get("/connexion/demo")
        cookie = page.headers["set-cookie"].lower()
        for flag in ("httponly", "secure", "samesite=lax", "max-age="):
            assert flag in cookie
    database.dispose()


def test_a_forged_or_expired_cookie_is_ignored(web_client: TestClient, demo_town: DemoTown) -> None:
    settings = WebSettings(session_secret="another-secret")  # type: ignore[arg-type]
    from parcours.record.identity import Principal

    forged = SessionCodec(settings).dumps(WebSession.signed_in(Principal.patient(first_patient(demo_town).identifier),
                                                               settings))  # fmt: skip
    web_client.cookies.set(COOKIE, forged)
    assert web_client.get("/espace/patient").status_code == 303
    expired = WebSession(csrf="x", expires=1, principal=Principal.patient(first_patient(demo_town).identifier))
    web_client.cookies.set(COOKIE, SessionCodec(WebSettings(session_secret="tests-only-secret")).dumps(expired))  # type: ignore[arg-type]
    assert web_client.get("/espace/patient").status_code == 303


def test_a_form_without_the_csrf_token_is_refused(web_client: TestClient, demo_town: DemoTown) -> None:
    person = first_patient(demo_town)
    web_client.get("/connexion/demo")
    refused = web_client.post("/connexion/demo", data={"person": f"{person.role}:{person.identifier}"})
    assert refused.status_code == 403
    assert "Formulaire refusé" in refused.text
    sign_in(web_client, person)
    assert web_client.post("/deconnexion", data={"csrf_token": "not-the-token"}).status_code == 403
    assert web_client.get("/espace/patient").status_code == 200  # still signed in


def test_signing_in_changes_the_csrf_token(web_client: TestClient, demo_town: DemoTown) -> None:
    before = csrf_of(web_client.get("/connexion/demo").text)
    sign_in(web_client, first_patient(demo_town))
    after = csrf_of(web_client.get("/espace/patient").text)
    assert before != after


def test_no_open_redirect_after_sign_in(web_client: TestClient, demo_town: DemoTown) -> None:
    person = first_patient(demo_town)
    page = web_client.get("/connexion/demo")
    answer = web_client.post("/connexion/demo", data={"csrf_token": csrf_of(page.text), "suite": "//evil.example",
                                                      "person": f"{person.role}:{person.identifier}"})  # fmt: skip
    assert answer.headers["location"] == "/espace/patient"


def test_a_patient_is_refused_the_agents_space(web_client: TestClient, demo_town: DemoTown) -> None:
    sign_in(web_client, first_patient(demo_town))
    assert web_client.get("/espace/agent").status_code == 403


def test_the_demo_sign_in_page_is_off_unless_demo(demo_town: DemoTown) -> None:
    from parcours.api.app import create_app
    from parcours.store.db import Database

    database = Database(demo_town.url)
    app = create_app(database, web=WebSettings(session_secret="s", cookie_secure=False))  # type: ignore[arg-type]
    with TestClient(app, follow_redirects=False) as client:
        assert client.get("/connexion/demo").status_code == 404
        assert "Aucun fournisseur" in client.get("/connexion").text
    database.dispose()
