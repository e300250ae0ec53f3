"""Typer's own usage errors in French, like every other message of the command.

Typer (which vendors Click since 0.2x, with Click's English strings written in) reports a missing argument, an
unknown option or a value it cannot convert before any of our code runs. The root group translates those errors
before Typer prints them (exit code 2 as before); the pydantic reasons Typer's conversions give are translated by
``parcours.errors.translate``, as the API's are. A message Typer words in a way not known here is kept as it is.
"""

from __future__ import annotations

import enum
import re
from typing import Any

from pydantic import ValidationError
from typer import rich_utils
from typer._click import exceptions as click_errors  # typer.BadParameter is this module's; UsageError is not exported
from typer.core import TyperGroup

from parcours.errors import translate

# Typer's Rich help and error frames read these module strings when they print (its gettext catalogue has no French).
rich_utils.ERRORS_PANEL_TITLE = "Erreur de saisie"
rich_utils.RICH_HELP = "Aide : [blue]'{command_path} {help_option}'[/]"
rich_utils.ABORTED_TEXT = "Interrompu."
rich_utils.DEFAULT_STRING = "[par défaut : {}]"
rich_utils.REQUIRED_LONG_STRING = "[obligatoire]"
rich_utils.COMMANDS_PANEL_TITLE = "Commandes"
rich_utils.ENVVAR_STRING = "[variable d'environnement : {}]"
rich_utils.DEPRECATED_STRING = "(obsolète) "

_NO_SUCH_COMMAND = re.compile(r"^No such command '(?P<name>.*?)'\.(?: Did you mean '(?P<near>.*?)'\?)?$")
_EXTRA = re.compile(r"^Got unexpected extra argument(?:s|\(s\))? \((?P<args>.*)\)$")
_NEEDS_VALUE = re.compile(r"^Option '(?P<option>.*?)' requires an? (?:argument|value)\.?$")


def _name(param: Any) -> str:
    if getattr(param, "param_type_name", "") == "argument":
        return str(getattr(param, "metavar", None) or param.name.upper())
    return " / ".join(param.opts)


def _reason(exc: click_errors.BadParameter) -> str:
    cause = exc.__cause__
    if not isinstance(cause, ValidationError) or not cause.errors():
        return exc.message
    error = cause.errors(include_url=False)[0]
    annotation = getattr(getattr(exc.param, "type_descriptor", None), "annotation", None)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum) and error["type"] == "value_error":
        allowed = ", ".join(str(member.value) for member in annotation)
        return f"« {error['input']} » : valeur non admise (attendu : {allowed})"
    return translate(dict(error))


def french(exc: click_errors.UsageError) -> click_errors.UsageError:
    """The same error, its message in French (the context kept, for Typer's usage line)."""
    message = exc.message
    if isinstance(exc, click_errors.MissingParameter) and exc.param is not None:
        kind = "argument manquant" if getattr(exc.param, "param_type_name", "") == "argument" else "option manquante"
        message = f"{kind} : {_name(exc.param)}"
    elif isinstance(exc, click_errors.BadParameter) and exc.param is not None:
        message = f"valeur invalide pour {_name(exc.param)} : {_reason(exc)}"
    elif isinstance(exc, click_errors.NoSuchOption):
        message = f"option inconnue : {exc.option_name}"
        if exc.possibilities:
            message += f" (vouliez-vous dire {', '.join(sorted(exc.possibilities))} ?)"
    elif match := _NEEDS_VALUE.match(exc.message):
        message = f"l'option {match['option']} attend une valeur"
    elif match := _NO_SUCH_COMMAND.match(exc.message):
        message = f"commande inconnue : {match['name']}"
        if match["near"]:
            message += f" (vouliez-vous dire {match['near']} ?)"
    elif match := _EXTRA.match(exc.message):
        message = f"argument en trop : {match['args']}"
    translated = click_errors.UsageError(message, ctx=exc.ctx)
    translated.exit_code = exc.exit_code
    return translated


class FrenchUsageGroup(TyperGroup):
    """The root command: what goes wrong while the command line is read is said in French. Subcommands are read
    within the root's ``invoke``, so their errors pass here too."""

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click_errors.NoArgsIsHelpError:
            raise
        except click_errors.UsageError as exc:
            raise french(exc) from exc

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except click_errors.NoArgsIsHelpError:
            raise
        except click_errors.UsageError as exc:
            raise french(exc) from exc
