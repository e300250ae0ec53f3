"""The HL7 FHIR R4 invariants of the record's resources that the ``fhir.resources`` models do not check.

The models check structure and cardinality; the invariants (``constraint`` of the R4 StructureDefinitions) are
FHIRPath expressions, evaluated here with ``fhirpathpy`` on the resource as it will be stored. Source: HL7 FHIR R4
(4.0.1), the "Constraints" table of each resource page (https://hl7.org/fhir/R4/allergyintolerance.html#invs,
condition.html#invs, observation.html#invs, domainresource.html#invs); R4B keeps them unchanged. con-3 is written on
the ``category`` codings (R4's ``category.select($this='problem-list-item')`` compares a CodeableConcept to a string
and never holds).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fhirpathpy import compile as compile_fhirpath
from fhirpathpy.models import models

from parcours.errors import FieldError

ALLERGY_VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"


def _entered_in_error(system: str) -> str:
    return f"verificationStatus.coding.where(system = '{system}' and code = 'entered-in-error')"


@dataclass(frozen=True, slots=True)
class Invariant:
    key: str  # the R4 constraint key, e.g. "ait-1"
    resource_types: frozenset[str] | None  # None: every DomainResource
    expression: str  # FHIRPath, true when the resource meets the invariant
    field: str  # the element to name in the error
    message: str  # French


INVARIANTS: tuple[Invariant, ...] = (
    Invariant("ait-1", frozenset({"AllergyIntolerance"}),
              f"{_entered_in_error(ALLERGY_VERIFICATION)}.exists() or clinicalStatus.exists()", "clinicalStatus",
              "statut clinique requis (clinicalStatus : active, inactive ou resolved), sauf saisie erronée"),
    Invariant("ait-2", frozenset({"AllergyIntolerance"}),
              f"{_entered_in_error(ALLERGY_VERIFICATION)}.empty() or clinicalStatus.empty()", "clinicalStatus",
              "pas de statut clinique pour une allergie saisie par erreur (verificationStatus entered-in-error)"),
    Invariant("con-3", frozenset({"Condition"}),
              f"clinicalStatus.exists() or {_entered_in_error(CONDITION_VERIFICATION)}.exists() or "
              f"category.coding.where(system = '{CONDITION_CATEGORY}' and code = 'problem-list-item').empty()",
              "clinicalStatus", "statut clinique requis pour un problème de la liste des problèmes (clinicalStatus)"),
    Invariant("con-4", frozenset({"Condition"}),
              f"abatement.empty() or clinicalStatus.coding.where(system = '{CONDITION_CLINICAL}' and "
              "(code = 'resolved' or code = 'remission' or code = 'inactive')).exists()", "clinicalStatus",
              "un antécédent terminé (abatement) a pour statut clinique inactive, resolved ou remission"),
    Invariant("con-5", frozenset({"Condition"}),
              f"{_entered_in_error(CONDITION_VERIFICATION)}.empty() or clinicalStatus.empty()", "clinicalStatus",
              "pas de statut clinique pour un antécédent saisi par erreur (verificationStatus entered-in-error)"),
    Invariant("obs-3", frozenset({"Observation"}),
              "referenceRange.all(low.exists() or high.exists() or text.exists())", "referenceRange",
              "un intervalle de référence a au moins une borne (low, high) ou un texte"),
    Invariant("obs-6", frozenset({"Observation"}), "dataAbsentReason.empty() or value.empty()", "dataAbsentReason",
              "raison d'absence de valeur (dataAbsentReason) seulement quand il n'y a pas de valeur"),
    Invariant("obs-7", frozenset({"Observation"}),
              "value.empty() or component.code.where(coding.intersect(%resource.code.coding).exists()).empty()",
              "value", "pas de valeur quand un composant porte le même code que le résultat (component.code)"),
    Invariant("dom-2", None, "contained.contained.empty()", "contained",
              "une ressource contenue ne contient pas d'autres ressources"),
    Invariant("dom-3", None, "contained.all(('#' + id) in %resource.descendants().reference)", "contained",
              "une ressource contenue est référencée ailleurs dans la ressource (#id)"),
    Invariant("dom-4", None, "contained.meta.versionId.empty() and contained.meta.lastUpdated.empty()", "contained",
              "une ressource contenue n'a ni meta.versionId ni meta.lastUpdated"),
    Invariant("dom-5", None, "contained.meta.security.empty()", "contained",
              "une ressource contenue n'a pas d'étiquette de sécurité (meta.security)"),
)  # fmt: skip

_R4 = models["r4"]
_COMPILED = {invariant.key: compile_fhirpath(invariant.expression, _R4) for invariant in INVARIANTS}


def violations(resource: Mapping[str, Any]) -> list[FieldError]:
    """The invariants ``resource`` (FHIR JSON) breaks, each as the element it names and the key of the rule."""
    resource_type = resource.get("resourceType")
    found = []
    for invariant in INVARIANTS:
        if invariant.resource_types is not None and resource_type not in invariant.resource_types:
            continue
        if _COMPILED[invariant.key](dict(resource), {"resource": dict(resource)}) != [True]:
            found.append(FieldError(invariant.field, f"{invariant.message} (invariant FHIR R4 {invariant.key})"))
    return found
