"""What goes wrong while the command line is read (before any of our code runs) is said in French, naming the
argument or option, with exit code 2 — as the command's own input errors are."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from parcours.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["batch", "adjudicate", "a", "b", "--output-layout", "x"],
         "valeur invalide pour --output-layout : « x » : valeur non admise (attendu : file, parts)"),
        (["batch", "adjudicate", "a", "b", "--engine", "dask"],
         "valeur invalide pour --engine : « dask » : valeur non admise (attendu : local, spark)"),
        (["batch", "adjudicate", "a", "b", "--workers", "0"], "valeur invalide pour --workers / -w : doit être supérieur ou égal à 1"),
        (["batch", "adjudicate", "a", "b", "--workers", "deux"], "valeur invalide pour --workers / -w : nombre entier attendu"),
        (["batch", "adjudicate", "a", "b", "--workers"], "l'option --workers attend une valeur"),
        (["batch", "adjudicate"], "argument manquant : CLAIMS"),
        (["batch", "adjudicate", "a", "b", "--nope"], "option inconnue : --nope"),
        (["batch", "adjudicate", "a", "b", "c"], "argument en trop : c"),
        (["batchh"], "commande inconnue : batchh (vouliez-vous dire batch ?)"),
        (["batch", "adjudicat"], "commande inconnue : adjudicat (vouliez-vous dire adjudicate ?)"),
        (["--nope"], "option inconnue : --nope"),
    ],
)  # fmt: skip
def test_usage_errors_are_in_french_and_name_what_is_wrong(args: list[str], message: str) -> None:
    result = runner.invoke(app, args, terminal_width=200)
    assert result.exit_code == 2
    assert message in " ".join(result.output.replace("│", " ").split())  # the panel wraps its text
    assert "Erreur de saisie" in result.output
    for english in ("Invalid value", "Missing argument", "No such", "Got unexpected", "requires an", "Error"):
        assert english not in result.output


def test_help_still_answers_and_is_framed_in_french() -> None:
    result = runner.invoke(app, ["batch", "generate", "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert "[par défaut : 100k]" in result.output
    assert "[obligatoire]" in result.output
    bare = runner.invoke(app, [])  # no arguments: the help, not an error
    assert "Commandes" in bare.output
    assert "Erreur de saisie" not in bare.output
