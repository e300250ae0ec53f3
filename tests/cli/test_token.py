"""`parcours token`: issue a local token for each role, verify it, show the public key; bad input exits 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from parcours.cli import app
from parcours.rules.identifiers import nir_with_key

runner = CliRunner()
NIR = nir_with_key("1850475123456")


@pytest.fixture(autouse=True)
def key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "key.pem"
    monkeypatch.setenv("PARCOURS_AUTH_LOCAL_KEY_FILE", str(path))
    return path


@pytest.mark.parametrize(
    ("options", "role", "identifier"),
    [
        (["--patient", NIR], "patient", NIR),
        (["--professional", "10101010105", "--name", "Dr Claire Martin"], "professional", "10101010105"),
        (["--agent", "agent-042", "--organisation", "CPAM 75"], "insurer_agent", "agent-042"),
        (["--admin", "ops"], "administrator", "ops"),
    ],
)
def test_issue_then_verify(options: list[str], role: str, identifier: str) -> None:
    issued = runner.invoke(app, ["token", "issue", *options])
    assert issued.exit_code == 0, issued.output
    token = issued.stdout.strip()
    assert token.count(".") == 2
    checked = runner.invoke(app, ["token", "verify", token])
    assert checked.exit_code == 0, checked.output
    data = json.loads(checked.stdout)
    assert (data["role"], data["identifier"]) == (role, identifier)


def test_the_key_is_created_once(key_file: Path) -> None:
    runner.invoke(app, ["token", "issue", "--admin", "ops"])
    first = key_file.read_bytes()
    runner.invoke(app, ["token", "issue", "--admin", "ops"])
    assert key_file.read_bytes() == first


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ([], "rôle"),
        (["--patient", NIR, "--admin", "ops"], "rôle"),
        (["--patient", "185047512345699"], "--patient"),
        (["--professional", "10101010104"], "--professional"),
        (["--agent", "agent-042"], "--organisation"),
        (["--admin", "a b"], "--admin"),
    ],
)
def test_bad_input_exits_2_naming_the_field(options: list[str], field: str) -> None:
    result = runner.invoke(app, ["token", "issue", *options])
    assert result.exit_code == 2
    assert field in result.stderr


def test_verify_refuses_a_bad_token() -> None:
    result = runner.invoke(app, ["token", "verify", "not-a-token"])
    assert result.exit_code == 2
    assert "jeton" in result.stderr


def test_jwks_shows_the_public_key_only() -> None:
    result = runner.invoke(app, ["token", "jwks"])
    assert result.exit_code == 0
    (key,) = json.loads(result.stdout)["keys"]
    assert (key["kty"], key["crv"], key["alg"]) == ("EC", "P-256", "ES256")
    assert "d" not in key


def test_issuing_says_when_the_api_would_not_accept_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PARCOURS_AUTH_LOCAL_ISSUER_ENABLED", raising=False)
    quiet = runner.invoke(app, ["token", "issue", "--admin", "ops"])
    assert quiet.exit_code == 0
    assert "--demo" in quiet.stderr
    monkeypatch.setenv("PARCOURS_AUTH_LOCAL_ISSUER_ENABLED", "true")
    assert runner.invoke(app, ["token", "issue", "--admin", "ops"]).stderr == ""
