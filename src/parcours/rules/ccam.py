"""The CCAM release: reading the file the Assurance Maladie publishes and merging it into parcours's data. Pure.

The CCAM (classification commune des actes médicaux, Livre II of the UNCAM decision) is published on ameli with
each version as a table of acts, one row per act, activity and phase, giving the act's text, its tariff on each
tariff grid (grid 1: secteur 1 and OPTAM/OPTAM-CO doctors; grid 2: the other doctors) and its regroupement code.
``parse_release`` reads that table saved as CSV (``;`` separated, as ameli's spreadsheet exports it, French
decimal commas, UTF-8 or Windows-1252); ``merge_release`` adds it to

- the nomenclature (``nomenclature/ccam.yaml``): code → label, category, professions, regroupement;
- the dated tariffs (``parameters/tariffs/ccam.yaml``): one parameter per act and grid, a new dated value when a
  version changes the tariff, each value citing the version it comes from.

What is already there is kept (earlier values, their sources, notes and unconfirmed flags), so importing each new
version in turn builds the history of every tariff. ``parcours params import-ccam`` does the file reading and
writing (docs/rules.md, "CCAM").
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from parcours.rules.catalogue import CCAM_GRIDS, Category, Profession

# Regroupement codes of the release and the kind of care parcours files them under; a regroupement not listed
# here must be given a category on the command line (``--category CODE=category``).
REGROUPEMENTS: dict[str, Category] = {
    "ADI": Category.TECHNICAL_ACT,  # actes d'imagerie (radiologie, scanographie, IRM…)
    "ADE": Category.TECHNICAL_ACT,  # actes d'échographie
    "ATM": Category.TECHNICAL_ACT,  # actes techniques médicaux (ECG, endoscopies…)
    "ADC": Category.TECHNICAL_ACT,  # actes de chirurgie (dont la petite chirurgie)
    "ACO": Category.TECHNICAL_ACT,  # actes d'obstétrique
}
PROFESSIONS: dict[Category, list[Profession]] = {
    Category.TECHNICAL_ACT: [Profession.PHYSICIAN],
    Category.DENTAL_CARE: [Profession.DENTIST],
}
NOT_COVERED = "non pris en charge"
GRID_LABELS = {
    CCAM_GRIDS[0]: "Tarif de la grille 1 : médecins de secteur 1 et adhérents OPTAM/OPTAM-CO",
    CCAM_GRIDS[1]: "Tarif de la grille 2 : médecins de secteur 2 non adhérents OPTAM/OPTAM-CO",
}

# Normalised header (lower case, no accents, letters and digits only) → field.
_HEADERS = {
    "code": "code",
    "codeacte": "code",
    "texte": "label",
    "libelle": "label",
    "activite": "activity",
    "phase": "phase",
    "regroupement": "regroupement",
}


class CcamFormatError(ValueError):
    """The release file breaks the format; ``field`` names the line and column (``ligne 4, Tarif …``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field} : {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class CcamRow:
    """One act of the release (activity 1, phase 0: the act itself), tariffs in cents by grid (None: not covered)."""

    code: str
    label: str
    regroupement: str
    tariffs: dict[str, int | None]


@dataclass(slots=True)
class MergeReport:
    added: list[str] = field(default_factory=list)  # acts new to the nomenclature
    changed: list[str] = field(default_factory=list)  # "CODE.grid" whose tariff changes on the date of effect
    unchanged: int = 0
    not_covered: list[str] = field(default_factory=list)  # acts the release lists without a tariff (skipped)


def _normalise(header: str) -> str:
    text = unicodedata.normalize("NFKD", header).encode("ascii", "ignore").decode().lower()
    return "".join(ch for ch in text if ch.isalnum())


def _field_of(header: str) -> str | None:
    key = _normalise(header)
    if key in _HEADERS:
        return _HEADERS[key]
    if key.startswith("tarif"):
        # "Tarif secteur 1/OPTAM" is grid 1; "Tarif hors secteur 1/hors OPTAM" (or "non adhérents") is grid 2.
        return CCAM_GRIDS[1] if ("hors" in key or "nonadherent" in key) else CCAM_GRIDS[0]
    return None


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252")


def _amount(raw: str, where: str) -> int | None:
    text = raw.strip().replace("\u00a0", "").replace(" ", "").replace("€", "")
    if not text or _normalise(raw) == _normalise(NOT_COVERED):
        return None
    try:
        value = Decimal(text.replace(",", "."))
    except InvalidOperation:
        raise CcamFormatError(where, f"montant invalide : {raw!r}") from None
    if value < 0 or value != value.quantize(Decimal("0.01")):
        raise CcamFormatError(where, f"montant invalide : {raw!r}")
    return int(value * 100)


def parse_release(data: bytes) -> list[CcamRow]:
    """The acts of a release file (activity 1, phase 0), in file order. Rows of other activities (4: anaesthesia)
    or phases are the same acts' other parts: skipped."""
    reader = csv.reader(io.StringIO(_decode(data)), delimiter=";")
    header = next(reader, None)
    if header is None:
        raise CcamFormatError("fichier", "fichier vide")
    fields = [_field_of(name) for name in header]
    missing = {"code", "label", "regroupement", *CCAM_GRIDS} - set(fields)
    if missing:
        raise CcamFormatError("ligne 1", f"colonnes absentes : {', '.join(sorted(missing))}")
    rows: list[CcamRow] = []
    seen: set[str] = set()
    for number, cells in enumerate(reader, start=2):
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) < len(header):
            raise CcamFormatError(f"ligne {number}", f"{len(cells)} colonnes au lieu de {len(header)}")
        values = {name: cells[i].strip() for i, name in enumerate(fields) if name is not None}
        if values.get("activity", "1") not in ("", "1") or values.get("phase", "0") not in ("", "0"):
            continue
        code = values["code"].upper()
        if len(code) != 7 or not (code[:4].isalpha() and code[4:].isdigit()):
            raise CcamFormatError(f"ligne {number}, Code", f"code CCAM invalide : {values['code']!r}")
        if code in seen:
            raise CcamFormatError(f"ligne {number}, Code", f"acte {code} en double")
        seen.add(code)
        if not values["label"]:
            raise CcamFormatError(f"ligne {number}, Texte", "libellé vide")
        tariffs = {}
        for i, name in enumerate(fields):
            if name in CCAM_GRIDS:
                tariffs[name] = _amount(cells[i], f"ligne {number}, {header[i]}")
        rows.append(CcamRow(code, values["label"], values["regroupement"].upper(), tariffs))
    return rows


def _in_force(values: Mapping[Any, Any], on: dt.date) -> Any:
    starts = sorted(d for d in values if d <= on)
    return values[starts[-1]]["value"] if starts else None


def merge_release(
    nomenclature: Mapping[str, Any],
    tariffs: Mapping[str, Any],
    rows: Iterable[CcamRow],
    *,
    effective: dt.date,
    source: str,
    version: str,
    categories: Mapping[str, Category] | None = None,
    codes: set[str] | None = None,
) -> tuple[dict[str, Any], dict[str, Any], MergeReport]:
    """The nomenclature and tariff trees (as the YAML files hold them) with the release added on ``effective``.

    ``codes`` limits the import to some acts; ``categories`` files regroupements that ``REGROUPEMENTS`` does not
    know. A tariff already in force with the same value on that date adds nothing."""
    mapping = {**REGROUPEMENTS, **(categories or {})}
    acts = {code: dict(act) for code, act in (nomenclature.get("acts") or {}).items()}
    tree = dict(tariffs.items())
    tree.setdefault(
        "description", "Tarifs des actes de la CCAM par grille tarifaire (écrits par parcours params import-ccam)"
    )
    report = MergeReport()
    note = f"CCAM version {version}"
    for row in rows:
        if codes is not None and row.code not in codes:
            continue
        if all(value is None for value in row.tariffs.values()):
            report.not_covered.append(row.code)
            continue
        category = mapping.get(row.regroupement)
        if category is None:
            raise CcamFormatError(
                f"acte {row.code}, Regroupement",
                f"regroupement {row.regroupement!r} sans catégorie connue (option --category {row.regroupement}=…)",
            )
        if row.code not in acts:
            report.added.append(row.code)
        acts[row.code] = {
            **acts.get(row.code, {}),
            "label": row.label,
            "category": category.value,
            "professions": [p.value for p in PROFESSIONS.get(category, [Profession.PHYSICIAN])],
            "regroupement": row.regroupement,
        }
        node = dict(tree.get(row.code) or {})
        node["description"] = row.label
        for grid in CCAM_GRIDS:
            cents = row.tariffs.get(grid)
            if cents is None:  # the grid column is empty: the other grid's tariff applies
                cents = next(v for v in row.tariffs.values() if v is not None)
            leaf = dict(node.get(grid) or {})
            leaf.setdefault("description", GRID_LABELS[grid])
            leaf.setdefault("unit", "EUR")
            values = dict(leaf.get("values") or {})
            euros = cents / 100
            if _in_force(values, effective) == euros:
                report.unchanged += 1
                continue
            values[effective] = {"value": euros, "sources": [source], "note": note}
            leaf["values"] = dict(sorted(values.items()))
            node[grid] = leaf
            report.changed.append(f"{row.code}.{grid}")
        tree[row.code] = node
    return {"acts": dict(sorted(acts.items()))}, tree, report
