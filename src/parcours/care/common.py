"""Lookups shared by the coordination services."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import lru_cache
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from parcours.care.errors import CareError, not_found
from parcours.rules.identifiers import validate_nir, validate_rpps
from parcours.rules.params import ParameterSet, Snapshot, default_parameters
from parcours.store.models import Patient, Professional

Nir = Annotated[str, AfterValidator(validate_nir)]
Rpps = Annotated[str, AfterValidator(validate_rpps)]

Row = TypeVar("Row", Patient, Professional)


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


@lru_cache(maxsize=1)
def parameters() -> ParameterSet:
    return default_parameters()


def law(on: dt.date) -> Snapshot:
    return parameters().at(on)


def today() -> dt.date:
    return dt.date.today()


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def get_patient(session: Session, patient_id: str, field: str = "patient_id", *, lock: bool = False) -> Patient:
    query = select(Patient).where(Patient.id == patient_id)
    if lock:
        query = query.with_for_update()
    patient = session.scalars(query).one_or_none()
    if patient is None:
        raise not_found(field, "patient")
    return patient


def patient_by_nir(session: Session, nir: str) -> Patient | None:
    return session.scalars(select(Patient).where(Patient.nir == nir)).one_or_none()


def get_professional(session: Session, professional_id: str, field: str = "professional_id") -> Professional:
    professional = session.get(Professional, professional_id)
    if professional is None:
        raise not_found(field, "professionnel")
    return professional


def professional_by_rpps(session: Session, rpps: str, field: str) -> Professional:
    professional = session.scalars(select(Professional).where(Professional.rpps == rpps)).one_or_none()
    if professional is None:
        raise CareError(field, f"aucun professionnel enregistré avec le RPPS {rpps}", "not_found")
    return professional


def age_on(birth_date: dt.date, on: dt.date) -> int:
    return on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))


def paginate(
    session: Session, query: Select[Any], order: Sequence[Any], offset: int, limit: int
) -> tuple[list[Any], int]:
    """One page of ``query`` in a stable order, and the number of rows in all pages."""
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    return list(session.scalars(query.order_by(*order).offset(offset).limit(limit))), total
