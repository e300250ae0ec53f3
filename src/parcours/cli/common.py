"""Helpers shared by the subcommands: reading JSON input, reporting errors with exit code 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console

from parcours.errors import FieldError

INPUT_ERROR = 2

console = Console()
error_console = Console(stderr=True)


def fail(errors: list[FieldError] | FieldError | str) -> NoReturn:
    """Print what is wrong, field by field, and exit with code 2 (bad input)."""
    items = errors if isinstance(errors, list) else [errors]
    error_console.print("[bold red]Erreur de saisie[/]")
    for item in items:
        error_console.print(f"  • {item}", highlight=False, markup=False)
    raise typer.Exit(INPUT_ERROR)


def read_json(source: str) -> Any:
    """Read JSON from a file path, or from standard input when ``source`` is ``-``."""
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        fail(FieldError("fichier", f"lecture impossible de {source} : {exc.strerror}"))
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        fail(FieldError("fichier", f"JSON invalide ligne {exc.lineno}, colonne {exc.colno} : {exc.msg}"))


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
