"""Coherence of the record, the médecin traitant's synthesis role: flags, never blocks.

Two checks: two *active* treatments of the same substance written by different prescribers (a duplicate the MT should
reconcile), and the same exam requested again within a short delay (``record.coherence.repeat_exam_days``). A
substance is compared by its ATC code when the treatment is coded so, else by its normalised text; an exam request is
a ``DocumentReference`` whose type is one of ``record.coherence.exam_request_document_types`` and whose
``context.event`` codes the exam.

The checks run on the entries the caller may see, so a flag never reveals a masked document.
"""

from __future__ import annotations

import datetime as dt
import itertools
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from parcours.record.entries import ATC_SYSTEM, ENTRY_KINDS, entry_date, prescriber_identifier
from parcours.rules.params import Snapshot
from parcours.rules.result import ParameterUse

REPEAT_DAYS = "record.coherence.repeat_exam_days"
EXAM_TYPES = "record.coherence.exam_request_document_types"
LOINC_SYSTEM = "http://loinc.org"


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """An entry as the checks see it."""

    id: str
    resource_type: str
    resource: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class CoherenceFlag:
    rule: str  # "duplicate_treatment" or "repeated_exam"
    text: str  # French
    entries: tuple[str, ...]
    parameters: tuple[ParameterUse, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "text": self.text,
            "entries": list(self.entries),
            "parameters": [use.to_dict() for use in self.parameters],
        }


def _normalised(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).casefold().split())


def substance_key(resource: Mapping[str, Any]) -> tuple[str, str] | None:
    """(``atc``, code) for a treatment coded in ATC, else (``text``, normalised name); None when unnamed."""
    concept = resource.get("medicationCodeableConcept")
    if not isinstance(concept, dict):
        return None
    for coding in concept.get("coding") or []:
        if isinstance(coding, dict) and coding.get("system") == ATC_SYSTEM and coding.get("code"):
            return ("atc", str(coding["code"]).upper())
    for coding in concept.get("coding") or []:
        if isinstance(coding, dict) and coding.get("display"):
            return ("text", _normalised(str(coding["display"])))
    if isinstance(concept.get("text"), str) and concept["text"].strip():
        return ("text", _normalised(concept["text"]))
    return None


def _label(resource: Mapping[str, Any], key: tuple[str, str]) -> str:
    concept = resource.get("medicationCodeableConcept") or {}
    for coding in concept.get("coding") or []:
        if isinstance(coding, dict) and coding.get("display"):
            return str(coding["display"])
    return str(concept.get("text") or key[1])


def duplicate_treatments(entries: Iterable[StoredEntry]) -> list[CoherenceFlag]:
    by_substance: dict[tuple[str, str], list[tuple[StoredEntry, str]]] = defaultdict(list)
    for entry in entries:
        if entry.resource_type != "MedicationStatement" or entry.resource.get("status") != "active":
            continue
        key = substance_key(entry.resource)
        prescriber = prescriber_identifier(entry.resource)  # who prescribed, not who recorded it
        if key is not None and prescriber is not None:
            by_substance[key].append((entry, prescriber))
    flags = []
    for key, items in sorted(by_substance.items()):
        prescribers = sorted({prescriber for _, prescriber in items})
        if len(prescribers) < 2:
            continue
        name = _label(items[0][0].resource, key)
        flags.append(
            CoherenceFlag(
                "duplicate_treatment",
                f"{name} : {len(items)} traitements actifs de la même substance prescrits par "
                f"{len(prescribers)} prescripteurs différents ({', '.join(prescribers)})",
                tuple(entry.id for entry, _ in items),
            )
        )
    return flags


def _exam_codes(resource: Mapping[str, Any], request_types: frozenset[str]) -> list[tuple[str, str, str]]:
    type_codes = {
        str(coding.get("code"))
        for coding in (resource.get("type") or {}).get("coding") or []
        if isinstance(coding, dict) and coding.get("system") == LOINC_SYSTEM
    }
    if not type_codes & request_types:
        return []
    exams = []
    for concept in (resource.get("context") or {}).get("event") or []:
        for coding in concept.get("coding") or [] if isinstance(concept, dict) else []:
            if isinstance(coding, dict) and coding.get("code"):
                label = str(coding.get("display") or concept.get("text") or coding["code"])
                exams.append((str(coding.get("system") or ""), str(coding["code"]), label))
    return exams


def repeated_exams(entries: Iterable[StoredEntry], snapshot: Snapshot) -> list[CoherenceFlag]:
    delay = ParameterUse.read(snapshot, REPEAT_DAYS)
    request_types = ParameterUse.read(snapshot, EXAM_TYPES)
    kind = ENTRY_KINDS["DocumentReference"]
    requests: dict[tuple[str, str], list[tuple[dt.datetime, StoredEntry, str]]] = defaultdict(list)
    for entry in entries:
        if entry.resource_type != "DocumentReference" or entry.resource.get("status") != "current":
            continue
        for system, code, label in _exam_codes(entry.resource, request_types.value):
            requests[(system, code)].append((entry_date(kind, entry.resource), entry, label))
    flags = []
    window = dt.timedelta(days=delay.value)
    for _, dated in sorted(requests.items()):
        dated.sort(key=lambda item: item[0])
        for (first_at, first, label), (second_at, second, _) in itertools.pairwise(dated):
            gap = second_at - first_at
            if gap <= window:
                flags.append(
                    CoherenceFlag(
                        "repeated_exam",
                        f"{label} demandé à nouveau {gap.days} jour(s) après la demande du "
                        f"{first_at.date().strftime('%d/%m/%Y')} (délai de vigilance : {delay.value} jours)",
                        (first.id, second.id),
                        (delay, request_types),
                    )
                )
    return flags


def coherence_flags(entries: Iterable[StoredEntry], snapshot: Snapshot) -> list[CoherenceFlag]:
    materialised = list(entries)
    return duplicate_treatments(materialised) + repeated_exams(materialised, snapshot)
