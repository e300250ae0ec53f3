"""Errors of the coordination services: each names the field at fault and says, in French, what is wrong.

``kind`` tells the API which status to answer (422 invalid, 404 not found, 409 conflict, 403 forbidden); the CLI
exits with 2 for all of them.
"""

from __future__ import annotations

from typing import Literal

ErrorKind = Literal["invalid", "not_found", "conflict", "forbidden"]


class CareError(Exception):
    def __init__(self, field: str, message: str, kind: ErrorKind = "invalid") -> None:
        super().__init__(f"{field} : {message}")
        self.field = field
        self.message = message
        self.kind = kind


def not_found(field: str, what: str) -> CareError:
    return CareError(field, f"{what} introuvable", "not_found")
