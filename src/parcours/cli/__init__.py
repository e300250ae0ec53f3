"""The ``parcours`` command. Each group of subcommands lives in its own module and registers itself here."""

from __future__ import annotations

import typer

from parcours.cli import audit, batch, contracts, params, simulate, store, token
from parcours.cli.usage import FrenchUsageGroup

app = typer.Typer(
    name="parcours",
    cls=FrenchUsageGroup,
    help="parcours — le parcours de soins coordonnés, de la règle au remboursement.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """parcours — le parcours de soins coordonnés, de la règle au remboursement."""


simulate.register(app)
contracts.register(app)
params.register(app)
store.register(app)
token.register(app)
audit.register(app)
batch.register(app)


def main() -> None:  # pragma: no cover - console entry point
    app()
