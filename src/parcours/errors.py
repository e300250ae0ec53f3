"""Turn validation failures into French messages that name the field, for the CLI (exit 2) and the API (422).

Pydantic reports errors with a location (``('acts', 0, 'code')``) and an English message; people using parcours
read French, so the common error types are translated and the location becomes a dotted field name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

_MESSAGES = {
    "missing": "champ requis",
    "extra_forbidden": "champ inconnu",
    "date_from_datetime_parsing": "date invalide (format attendu AAAA-MM-JJ)",
    "date_parsing": "date invalide (format attendu AAAA-MM-JJ)",
    "date_type": "date invalide (format attendu AAAA-MM-JJ)",
    "date_from_datetime_inexact": "date invalide (format attendu AAAA-MM-JJ)",
    "finite_number": "nombre fini attendu",
    "float_type": "nombre attendu",
    "bool_parsing": "true ou false attendu",
    "bool_type": "true ou false attendu",
    "int_parsing": "nombre entier attendu",
    "int_type": "nombre entier attendu",
    "decimal_parsing": "nombre attendu",
    "decimal_type": "nombre attendu",
    "float_parsing": "nombre attendu",
    "string_type": "texte attendu",
    "list_type": "liste attendue",
    "dict_type": "objet attendu",
    "model_type": "objet attendu",
    "json_invalid": "JSON invalide",
    "greater_than_equal": "doit être supérieur ou égal à {ge}",
    "greater_than": "doit être supérieur à {gt}",
    "less_than_equal": "doit être inférieur ou égal à {le}",
    "too_short": "trop court (au moins {min_length})",
    "too_long": "trop long (au plus {max_length})",
    "string_too_short": "trop court (au moins {min_length} caractères)",
    "string_too_long": "trop long (au plus {max_length} caractères)",
    "decimal_max_places": "au plus {decimal_places} décimales",
    "decimal_max_digits": "au plus {max_digits} chiffres",
    "enum": "valeur non admise (attendu : {expected})",
    "literal_error": "valeur non admise (attendu : {expected})",
}


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field} : {self.message}"

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


def field_name(location: tuple[Any, ...]) -> str:
    parts = [
        str(part) for part in location if part not in ("body", "query", "path", "function-after", "function-before")
    ]
    return ".".join(parts) or "(racine)"


def translate(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    template = _MESSAGES.get(kind)
    if template is not None:
        try:
            return template.format(**(error.get("ctx") or {}))
        except (KeyError, IndexError):
            return template.split(" (")[0]
    message = str(error.get("msg", "valeur invalide"))
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message


def field_errors(exc: ValidationError, prefix: tuple[Any, ...] = ()) -> list[FieldError]:
    return [FieldError(field_name((*prefix, *error["loc"])), translate(dict(error))) for error in exc.errors()]
