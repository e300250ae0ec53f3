"""Pathway status: the SESAM-Vitale indicator (indicateur de parcours de soins) of a care event.

Written the way the law is: a base rule (out of the pathway, S) and exceptions in priority order, each carrying
the article or page it implements. The facts of an event are reduced to a bit mask; each rule is a pair of masks
(facts that must hold, facts that must not). The same table is evaluated on one event (first matching rule) and
on columns of millions of events (``numpy.select`` over the same masks), so the two cannot drift apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntFlag
from functools import lru_cache
from typing import Literal

import numpy as np
import numpy.typing as npt

from parcours.rules.catalogue import Profession
from parcours.rules.dates import add_months, add_years, age_on
from parcours.rules.event import CareEvent, Specialty
from parcours.rules.money import format_eur, format_rate
from parcours.rules.params import Snapshot, SourceRef, source_refs


class Fact(IntFlag):
    """Boolean facts of an event that the pathway rules read."""

    PHYSICIAN = 1 << 0
    EXCLUDED_REGIME = 1 << 1
    UNDER_MINIMUM_AGE = 1 << 2
    EXCLUDED_SPECIALTY = 1 << 3
    EXCLUDED_CONTEXT = 1 << 4
    EMERGENCY = 1 << 5
    TELECONSULTATION = 1 << 6
    HAS_GP = 1 << 7
    GP_UNAVAILABLE = 1 << 8
    DECLARES_GP = 1 << 9
    IS_GP = 1 << 10
    REPLACING_GP = 1 << 11
    REFERRED_BY_GP = 1 << 12
    AWAY_FROM_HOME = 1 << 13
    REFERRED_BY_OTHER = 1 << 14
    GYNECOLOGY_DIRECT = 1 << 15
    OPHTHALMOLOGY_DIRECT = 1 << 16
    PSYCHIATRY_DIRECT = 1 << 17
    STOMATOLOGY_DIRECT = 1 << 18
    DIRECT_ACCESS = 1 << 19
    RECENTLY_INSTALLED_GP = 1 << 20
    UNDERSERVED_GP = 1 << 21
    ALD_CARE = 1 << 22
    CLAIMS_REFERRAL = 1 << 23
    TELE_DIRECT_SPECIALTY = 1 << 24
    TELE_EXEMPT_INSTITUTION = 1 << 25
    KNOWN_PATIENT = 1 << 26
    TELEEXPERTISE_ONLY = 1 << 27


@dataclass(frozen=True, slots=True)
class PathwayRule:
    """One exception (or the base rule): when it applies, and what it decides."""

    id: str
    indicator: str | None
    in_pathway: bool | None
    when: Fact
    unless: Fact
    sources: tuple[SourceRef, ...]
    text: str

    def matches(self, facts: int) -> bool:
        return facts & self.when == self.when and not facts & self.unless

    def describe(self, p: Snapshot) -> str:
        """The rule's French text with the figures it names read from the parameters in force."""
        return render(self.text, p)


_PLACEHOLDER = re.compile(r"\{([a-z_.]+)\}")


@lru_cache(maxsize=256)
def template_paths(template: str) -> tuple[str, ...]:
    """The parameter paths a text names as ``{path}`` (the figures of the law are never literals in a text)."""
    return tuple(dict.fromkeys(_PLACEHOLDER.findall(template)))


def display(p: Snapshot, path: str) -> str:
    """A parameter's value in force, as French text: 16, 10,60 €, 100 %."""
    unit, value = p.unit(path), p[path]
    if unit == "EUR":
        return format_eur(value)
    if unit == "percent":
        return format_rate(value)
    return str(value)


def render(template: str, p: Snapshot) -> str:
    """``{pathway.minimum_age}`` → ``16``: the value in force on the snapshot's date."""
    if "{" not in template:
        return template
    return _PLACEHOLDER.sub(lambda m: display(p, m.group(1)), template)


F = Fact
_NONE = Fact(0)


class B:
    """The facts as plain ints, to build a fact mask without the enum machinery (``mask |= B.PHYSICIAN``)."""

    PHYSICIAN = int(F.PHYSICIAN)
    EXCLUDED_REGIME = int(F.EXCLUDED_REGIME)
    UNDER_MINIMUM_AGE = int(F.UNDER_MINIMUM_AGE)
    EXCLUDED_SPECIALTY = int(F.EXCLUDED_SPECIALTY)
    EXCLUDED_CONTEXT = int(F.EXCLUDED_CONTEXT)
    EMERGENCY = int(F.EMERGENCY)
    TELECONSULTATION = int(F.TELECONSULTATION)
    HAS_GP = int(F.HAS_GP)
    GP_UNAVAILABLE = int(F.GP_UNAVAILABLE)
    DECLARES_GP = int(F.DECLARES_GP)
    IS_GP = int(F.IS_GP)
    REPLACING_GP = int(F.REPLACING_GP)
    REFERRED_BY_GP = int(F.REFERRED_BY_GP)
    AWAY_FROM_HOME = int(F.AWAY_FROM_HOME)
    REFERRED_BY_OTHER = int(F.REFERRED_BY_OTHER)
    GYNECOLOGY_DIRECT = int(F.GYNECOLOGY_DIRECT)
    OPHTHALMOLOGY_DIRECT = int(F.OPHTHALMOLOGY_DIRECT)
    PSYCHIATRY_DIRECT = int(F.PSYCHIATRY_DIRECT)
    STOMATOLOGY_DIRECT = int(F.STOMATOLOGY_DIRECT)
    DIRECT_ACCESS = int(F.DIRECT_ACCESS)
    RECENTLY_INSTALLED_GP = int(F.RECENTLY_INSTALLED_GP)
    UNDERSERVED_GP = int(F.UNDERSERVED_GP)
    ALD_CARE = int(F.ALD_CARE)
    CLAIMS_REFERRAL = int(F.CLAIMS_REFERRAL)
    TELE_DIRECT_SPECIALTY = int(F.TELE_DIRECT_SPECIALTY)
    TELE_EXEMPT_INSTITUTION = int(F.TELE_EXEMPT_INSTITUTION)
    KNOWN_PATIENT = int(F.KNOWN_PATIENT)
    TELEEXPERTISE_ONLY = int(F.TELEEXPERTISE_ONLY)


RULES: tuple[PathwayRule, ...] = (
    PathwayRule(
        "not_a_physician",
        None,
        None,
        _NONE,
        F.PHYSICIAN,
        source_refs("S5:RG_CF640", "S15b"),
        "Professionnel non médecin (dentiste, sage-femme, auxiliaire, pharmacien…) : hors champ du parcours",
    ),
    PathwayRule(
        "teleexpertise_only",
        None,
        None,
        F.TELEEXPERTISE_ONLY,
        _NONE,
        source_refs("S16a", "R51", "S16m"),
        "Téléexpertise seule (TE2, RQD) : prise en charge à {rates.full} en tiers payant, hors champ du parcours",
    ),
    PathwayRule(
        "excluded_regime",
        None,
        None,
        F.EXCLUDED_REGIME,
        _NONE,
        source_refs("S6", "S5:RG_CF640"),
        "Assuré hors champ du parcours (AME, Mayotte, étranger de passage)",
    ),
    PathwayRule(
        "under_minimum_age",
        None,
        None,
        F.UNDER_MINIMUM_AGE,
        _NONE,
        source_refs("S1", "S5:RG_CF640", "S7"),
        "Patient de moins de {pathway.minimum_age} ans : hors champ du parcours, jamais de majoration",
    ),
    PathwayRule(
        "excluded_specialty",
        "A",
        None,
        F.EXCLUDED_SPECIALTY,
        _NONE,
        source_refs("S9:D162-1-6", "S23"),
        "Acte de biologie médicale ou d'anatomo-pathologie : exclu du parcours (art. D162-1-6 CSS)",
    ),
    PathwayRule(
        "excluded_context",
        "A",
        None,
        F.EXCLUDED_CONTEXT,
        _NONE,
        source_refs("S9:D162-1-6", "S23", "S5"),
        "Situation exclue du parcours par l'art. D162-1-6 CSS (indicateur A)",
    ),
    PathwayRule(
        "emergency",
        "U",
        None,
        F.EMERGENCY,
        _NONE,
        source_refs("S5:RG_CF641", "S1"),
        "Urgence : non concernée par le parcours (indicateur U)",
    ),
    PathwayRule(
        "teleconsultation_without_gp",
        None,
        None,
        F.TELECONSULTATION,
        F.HAS_GP,
        source_refs("S5:RG_CF640", "S10"),
        "Téléconsultation d'un patient sans médecin traitant : exclue du parcours, sans majoration",
    ),
    PathwayRule(
        "teleconsultation_gp_unavailable",
        None,
        None,
        F.TELECONSULTATION | F.GP_UNAVAILABLE,
        _NONE,
        source_refs("S5:RG_CF640", "S10"),
        "Téléconsultation, médecin traitant indisponible : exclue du parcours, sans majoration",
    ),
    PathwayRule(
        "new_gp",
        "N",
        True,
        F.DECLARES_GP,
        _NONE,
        source_refs("S5:RG_CF641", "S6"),
        "Consultation au cours de laquelle le patient déclare ce médecin traitant (indicateur N)",
    ),
    PathwayRule(
        "gp",
        "T",
        True,
        F.IS_GP,
        _NONE,
        source_refs("S1", "S5:RG_CF641"),
        "Consultation du médecin traitant déclaré (indicateur T)",
    ),
    PathwayRule(
        "replacing_gp",
        "R",
        True,
        F.REPLACING_GP | F.HAS_GP,
        _NONE,
        source_refs("S5:RG_CF641", "S23"),
        "Remplaçant du médecin traitant (indicateur R)",
    ),
    PathwayRule(
        "referred_by_gp",
        "O",
        True,
        F.REFERRED_BY_GP | F.HAS_GP,
        _NONE,
        source_refs("S1", "S4", "S5:RG_CF641"),
        "Patient orienté par son médecin traitant vers ce médecin correspondant (indicateur O)",
    ),
    PathwayRule(
        "away_from_home",
        "H",
        True,
        F.AWAY_FROM_HOME,
        _NONE,
        source_refs("S5:RG_CF641"),
        "Consultation hors de la résidence habituelle (indicateur H), avec ou sans médecin traitant",
    ),
    PathwayRule(
        "referred_by_other",
        "M",
        True,
        F.REFERRED_BY_OTHER | F.HAS_GP,
        _NONE,
        source_refs("S5:RG_CF641", "S22"),
        "Patient orienté par un médecin autre que le médecin traitant (indicateur M)",
    ),
    PathwayRule(
        "direct_access_gynecology",
        "D",
        True,
        F.GYNECOLOGY_DIRECT | F.HAS_GP,
        _NONE,
        source_refs("S8", "S1", "S5"),
        "Accès direct spécifique au gynécologue (examens périodiques, dépistage, contraception, "
        "suivi de grossesse, IVG) avec médecin traitant déclaré (indicateur D)",
    ),
    PathwayRule(
        "direct_access_ophthalmology",
        "D",
        True,
        F.OPHTHALMOLOGY_DIRECT | F.HAS_GP,
        _NONE,
        source_refs("S8", "S1", "S5"),
        "Accès direct spécifique à l'ophtalmologue (lunettes, glaucome) avec médecin traitant déclaré (indicateur D)",
    ),
    PathwayRule(
        "direct_access_psychiatry",
        "D",
        True,
        F.PSYCHIATRY_DIRECT | F.HAS_GP,
        _NONE,
        source_refs("S8", "S1", "S5"),
        "Accès direct spécifique au psychiatre ou neuropsychiatre entre {pathway.direct_access.psychiatry_min_age} "
        "et {pathway.direct_access.psychiatry_max_age} ans avec médecin traitant "
        "déclaré (indicateur D)",
    ),
    PathwayRule(
        "direct_access_stomatology",
        "D",
        True,
        F.STOMATOLOGY_DIRECT | F.HAS_GP,
        _NONE,
        source_refs("S8", "S28", "S5"),
        "Accès direct spécifique au stomatologue ou chirurgien oral / maxillo-facial avec médecin traitant "
        "déclaré (indicateur D)",
    ),
    PathwayRule(
        "recently_installed_gp",
        "J",
        True,
        F.RECENTLY_INSTALLED_GP,
        F.HAS_GP,
        source_refs("S22", "S23"),
        "Patient sans médecin traitant chez un généraliste installé depuis moins de "
        "{pathway.recently_installed_gp_years} ans (indicateur J)",
    ),
    PathwayRule(
        "underserved_area_gp",
        "B",
        True,
        F.UNDERSERVED_GP,
        F.HAS_GP,
        source_refs("S22", "S23"),
        "Patient sans médecin traitant chez un généraliste installé en zone sous-dotée (indicateur B)",
    ),
    PathwayRule(
        "ald_protocol",
        "A",
        None,
        F.ALD_CARE,
        _NONE,
        source_refs("S4"),
        "Soins en rapport avec l'ALD prévus au protocole de soins : non concernés par la majoration",
    ),
    PathwayRule(
        "direct_access_without_gp",
        "S",
        False,
        F.DIRECT_ACCESS,
        F.HAS_GP,
        source_refs("S5:RG_CF641", "S8"),
        "Accès direct spécifique sans médecin traitant déclaré : hors parcours (indicateur S)",
    ),
    PathwayRule(
        "referral_without_gp",
        "S",
        False,
        F.CLAIMS_REFERRAL,
        F.HAS_GP,
        source_refs("S5:RG_CF641"),
        "Orientation ou remplacement sans médecin traitant déclaré : hors parcours (indicateur S)",
    ),
)

BASE_RULE = PathwayRule(
    "out_of_pathway",
    "S",
    False,
    _NONE,
    _NONE,
    source_refs("S1", "S4", "S5:RG_CF641"),
    "Aucune exception ne s'applique : consultation hors parcours de soins coordonnés (indicateur S)",
)

ALL_RULES: tuple[PathwayRule, ...] = (*RULES, BASE_RULE)
RULE_INDEX = {rule.id: i for i, rule in enumerate(ALL_RULES)}


@dataclass(frozen=True, slots=True)
class PathwayStatus:
    rule: PathwayRule
    facts: int
    age: int

    @property
    def indicator(self) -> str | None:
        return self.rule.indicator

    @property
    def in_pathway(self) -> bool | None:
        return self.rule.in_pathway

    def has(self, fact: Fact) -> bool:
        return bool(self.facts & fact)


_PSYCHIATRY = frozenset({Specialty.PSYCHIATRY, Specialty.NEUROPSYCHIATRY})


def event_facts(event: CareEvent, p: Snapshot, age: int, teleexpertise_only: bool = False) -> int:
    """The fact mask of one event (the columnar twin is in ``parcours.rules.columnar``).

    ``teleexpertise_only``: every act of the event is a téléexpertise act (the catalogue knows, not the event)."""
    patient, pro = event.patient, event.professional
    specialty = pro.specialty
    has_gp = patient.gp is not None
    reason = event.visit_reason
    mask = 0
    if pro.profession is Profession.PHYSICIAN:
        mask |= B.PHYSICIAN
    if patient.regime.value in p["pathway.excluded_regimes"]:
        mask |= B.EXCLUDED_REGIME
    if age < p["pathway.minimum_age"]:
        mask |= B.UNDER_MINIMUM_AGE
    if specialty is not None and specialty.value in p["pathway.excluded_specialties"]:
        mask |= B.EXCLUDED_SPECIALTY
    if event.excluded_context is not None and event.excluded_context.value in p["pathway.excluded_contexts"]:
        mask |= B.EXCLUDED_CONTEXT
    if event.emergency:
        mask |= B.EMERGENCY
    if event.teleconsultation:
        mask |= B.TELECONSULTATION
    if has_gp:
        mask |= B.HAS_GP
        if pro.rpps is not None and pro.rpps == patient.gp:
            mask |= B.IS_GP
    if event.gp_unavailable:
        mask |= B.GP_UNAVAILABLE
    if event.declares_gp:
        mask |= B.DECLARES_GP
    if event.replacing_gp:
        mask |= B.REPLACING_GP
    if event.referred_by_gp:
        mask |= B.REFERRED_BY_GP
    if event.away_from_home:
        mask |= B.AWAY_FROM_HOME
    if event.referred_by_other_doctor:
        mask |= B.REFERRED_BY_OTHER
    if event.replacing_gp or event.referred_by_gp or event.referred_by_other_doctor:
        mask |= B.CLAIMS_REFERRAL
    if specialty is Specialty.GYNECOLOGY and (
        reason is None or reason.value in p["pathway.direct_access.gynecology_reasons"]
    ):
        mask |= B.GYNECOLOGY_DIRECT | B.DIRECT_ACCESS
    if specialty is Specialty.OPHTHALMOLOGY and (
        reason is None or reason.value in p["pathway.direct_access.ophthalmology_reasons"]
    ):
        mask |= B.OPHTHALMOLOGY_DIRECT | B.DIRECT_ACCESS
    if specialty in _PSYCHIATRY and (
        p["pathway.direct_access.psychiatry_min_age"] <= age <= p["pathway.direct_access.psychiatry_max_age"]
    ):
        mask |= B.PSYCHIATRY_DIRECT | B.DIRECT_ACCESS
    if specialty is not None and specialty.value in p["pathway.direct_access.stomatology_specialties"]:
        mask |= B.STOMATOLOGY_DIRECT | B.DIRECT_ACCESS
    if specialty is Specialty.GENERAL_PRACTICE:
        installed = pro.installed_on
        if installed is not None and event.date < add_years(installed, p["pathway.recently_installed_gp_years"]):
            mask |= B.RECENTLY_INSTALLED_GP
        if pro.underserved_area:
            mask |= B.UNDERSERVED_GP
    if event.ald_care:
        mask |= B.ALD_CARE
    if teleexpertise_only:
        mask |= B.TELEEXPERTISE_ONLY
    if event.teleconsultation:
        mask |= _teleconsultation_facts(event, p)
    return mask


def assumes_known_patient(event: CareEvent) -> bool:
    """A simulated teleconsultation without the date of the last in-person visit: the patient is assumed known to
    the doctor (the usual situation), and the explanation says so; a claim reads the visits from the record."""
    return event.teleconsultation and event.last_in_person_visit is None and not event.in_person_history_on_record


def _teleconsultation_facts(event: CareEvent, p: Snapshot) -> int:
    mask = 0
    specialty = event.professional.specialty
    if specialty is not None and specialty.value in p["pathway.teleconsultation.direct_access_specialties"]:
        mask |= B.TELE_DIRECT_SPECIALTY
    institution = event.patient.institution
    if institution is not None and institution.value in p["pathway.teleconsultation.exempt_institutions"]:
        mask |= B.TELE_EXEMPT_INSTITUTION
    if assumes_known_patient(event) or (
        (seen := event.last_in_person_visit) is not None
        and event.date <= add_months(seen, p["pathway.teleconsultation.known_patient_months"])
    ):
        mask |= B.KNOWN_PATIENT
    return mask


# The rule table as plain ints: IntFlag operators go through the enum machinery, ten times slower than int ones.
_RULE_MASKS: tuple[tuple[int, int, PathwayRule], ...] = tuple((int(r.when), int(r.unless), r) for r in RULES)


def first_matching_rule(facts: int) -> PathwayRule:
    for when, unless, rule in _RULE_MASKS:
        if facts & when == when and not facts & unless:
            return rule
    return BASE_RULE


def pathway_status(event: CareEvent, p: Snapshot, teleexpertise_only: bool = False) -> PathwayStatus:
    age = age_on(event.patient.birth_date, event.date)
    facts = event_facts(event, p, age, teleexpertise_only)
    return PathwayStatus(first_matching_rule(facts), facts, age)


def rule_index_columns(facts: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Index (into ALL_RULES) of the first matching rule for each row of a fact-mask column."""
    conditions = [((facts & int(r.when)) == int(r.when)) & ((facts & int(r.unless)) == 0) for r in RULES]
    return np.select(conditions, list(range(len(RULES))), default=len(RULES)).astype(np.int64)


# Teleconsultation is reimbursed only inside the pathway: oriented by the GP (or an exception) and known patient
# [S10][S11]. The MT's remplaçant stands for the MT (code R), so his teleconsultation needs no orientation; the
# exceptions to the orientation (direct-access specialty, under 16, emergency, MT unavailable, detention, nursing or
# disability home) also waive the "known patient" condition (docs/rules.md, unconfirmed).
TELE_ORIENTATION_OK = (
    F.IS_GP
    | F.REPLACING_GP
    | F.REFERRED_BY_GP
    | F.TELE_DIRECT_SPECIALTY
    | F.UNDER_MINIMUM_AGE
    | F.EMERGENCY
    | F.GP_UNAVAILABLE
    | F.TELE_EXEMPT_INSTITUTION
)
TELE_KNOWN_OK = (
    F.KNOWN_PATIENT
    | F.TELE_DIRECT_SPECIALTY
    | F.UNDER_MINIMUM_AGE
    | F.EMERGENCY
    | F.GP_UNAVAILABLE
    | F.TELE_EXEMPT_INSTITUTION
)
TELECONSULTATION_SOURCES = source_refs("S10", "S11", "R50")


_TELECONSULTATION, _HAS_GP = int(F.TELECONSULTATION), int(F.HAS_GP)
_ORIENTATION_OK, _KNOWN_OK = int(TELE_ORIENTATION_OK), int(TELE_KNOWN_OK)


_KNOWN_WAIVERS = _KNOWN_OK & ~int(F.KNOWN_PATIENT)
_OWN_DOCTOR = int(F.IS_GP | F.REPLACING_GP)


def known_patient_assumption(event: CareEvent, facts: int) -> Literal["assumed", "missing"] | None:
    """Whether a simulated teleconsultation without ``last_in_person_visit`` needs that fact: "assumed" when the
    doctor is the patient's MT (or his remplaçant), who usually knows the patient, "missing" for another doctor
    (the caller must give the date), None when the fact is given, on record or waived by an exception."""
    if not assumes_known_patient(event) or not facts & _HAS_GP or facts & _KNOWN_WAIVERS:
        return None
    return "assumed" if facts & _OWN_DOCTOR else "missing"


def teleconsultation_refusal(facts: int) -> str | None:
    """Why a teleconsultation cannot be reimbursed, or None when it can (or is not one)."""
    if not facts & _TELECONSULTATION:
        return None
    no_gp = not facts & _HAS_GP
    if not (no_gp or facts & _ORIENTATION_OK):
        return "teleconsultation_not_oriented"
    if not (no_gp or facts & _KNOWN_OK):
        return "teleconsultation_unknown_patient"
    return None


def describe_facts(facts: int) -> list[str]:
    return [f.name.lower() for f in Fact if f.name and facts & f]
