"""The patient's own medical profile: turning the simple forms of the record page into FHIR R4 resources.

What a patient declares is not what a doctor confirmed, so every item they write is marked ``unconfirmed``
(AllergyIntolerance and Condition verification status) or ``patient-reported`` (MedicationStatement information
source is the patient), as Mon Espace Santé does for its "profil médical": the professionals reading it see who
said it. Measures are vital signs coded in LOINC with UCUM units, so that any FHIR client can plot them; their
plausibility bounds catch a typing slip (72 kg typed as 720), not a clinical judgement.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from parcours.errors import FieldError

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
CLINICAL = "http://terminology.hl7.org/CodeSystem/"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"

ITEM_KINDS = {  # form value → (FHIR resource, French label)
    "allergie": ("AllergyIntolerance", "Allergie ou intolérance"),
    "traitement": ("MedicationStatement", "Traitement en cours"),
    "antecedent": ("Condition", "Antécédent ou maladie"),
    "vaccination": ("Immunization", "Vaccination"),
}
ITEM_LABELS = {"item_kind": "Catégorie", "item_text": "Intitulé", "item_date": "Date", "item_note": "Précision"}
MEASURE_LABELS = {"measure": "Mesure", "measure_value": "Valeur", "measure_value_2": "Diastolique",
                  "measure_date": "Date de la mesure"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Measure:
    loinc: str
    label: str
    unit: str  # UCUM code
    shown_unit: str
    low: Decimal
    high: Decimal


MEASURES = {
    "poids": Measure("29463-7", "Poids", "kg", "kg", Decimal("0.3"), Decimal("400")),
    "taille": Measure("8302-2", "Taille", "cm", "cm", Decimal("20"), Decimal("260")),
    "frequence": Measure("8867-4", "Fréquence cardiaque", "/min", "battements/min", Decimal("20"), Decimal("250")),
    "temperature": Measure("8310-5", "Température", "Cel", "°C", Decimal("30"), Decimal("45")),
    "tension": Measure("8480-6", "Tension artérielle", "mm[Hg]", "mmHg", Decimal("50"), Decimal("300")),
}
BLOOD_PRESSURE_PANEL = ("85354-9", "Tension artérielle")
DIASTOLIC = Measure("8462-4", "Diastolique", "mm[Hg]", "mmHg", Decimal("20"), Decimal("200"))


def _day(value: str, field: str, errors: list[FieldError], *, today: dt.date, required: bool) -> dt.date | None:
    if not value:
        if required:
            errors.append(FieldError(field, "indiquez la date"))
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        errors.append(FieldError(field, "date invalide (jj/mm/aaaa)"))
        return None
    if day > today:
        errors.append(FieldError(field, "la date ne peut pas être dans le futur"))
        return None
    return day


def _concept(text: str) -> dict[str, Any]:
    return {"text": text}


def _status(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": CLINICAL + system, "code": code}]}


def item_resource(values: dict[str, str], *, today: dt.date) -> tuple[dict[str, Any] | None, list[FieldError]]:
    """The FHIR resource for one allergy, treatment, past illness or vaccination, or the errors by field."""
    errors: list[FieldError] = []
    kind = values.get("item_kind", "")
    text = values.get("item_text", "").strip()
    note = values.get("item_note", "").strip()
    if kind not in ITEM_KINDS:
        errors.append(FieldError("item_kind", "choisissez une catégorie"))
    if not text:
        errors.append(FieldError("item_text", "indiquez l'intitulé (par exemple « pénicilline »)"))
    day = _day(values.get("item_date", ""), "item_date", errors, today=today, required=kind == "vaccination")
    if errors:
        return None, errors
    resource_type = ITEM_KINDS[kind][0]
    on = day.isoformat() if day else None
    resource: dict[str, Any] = {"resourceType": resource_type}
    if resource_type == "AllergyIntolerance":
        resource |= {"clinicalStatus": _status("allergyintolerance-clinical", "active"),
                     "verificationStatus": _status("allergyintolerance-verification", "unconfirmed"),
                     "code": _concept(text)}  # fmt: skip
        if on:
            resource["onsetDateTime"] = on
    elif resource_type == "MedicationStatement":
        resource |= {"status": "active", "medicationCodeableConcept": _concept(text)}
        if on:
            resource["effectivePeriod"] = {"start": on}
    elif resource_type == "Condition":
        resource |= {"clinicalStatus": _status("condition-clinical", "active"),
                     "verificationStatus": _status("condition-ver-status", "unconfirmed"),
                     "code": _concept(text)}  # fmt: skip
        if on:
            resource["onsetDateTime"] = on
    else:
        resource |= {"status": "completed", "vaccineCode": _concept(text), "occurrenceDateTime": on,
                     "primarySource": False}  # fmt: skip
    if note:
        resource["note"] = [{"text": note}]
    return resource, []


def _quantity(raw: str, measure: Measure, field: str, errors: list[FieldError]) -> dict[str, Any] | None:
    try:
        value = Decimal(raw.replace(",", ".").strip())
    except InvalidOperation:
        errors.append(FieldError(field, "indiquez un nombre (par exemple 72,5)"))
        return None
    if not value.is_finite() or not measure.low <= value <= measure.high:
        errors.append(
            FieldError(
                field, f"valeur hors des limites plausibles ({measure.low} à {measure.high} {measure.shown_unit})"
            )
        )
        return None
    return {"value": float(value), "unit": measure.shown_unit, "system": UCUM, "code": measure.unit}


def measure_resource(values: dict[str, str], *, today: dt.date) -> tuple[dict[str, Any] | None, list[FieldError]]:
    """A vital-signs Observation (LOINC code, UCUM unit); blood pressure is the panel with its two components."""
    errors: list[FieldError] = []
    measure = MEASURES.get(values.get("measure", ""))
    if measure is None:
        errors.append(FieldError("measure", "choisissez une mesure"))
    day = _day(values.get("measure_date", ""), "measure_date", errors, today=today, required=True)
    if measure is None:
        return None, errors
    first = _quantity(values.get("measure_value", ""), measure, "measure_value", errors)
    second = None
    if measure.loinc == MEASURES["tension"].loinc:
        second = _quantity(values.get("measure_value_2", ""), DIASTOLIC, "measure_value_2", errors)
        if first and second and second["value"] >= first["value"]:
            errors.append(FieldError("measure_value_2", "la diastolique est inférieure à la systolique"))
    if errors or day is None or first is None:
        return None, errors
    resource: dict[str, Any] = {
        "resourceType": "Observation", "status": "final",
        "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": "vital-signs", "display": "Vital Signs"}]}],
        "effectiveDateTime": day.isoformat(),
    }  # fmt: skip
    if second is None:
        resource["code"] = {"coding": [{"system": LOINC, "code": measure.loinc}], "text": measure.label}
        resource["valueQuantity"] = first
    else:
        code, label = BLOOD_PRESSURE_PANEL
        resource["code"] = {"coding": [{"system": LOINC, "code": code}], "text": label}
        resource["component"] = [
            {"code": {"coding": [{"system": LOINC, "code": measure.loinc}], "text": "Systolique"},
             "valueQuantity": first},
            {"code": {"coding": [{"system": LOINC, "code": DIASTOLIC.loinc}], "text": "Diastolique"},
             "valueQuantity": second},
        ]  # fmt: skip
    return resource, []


def shown_value(resource: dict[str, Any]) -> str | None:
    """The measure as a patient reads it: « 72.5 kg », « 120/80 mmHg »."""

    def number(quantity: dict[str, Any]) -> str:
        value = quantity.get("value")
        return f"{value:g}".replace(".", ",") if isinstance(value, int | float) else str(value)

    quantity = resource.get("valueQuantity")
    if isinstance(quantity, dict) and "value" in quantity:
        return f"{number(quantity)} {quantity.get('unit', '')}".strip()
    parts = [c["valueQuantity"] for c in resource.get("component") or []
             if isinstance(c, dict) and isinstance(c.get("valueQuantity"), dict)]  # fmt: skip
    if parts and all("value" in p for p in parts):
        return "/".join(number(p) for p in parts) + f" {parts[0].get('unit', '')}".rstrip()
    return None
