"""Patients (NIR, identity, coverage facts, mutuelle contract) and professionals (RPPS, profession, practice)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from parcours.care.common import Input, Nir, Rpps, get_patient, get_professional
from parcours.care.errors import CareError
from parcours.record.entries import INS_NIR_DEMO_SYSTEM, INS_NIR_TEST_SYSTEM
from parcours.rules.catalogue import Profession
from parcours.rules.contracts.model import catalogue_names
from parcours.rules.event import Regime, Specialty
from parcours.store.models import AldPeriod, Patient, Pregnancy, Professional

Sex = Literal["female", "male", "other", "unknown"]
SyntheticNirSystem = Literal["urn:oid:1.2.250.1.213.1.4.10", "urn:oid:1.2.250.1.213.1.4.11"]
assert set(get_args(SyntheticNirSystem)) == {INS_NIR_TEST_SYSTEM, INS_NIR_DEMO_SYSTEM}

# NIR rules (INSEE): the first digit is the sex (1 man, 2 woman; 3/4 and 7/8 for provisional numbers), then the
# year and month of birth; a month of 20 or more stands for an unknown month.
_NIR_SEX = {"1": "male", "3": "male", "7": "male", "2": "female", "4": "female", "8": "female"}
_SEX_FR = {"male": "un homme", "female": "une femme"}
_UNKNOWN_MONTH_FROM = 20


class AldIn(Input):
    label: str = Field(min_length=1, max_length=200, description="Affection de longue durée")
    start: dt.date
    end: dt.date | None = None


class PregnancyIn(Input):
    start: dt.date
    delivery: dt.date | None = None


class CoverageIn(Input):
    regime: Regime = Regime.GENERAL
    c2s: bool = False
    mutuelle_contract: str | None = Field(
        default=None, max_length=100, description="Contrat de la mutuelle : un nom du catalogue (GET /api/contracts)"
    )
    ald: list[AldIn] = Field(default_factory=list)
    pregnancies: list[PregnancyIn] = Field(default_factory=list)

    @field_validator("mutuelle_contract")
    @classmethod
    def _known_contract(cls, name: str | None) -> str | None:
        if name is not None and name not in catalogue_names():
            raise ValueError(f"contrat inconnu : {name} (contrats du catalogue : {', '.join(catalogue_names())})")
        return name


class PatientIn(CoverageIn):
    nir: Nir
    family_name: str = Field(min_length=1, max_length=100)
    given_name: str = Field(min_length=1, max_length=100)
    birth_date: dt.date
    sex: Sex
    nir_system: SyntheticNirSystem | None = Field(
        default=None,
        description="Personnes fictives seulement (administrateur) : OID INS-NIR de test (…1.4.10) ou de démo (…1.4.11)",
    )


def check_nir_against_person(nir: str, sex: str, birth_date: dt.date) -> None:
    """The NIR spells the sex and the year and month of birth: they must agree with the person."""
    nir_sex = _NIR_SEX.get(nir[0])
    if sex in _SEX_FR and nir_sex is not None and nir_sex != sex:
        raise CareError("sex", f"le NIR commence par {nir[0]} ({_SEX_FR[nir_sex]}) : le sexe déclaré ne correspond pas")
    if int(nir[1:3]) != birth_date.year % 100:
        raise CareError(
            "birth_date", f"l'année de naissance du NIR ({nir[1:3]}) ne correspond pas à la date de naissance"
        )
    month = int(nir[3:5])
    if 1 <= month <= 12:
        if month != birth_date.month:
            raise CareError(
                "birth_date", f"le mois de naissance du NIR ({nir[3:5]}) ne correspond pas à la date de naissance"
            )
    elif month < _UNKNOWN_MONTH_FROM:
        raise CareError("nir", f"mois de naissance du NIR invalide ({nir[3:5]})")


class View(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class AldView(View):
    label: str
    start: dt.date
    end: dt.date | None


class PregnancyView(View):
    start: dt.date
    delivery: dt.date | None


class PatientView(View):
    id: str
    nir: str
    nir_system: str | None
    family_name: str
    given_name: str
    birth_date: dt.date
    sex: str
    regime: str
    c2s: bool
    mutuelle_contract: str | None
    ald_periods: list[AldView]
    pregnancies: list[PregnancyView]


class ProfessionalIn(Input):
    rpps: Rpps
    family_name: str = Field(min_length=1, max_length=100)
    given_name: str = Field(min_length=1, max_length=100)
    profession: Profession = Profession.PHYSICIAN
    specialty: Specialty | None = None
    sector: Literal["1", "2", "3"] = "1"
    optam: bool = False
    installed_on: dt.date | None = None
    underserved_area: bool = False
    practice_name: str | None = Field(default=None, max_length=200)
    practice_address: str | None = Field(default=None, max_length=200)
    practice_postcode: str | None = Field(default=None, pattern=r"^(\d{5}|2[AB]\d{3})$")
    practice_city: str | None = Field(default=None, max_length=100)

    @model_validator(mode="after")
    def _specialty_for_physicians(self) -> ProfessionalIn:
        if self.profession is Profession.PHYSICIAN and self.specialty is None:
            raise ValueError("la spécialité est obligatoire pour un médecin (specialty)")
        if self.profession is not Profession.PHYSICIAN and self.specialty is not None:
            raise ValueError("seuls les médecins ont une spécialité (specialty)")
        return self


class ProfessionalView(View):
    id: str
    rpps: str
    family_name: str
    given_name: str
    profession: str
    specialty: str | None
    sector: str
    optam: bool
    installed_on: dt.date | None
    underserved_area: bool
    practice_name: str | None
    practice_address: str | None
    practice_postcode: str | None
    practice_city: str | None
    active: bool


def _apply_coverage(patient: Patient, coverage: CoverageIn) -> None:
    for ald in coverage.ald:
        if ald.end is not None and ald.end < ald.start:
            raise CareError("ald", "la fin de l'ALD précède son début")
    patient.regime = coverage.regime.value
    patient.c2s = coverage.c2s
    patient.mutuelle_contract = coverage.mutuelle_contract
    patient.ald_periods = [AldPeriod(label=a.label, start=a.start, end=a.end) for a in coverage.ald]
    patient.pregnancies = [Pregnancy(start=p.start, delivery=p.delivery) for p in coverage.pregnancies]


def create_patient(session: Session, data: PatientIn) -> Patient:
    check_nir_against_person(data.nir, data.sex, data.birth_date)
    if session.scalar(select(Patient.id).where(Patient.nir == data.nir)) is not None:
        raise CareError("nir", "un patient est déjà enregistré avec ce NIR", "conflict")
    patient = Patient(
        nir=data.nir,
        family_name=data.family_name,
        given_name=data.given_name,
        birth_date=data.birth_date,
        sex=data.sex,
        nir_system=data.nir_system,
    )
    _apply_coverage(patient, data)
    session.add(patient)
    try:
        session.flush()
    except IntegrityError:
        raise CareError("nir", "un patient est déjà enregistré avec ce NIR", "conflict") from None
    return patient


def update_coverage(session: Session, patient_id: str, coverage: CoverageIn) -> Patient:
    patient = get_patient(session, patient_id)
    _apply_coverage(patient, coverage)
    session.flush()
    return patient


def list_patients(
    session: Session,
    *,
    family_name: str | None = None,
    offset: int = 0,
    limit: int = 50,
    restrict: Callable[[Select[tuple[Patient]]], Select[tuple[Patient]]] | None = None,
) -> tuple[list[Patient], int]:
    """Patients by name; ``restrict`` narrows the query to those the caller may see."""
    query = select(Patient) if restrict is None else restrict(select(Patient))
    if family_name:
        query = query.where(func.lower(Patient.family_name).startswith(family_name.lower()))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(Patient.family_name, Patient.given_name, Patient.id).offset(offset).limit(limit)
    )
    return list(rows), total


def create_professional(session: Session, data: ProfessionalIn) -> Professional:
    if session.scalar(select(Professional.id).where(Professional.rpps == data.rpps)) is not None:
        raise CareError("rpps", "un professionnel est déjà enregistré avec ce RPPS", "conflict")
    professional = Professional(
        **data.model_dump(exclude={"profession", "specialty"}),
        profession=data.profession.value,
        specialty=data.specialty.value if data.specialty else None,
    )
    session.add(professional)
    try:
        session.flush()
    except IntegrityError:
        raise CareError("rpps", "un professionnel est déjà enregistré avec ce RPPS", "conflict") from None
    return professional


def list_professionals(
    session: Session,
    *,
    profession: str | None = None,
    specialty: str | None = None,
    postcode: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[Professional], int]:
    query = select(Professional)
    if profession:
        query = query.where(Professional.profession == profession)
    if specialty:
        query = query.where(Professional.specialty == specialty)
    if postcode:
        query = query.where(Professional.practice_postcode == postcode)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Professional.family_name, Professional.id).offset(offset).limit(limit))
    return list(rows), total


__all__ = ["get_patient", "get_professional"]
