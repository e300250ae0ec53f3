"""Claims (feuilles de soins): the service looks up the facts on the date of care — the médecin traitant that day,
the referral covering the visit, the coverage, what the patient already paid this year — runs the rules engine,
stores the decision with its explanation, and updates the year-to-date state.

Submitting the same claim twice (same idempotency key, same content) pays once. A claim can be cancelled or
corrected (a new version replacing it); history is kept and the year-to-date state is recomputed from the claims
that stand, so a cancellation gives back the participation and franchises it had counted.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from pydantic import Field, ValidationError
from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Date,
    Integer,
    Select,
    String,
    Table,
    Update,
    and_,
    bindparam,
    case,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased, make_transient_to_detached
from sqlalchemy.orm import join as sa_join
from sqlalchemy.orm.attributes import set_committed_value

from parcours.care.common import (
    Input,
    Rpps,
    get_patient,
    law,
    now,
    paginate,
    parameters,
    professional_by_rpps,
    today,
)
from parcours.care.declarations import in_force
from parcours.care.errors import CareError, not_found
from parcours.care.referrals import covering_by, record_visit
from parcours.errors import field_errors
from parcours.rules.catalogue import Category
from parcours.rules.contracts.amc import apply_contract
from parcours.rules.contracts.loader import load_contract
from parcours.rules.contracts.model import catalogue_names
from parcours.rules.engine import RuleInputError, default_engine
from parcours.rules.event import Act, CareEvent, ExcludedContext, VisitReason, YearToDate
from parcours.rules.money import euros
from parcours.rules.result import Adjudication
from parcours.store.models import (
    AldPeriod,
    Claim,
    ClaimLine,
    GpDeclaration,
    OwedTotal,
    Patient,
    Pregnancy,
    Professional,
    Referral,
    Teleconsultation,
    YearToDateState,
    new_id,
)

_Row = TypeVar("_Row", Claim, ClaimLine)

LIVE = ("paid", "rejected")  # claims that stand (cancelled and replaced ones do not count)


def _standing() -> ColumnElement[bool]:
    """The claims that stand. ``IN`` over bound literals, not an "expanding" list: SQLAlchemy rewrites the SQL of a
    statement with an expanding ``IN`` at every execution, which a statement built once is meant to avoid."""
    return Claim.status.in_([literal(status) for status in LIVE])


class ClaimIn(Input):
    idempotency_key: str = Field(min_length=8, max_length=128, description="Clé d'idempotence choisie par l'émetteur")
    patient_id: str
    professional_rpps: Rpps
    date: dt.date = Field(description="Date des soins")
    acts: list[Act] = Field(min_length=1, max_length=50)
    declares_gp: bool = False
    replacing_gp: bool = False
    emergency: bool = False
    away_from_home: bool = False
    teleconsultation: bool = False
    video: bool = True
    gp_unavailable: bool = False
    compulsory_child_exam: int | None = Field(
        default=None, ge=1, le=20, description="Numéro (1 à 20) de l'examen médical obligatoire de l'enfant"
    )
    visit_reason: VisitReason | None = None
    excluded_context: ExcludedContext | None = None
    ald_care: bool = False
    tiers_payant: bool = Field(
        default=False, description="Tiers payant : participation et franchises restent dues, récupérées plus tard"
    )


class CorrectionIn(Input):
    idempotency_key: str = Field(min_length=8, max_length=128)
    acts: list[Act] = Field(min_length=1, max_length=50)
    reason: str = Field(min_length=3, max_length=1000)


def _hash(data: Input, **context: str) -> str:
    return _digest({**data.model_dump(mode="json"), **context})


def _digest(content: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def _replay(session: Session, key: str, digest: str) -> Claim | None:
    """The claim already stored under this idempotency key when the request is the same; 409 when it is not."""
    existing = session.scalars(select(Claim).where(Claim.idempotency_key == key)).one_or_none()
    if existing is not None and existing.request_hash != digest:
        raise CareError("idempotency_key", "clé déjà utilisée pour une autre feuille de soins", "conflict")
    return existing


def _replay_professional_and_facts(
    session: Session, patient: Patient, data: ClaimIn, digest: str
) -> tuple[Claim | None, Professional, list[Any]]:
    """The claim already stored under the idempotency key (see ``_replay``), the billing professional and the
    rows of the facts on the date of care (``_facts``), in one round trip: a new claim, the usual case, finds no
    claim, the professional and its facts."""
    values = {"idempotency_key": data.idempotency_key, "rpps": data.professional_rpps, **_fact_values(patient, data)}
    rows = session.execute(_claim_statement(data.teleconsultation), values).all()
    if not rows:  # no such professional: a replay still answers as a replay (as before the professional)
        if (existing := _replay(session, data.idempotency_key, digest)) is not None:
            return existing, professional_by_rpps(session, data.professional_rpps, "professional_rpps"), []
        _check_request(data)  # the errors in the order they were always found: the request's, then the RPPS
        raise CareError("professional_rpps", f"aucun professionnel enregistré avec le RPPS {data.professional_rpps}",
                        "not_found")  # fmt: skip
    professional, claim_id = rows[0][:2]
    if claim_id is None:
        return None, professional, [row[2:] for row in rows]
    existing = session.get(Claim, claim_id)
    assert existing is not None  # the patient's row is locked: a claim of the patient is not removed meanwhile
    if existing.request_hash != digest:
        raise CareError("idempotency_key", "clé déjà utilisée pour une autre feuille de soins", "conflict")
    return existing, professional, []


def submit(
    session: Session,
    data: ClaimIn,
    *,
    replaces: Claim | None = None,
    digest: str | None = None,
    locked: Patient | None = None,
) -> tuple[Claim, bool]:
    """Adjudicate and store a claim. Returns (claim, created): created is False for an idempotent replay.
    ``digest`` identifies the request when it is not ``data`` itself (a correction). ``locked``: the patient, when
    the caller already read its row ``FOR UPDATE`` in this transaction (the API's access check does)."""
    request = data.model_dump(mode="json")  # hashed and stored: dumped once
    digest = digest or _digest(request)
    if locked is not None and locked.id == data.patient_id:
        patient = locked
    else:
        patient = get_patient(session, data.patient_id, lock=True)  # caps are consumed one claim at a time
    # a replay, or the same claim sent twice at once: the second waited for the lock above and now finds the first
    # (one look-up, after the lock, rather than one before it too: a new claim, the usual case, saves a round trip)
    existing, professional, rows = _replay_professional_and_facts(session, patient, data, digest)
    if existing is not None:
        return existing, False
    _check_request(data)
    event, state, result, referral = _adjudicate(session, patient, professional, data, rows)

    values = {
        "id": new_id(),
        "idempotency_key": data.idempotency_key,
        "request_hash": digest,
        "patient_id": patient.id,
        "professional_id": professional.id,
        "care_date": data.date,
        "teleconsultation": data.teleconsultation,
        "status": "paid" if any(line.status == "paid" for line in result.lines) else "rejected",
        "version": replaces.version + 1 if replaces else 1,
        "replaces_id": replaces.id if replaces else None,
        "referral_id": referral.id if referral else None,
        "request": request,
        "event": event.model_dump(mode="json"),
        "state_before": state.model_dump(mode="json"),
        "adjudication": result.to_dict(parameters()),
        "pathway": result.pathway,
        "in_pathway": result.in_pathway,
        "billed": result.billed,
        "amo": result.amo,
        "patient_share": result.patient,
        "owed_participation": result.deferred_participation - result.recovered_participation,
        "owed_franchises": result.deferred_franchises - result.recovered_franchises,
        "cancelled_at": None,
        "cancel_reason": None,
    }
    claim, grown = _store(session, values, result, patient, professional)
    if data.teleconsultation:
        session.add(
            Teleconsultation(
                patient_id=patient.id,
                professional_id=professional.id,
                held_on=data.date,
                video=data.video,
                oriented_by_gp=event.referred_by_gp,
                gp_unavailable=data.gp_unavailable,
                last_in_person_visit=event.last_in_person_visit,
                claim_id=claim.id,
            )
        )
    if referral is not None and claim.status == "paid":
        record_visit(session, referral, data.date)
    _add_to_year_to_date(session, claim, grown)
    _add_to_owed(session, claim)
    return claim, True


# Core statements, built once: a claim and its lines are two INSERTs (the lines in one, insertmanyvalues), without
# the ORM's unit of work, which cost more CPU than the rules engine
_CLAIMS, _LINES = cast(Table, Claim.__table__), cast(Table, ClaimLine.__table__)
_INSERT_CLAIM = insert(_CLAIMS).returning(_CLAIMS.c.created_at)
_INSERT_LINES = insert(_LINES).returning(_LINES.c.id, sort_by_parameter_order=True)


def _store(session: Session, values: dict[str, Any], result: Adjudication, patient: Patient,
           professional: Professional) -> tuple[Claim, bool | None]:  # fmt: skip
    """Insert the claim and its lines, and hand back the ``Claim`` as the session would have loaded it (persistent,
    its lines loaded, its patient and professional those already in the session): the callers and the answer's
    view read it without another round trip. On PostgreSQL, for a claim without paid téléexpertise, the claim, its
    lines and the year-to-date row's growth are one statement (``_store_statement``); ``grown`` then says whether
    the row was there to grow (None: ``_add_to_year_to_date`` does it)."""
    session.flush()  # what the session holds goes first (a correction's replaced original), as a flush would do
    rows = [{"claim_id": values["id"], **row} for row in _line_values(result)]
    grown: bool | None = None
    connection = session.connection()  # Core statements, plain rows: the ORM's execution layer has nothing to add
    try:
        if rows and connection.dialect.name == "postgresql" and _grows_in_place(result):
            paid = [line for line in result.lines if line.status == "paid"]
            bound = {
                **{f"c_{key}": value for key, value in values.items()},
                **{f"l{n}_{key}": value for n, row in enumerate(rows) for key, value in row.items()},
                "y_patient": values["patient_id"], "y_year": values["care_date"].year,
                "y_participation": sum(line.participation for line in paid),
                "y_franchises": sum(line.franchise for line in paid),
            }  # fmt: skip
            answer = connection.execute(_store_statement(len(rows)), bound).all()
            created_at, grown, ids = answer[0][1], bool(answer[0][2]), [line_id for line_id, *_ in answer]
        else:
            created_at = connection.execute(_INSERT_CLAIM, values).scalar_one()
            ids = list(connection.execute(_INSERT_LINES, rows).scalars().all())
    except IntegrityError:
        raise CareError("idempotency_key", "clé déjà utilisée pour une autre feuille de soins", "conflict") from None
    claim = _as_loaded(Claim, {**values, "created_at": created_at})
    lines = [_as_loaded(ClaimLine, {"id": line_id, **row}) for line_id, row in zip(ids, rows, strict=True)]
    for line in lines:
        set_committed_value(line, "claim", claim)
    for key, related in (("lines", lines), ("patient", patient), ("professional", professional)):
        set_committed_value(claim, key, related)
    for stored in (*lines, claim):
        make_transient_to_detached(stored)  # as loaded: nothing left to insert
    session.add(claim)  # and its lines (cascade)
    return claim, grown


def _as_loaded(cls: type[_Row], values: dict[str, Any]) -> _Row:
    """An instance with these column values and no history, made as the ORM's loader makes one (its class manager's
    ``new_instance``, the values in its ``__dict__``): the mapped constructor sets each attribute through its
    instrumentation, with change events and backrefs, which cost more than the claim's statement once built."""
    instance: _Row = cls.__mapper__.class_manager.new_instance()
    instance.__dict__.update(values)
    return instance


def _grows_in_place(result: Adjudication) -> bool:
    """Whether the year-to-date row takes this claim with one ``UPDATE … SET x = x + …`` (no paid téléexpertise,
    whose counts by code are a JSON document read and written)."""
    return not any(line.status == "paid" and line.category == Category.TELEEXPERTISE for line in result.lines)


_LINE_COLUMNS = tuple(c for c in _LINES.c if c.key != "id")


@functools.cache
def _store_statement(lines: int) -> Select[Any]:
    """PostgreSQL: the claim's ``INSERT`` (its values bound as ``c_id``…), its lines' (``lines`` rows, bound
    ``l0_code``…) and the year-to-date row's growth (``_GROW_YEAR_TO_DATE``, bound ``y_patient``…) as data-modifying
    CTEs of one statement, one round trip
    instead of three; it answers one row per line, in order: the line's id, the claim's ``created_at``, and whether
    the year-to-date row was there to grow. The lines' foreign key is checked at the end of the statement, when the
    claim is there."""
    # no parameter is named as a column of the three tables: SQLAlchemy would add it to each statement's columns
    claim = insert(_CLAIMS).values({c.key: bindparam(f"c_{c.key}", type_=c.type) for c in _CLAIMS.c
                                    if c.key != "created_at"})  # fmt: skip
    stored = claim.returning(_CLAIMS.c.created_at).cte("c")
    # the lines as INSERT … SELECT of bound rows: a multi-row VALUES would make the statement uncacheable (compiled
    # again at every claim, which costs more than the round trips saved)
    rows = [select(*(bindparam(f"l{n}_{c.key}", type_=c.type).label(c.key) for c in _LINE_COLUMNS))
            for n in range(lines)]  # fmt: skip
    chosen = rows[0] if lines == 1 else union_all(*rows)
    added = insert(_LINES).from_select(list(_LINE_COLUMNS), chosen).returning(_LINES.c.id, _LINES.c.position).cte("l")
    year = _year_to_date_growth("y_").returning(_YEAR_TO_DATE.c.year).cte("y")
    grown = select(func.count()).select_from(year).scalar_subquery()
    return (
        select(added.c.id, stored.c.created_at, grown)
        .select_from(sa_join(added, stored, true()))
        .order_by(added.c.position)
    )


def _check_request(data: ClaimIn) -> None:
    if data.date > today():
        raise CareError("date", "la date des soins ne peut pas être dans le futur")
    if data.teleconsultation and not data.video:
        raise CareError(
            "video", "une téléconsultation se fait en vidéo ; un conseil par téléphone n'est pas facturable"
        )


def _adjudicate(
    session: Session, patient: Patient, professional: Professional, data: ClaimIn, rows: Sequence[Any] = ()
) -> tuple[CareEvent, YearToDate, Adjudication, Referral | None]:
    """The facts on the date of care, the year-to-date state, and the engine's decision: nothing is written.
    ``rows``: the facts' rows when the caller already read them (``_claim_statement``)."""
    event_data, referral, known, lines = _facts(session, patient, professional, data, rows)
    try:
        event = CareEvent.model_validate(event_data)
    except ValidationError as exc:
        error = field_errors(exc)[0]
        raise CareError(error.field, error.message) from None
    state = _state_of(lines, professional.id, known)
    try:
        result = default_engine().adjudicate(event, state)
    except RuleInputError as exc:
        raise CareError(exc.field, exc.message) from None
    return event, state, result, referral


@dataclass(frozen=True)
class Preview:
    """What a feuille de soins would give if sent now (the pathway code, the amounts, the explanation)."""

    event: CareEvent
    adjudication: Adjudication
    referral: Referral | None

    def to_dict(self) -> dict[str, Any]:
        return self.adjudication.to_dict(parameters())


def preview(session: Session, data: ClaimIn) -> Preview:
    """Adjudicate a claim on the stored facts without storing anything (the "Calculer" of a feuille de soins):
    the same facts and engine as ``submit``, so the amounts shown are those the sending will give, unless another
    claim for the patient lands in between."""
    _check_request(data)
    patient = get_patient(session, data.patient_id)
    professional = professional_by_rpps(session, data.professional_rpps, "professional_rpps")
    event, _, result, referral = _adjudicate(session, patient, professional, data)
    return Preview(event, result, referral)


def _line_values(result: Adjudication) -> list[dict[str, Any]]:
    return [
        {
            "position": position,
            "code": line.code,
            "category": line.category.value,
            "quantity": line.quantity,
            "fee": line.fee,
            "base": line.base,
            "rate": line.rate,
            "majoration": line.majoration,
            "participation": line.participation,
            "franchise": line.franchise,
            "amo": line.amo,
            "patient_share": line.patient,
            "status": line.status,
            "reason": line.reason,
        }
        for position, line in enumerate(result.lines)
    ]


# the bound parameters of the statements built once (``_facts_statement``): each claim gives values, the SQL and
# its compiled form are SQLAlchemy's cache hits rather than an expression tree built again for every claim
_PATIENT_ID = bindparam("patient_id", type_=String())
_PROFESSIONAL_ID = bindparam("professional_id", type_=String())
_SPECIALTY = bindparam("specialty", type_=String())
_ON = bindparam("on", type_=Date())
_FIRST_DAY = bindparam("first_day", type_=Date())  # of the year of care
_LAST_DAY = bindparam("last_day", type_=Date())


@functools.cache
def _facts_statement(teleconsultation: bool) -> Select[Any]:
    """The facts on the date of care in one round trip: the declaration in force (and its doctor), the referral
    covering the visit, ALD, pregnancy, the year-to-date state, and the last in-person visit for a
    teleconsultation; joined to the year's paid lines, grouped (``_year_lines``; none yet: one row, the groups'
    columns null)."""
    columns, base = _facts_parts(teleconsultation, _PROFESSIONAL_ID, _SPECIALTY)
    return select(*columns).select_from(base)


@functools.cache
def _claim_statement(teleconsultation: bool) -> Select[Any]:
    """For a claim sent: the billing professional (by RPPS), the claim already stored under the idempotency key,
    and the facts of ``_facts_statement`` for that professional, in one round trip after the patient's lock (so
    that a claim committed by the lock's previous holder is seen, as a replay or in the year-to-date sums)."""
    biller = aliased(Professional, name="pro")  # a short name: see ``_facts_parts``
    columns, base = _facts_parts(teleconsultation, biller.id, biller.specialty)  # correlated to the biller
    stored = select(Claim.id).where(Claim.idempotency_key == bindparam("idempotency_key", type_=String()))
    return (
        select(biller, stored.scalar_subquery(), *columns)
        .select_from(sa_join(biller, base, true()))
        .where(biller.rpps == bindparam("rpps", type_=String()))
    )


def _facts_parts(teleconsultation: bool, professional_id: Any, specialty: Any) -> tuple[list[Any], Any]:
    """The columns of the facts (see ``_facts_statement``) and what they are selected from: the patient's debts
    (an aggregate, always one row) joined to the declaration and the pregnancy (none or one row each) and to the
    year's grouped lines. Short names: the SQL stays under psycopg's 4 kB cache of parsed queries."""
    declaration = (
        select(GpDeclaration.professional_id, GpDeclaration.start, Professional.rpps)
        .join(Professional, Professional.id == GpDeclaration.professional_id)
        .where(GpDeclaration.patient_id == _PATIENT_ID, in_force(_ON))
        .order_by(GpDeclaration.start.desc())
        .limit(1)
        .subquery("gp")
    )
    pregnancy = (
        select(Pregnancy.start, Pregnancy.delivery)
        .where(Pregnancy.patient_id == _PATIENT_ID, Pregnancy.start <= _ON)
        .order_by(Pregnancy.start.desc())
        .limit(1)
        .subquery("preg")
    )
    owed = _owed_sums(_PATIENT_ID, _ON)
    grouped = _year_lines(_PATIENT_ID, _ON, _FIRST_DAY, _LAST_DAY).subquery("yl")
    columns: list[Any] = [
        declaration.c.rpps,
        declaration.c.professional_id,
        declaration.c.start,
        covering_by(_PATIENT_ID, professional_id, specialty, _ON).with_only_columns(Referral.id).scalar_subquery(),
        exists().where(
            AldPeriod.patient_id == _PATIENT_ID,
            AldPeriod.start <= _ON,
            or_(AldPeriod.end.is_(None), AldPeriod.end >= _ON),
        ),
        pregnancy.c.start,
        pregnancy.c.delivery,
        _last_optical(_PATIENT_ID, _ON),  # the year-to-date state's columns (``_state_columns``), in the same trip
        *owed.c,
    ]
    if teleconsultation:
        columns.append(
            select(func.max(Claim.care_date))
            .where(
                Claim.patient_id == _PATIENT_ID,
                Claim.professional_id == professional_id,
                Claim.teleconsultation.is_(False),
                _standing(),
                Claim.care_date <= _ON,
            )
            .scalar_subquery()
        )
    columns.extend(grouped.c)
    base = owed.outerjoin(declaration, true()).outerjoin(pregnancy, true()).outerjoin(grouped, true())
    return columns, base


def _fact_values(patient: Patient, data: ClaimIn) -> dict[str, Any]:
    on = data.date
    return {
        "patient_id": patient.id,
        "on": on,
        "first_day": dt.date(on.year, 1, 1),
        "last_day": dt.date(on.year, 12, 31),
    }


def _facts(
    session: Session, patient: Patient, professional: Professional, data: ClaimIn, rows: Sequence[Any] = ()
) -> tuple[dict[str, Any], Referral | None, tuple[Any, ...], list[Any]]:
    on = data.date
    if not rows:
        values = {
            **_fact_values(patient, data),
            "professional_id": professional.id,
            "specialty": professional.specialty,
        }
        session.flush()  # what the session holds counts (as autoflush would); then the Core connection: plain rows
        rows = session.connection().execute(_facts_statement(data.teleconsultation), values).all()
    row, width = rows[0], 7 + STATE_COLUMNS + int(data.teleconsultation)  # the one-row facts' columns
    lines = [tuple(r[width:]) for r in rows if r[width] is not None]  # a group always has its professional
    gp_rpps, gp_id, gp_start, referral_id, ald, pregnancy_start, delivery = row[:7]
    state = tuple(row[7 : 7 + STATE_COLUMNS])
    rest = row[7 + STATE_COLUMNS : width]
    if data.declares_gp and (gp_id != professional.id or gp_start != on):
        # indicator N is the visit at which the declaration is made: the store must hold it, made that day with this
        # doctor (with the patient's presence attestation), or the claim would assert a consent nobody gave
        raise CareError(
            "declares_gp",
            "aucune déclaration de médecin traitant enregistrée pour ce médecin à la date des soins : "
            "enregistrez d'abord la déclaration (avec l'attestation de présence du patient)",
        )
    referral = session.get(Referral, referral_id) if referral_id is not None else None
    last_visit = rest[0] if rest else None
    event = {
        "date": on,
        "patient": {
            "birth_date": patient.birth_date,
            "gp": gp_rpps,
            "c2s": patient.c2s,
            "ald": bool(ald),
            "regime": patient.regime,
            "pregnancy": {"start": pregnancy_start, "delivery": delivery} if pregnancy_start is not None else None,
        },
        "professional": {
            "rpps": professional.rpps,
            "profession": professional.profession,
            "specialty": professional.specialty,
            "sector": professional.sector,
            "optam": professional.optam,
            "installed_on": professional.installed_on,
            "underserved_area": professional.underserved_area,
        },
        "acts": [act.model_dump() for act in data.acts],
        "compulsory_child_exam": data.compulsory_child_exam,
        "declares_gp": data.declares_gp,
        "referred_by_gp": bool(referral and referral.referrer_is_gp),
        "referred_by_other_doctor": bool(referral and not referral.referrer_is_gp),
        "replacing_gp": data.replacing_gp,
        "emergency": data.emergency,
        "away_from_home": data.away_from_home,
        "teleconsultation": data.teleconsultation,
        "last_in_person_visit": last_visit,
        "in_person_history_on_record": True,
        "gp_unavailable": data.gp_unavailable,
        "visit_reason": data.visit_reason,
        "excluded_context": data.excluded_context,
        "ald_care": data.ald_care,
        "tiers_payant": data.tiers_payant,
    }
    return event, referral, state, lines


def _year(year: int) -> Any:
    return _between(dt.date(year, 1, 1), dt.date(year, 12, 31))


def _between(first_day: Any, last_day: Any) -> Any:
    return and_(Claim.care_date >= first_day, Claim.care_date <= last_day)


def _live_paid_lines(patient_id: Any) -> Any:
    return and_(Claim.patient_id == patient_id, _standing(), ClaimLine.status == "paid")


def _year_lines(patient_id: Any, on: Any, first_day: Any, last_day: Any) -> Any:
    """The paid lines of the year that stand, by professional, code, category and whether on the day of care."""
    on_the_day = Claim.care_date == on
    return (
        select(
            Claim.professional_id,
            ClaimLine.code,
            ClaimLine.category,
            on_the_day,
            func.sum(ClaimLine.participation),
            func.sum(ClaimLine.franchise),
            func.sum(ClaimLine.quantity),
            func.sum(case((ClaimLine.participation > 0, 1), else_=0)),
        )
        .join(Claim, Claim.id == ClaimLine.claim_id)
        .where(_live_paid_lines(patient_id), _between(first_day, last_day))
        .group_by(Claim.professional_id, ClaimLine.code, ClaimLine.category, on_the_day)
    )


def year_to_date(
    session: Session, patient_id: str, professional_id: str, on: dt.date, *, known: tuple[Any, ...] | None = None
) -> YearToDate:
    """What the patient already bore this year, from the claims that stand (plus today's same-day counters).
    ``known``: the values of ``_state_columns`` when the caller already read them with its own facts."""
    year = _year_lines(patient_id, on, dt.date(on.year, 1, 1), dt.date(on.year, 12, 31))
    rows = session.execute(year).all()  # one round trip
    if known is None:
        known = tuple(session.execute(select(*_state_columns(patient_id, on))).one())
    return _state_of(rows, professional_id, known)


def _state_of(rows: Sequence[Any], professional_id: str, known: tuple[Any, ...]) -> YearToDate:
    """The year-to-date state from the rows of ``_year_lines`` and the values of ``_state_columns``."""
    participation = franchises = psychologist_sessions = same_day_participations = 0
    franchises_today = dict.fromkeys(("paramedical", "transport"), 0)
    teleexpertise: dict[str, int] = {}
    for who, code, category, that_day, line_participation, franchise, quantity, with_participation in rows:
        participation += int(line_participation)
        franchises += int(franchise)
        if category == Category.PSYCHOLOGY.value:  # Mon soutien psy sessions against the yearly cap [T8]
            psychologist_sessions += int(quantity)
        if category == Category.TELEEXPERTISE.value and who == professional_id:
            # téléexpertises: 4 a year per patient and per doctor, so the counts of this professional only [S16a]
            teleexpertise[code] = teleexpertise.get(code, 0) + int(quantity)
        if that_day:
            if who == professional_id:
                same_day_participations += int(with_participation)
            # the paramedical cap is per professional and day, the transport cap per day [S13][R33]
            if category == "transport" or (category == "paramedical" and who == professional_id):
                franchises_today[category] += int(franchise)
    optical, *debts = known
    owed = _owed_from(debts)
    return YearToDate.model_validate(
        {
            "psychologist_sessions": psychologist_sessions,
            "participation_paid": euros(participation),
            "franchises_paid": euros(franchises),
            "same_day_participations": same_day_participations,
            "same_day_paramedical_franchises": euros(franchises_today["paramedical"]),
            "same_day_transport_franchises": euros(franchises_today["transport"]),
            "teleexpertise_acts": teleexpertise,
            "last_optical_equipment": optical,
            "participation_owed": euros(owed["participation"]),
            "franchises_owed": euros(owed["franchises"]),
        }
    )


STATE_COLUMNS = 3  # the last optical equipment, then the tiers-payant debts (participation, franchises)


def _state_columns(patient_id: Any, on: Any) -> list[Any]:
    """The parts of the year-to-date state that are not sums of this year's lines: the last optical equipment (any
    year) and the tiers-payant debts, as columns of a one-row select."""
    return [_last_optical(patient_id, on), *_owed_columns(patient_id, on)]


def _last_optical(patient_id: Any, on: Any) -> Any:
    return (
        select(func.max(Claim.care_date))
        .join(ClaimLine, ClaimLine.claim_id == Claim.id)
        .where(_live_paid_lines(patient_id), ClaimLine.category == Category.OPTICS.value, Claim.care_date < on)
        .scalar_subquery()
    )


def _owed_columns(patient_id: Any, on: Any) -> list[Any]:
    """Deferred less recovered participations and franchises over the claims that stand up to ``on`` (any year: a
    debt is recovered whenever a later reimbursement allows) [S12][S13], in cents: one aggregate row, as columns."""
    owed = _owed_sums(patient_id, on)
    return [owed.c.participation, owed.c.franchises]


_OWED_TOTALS = cast(Table, OwedTotal.__table__)


def _owed_sums(patient_id: Any, on: Any) -> Any:
    """The patient's running totals (``OwedTotal``) less what the claims that stand with a later care date added:
    one row, whatever the patient's number of claims (the later claims are usually none, and found by the index
    on the patient's care dates)."""
    total = {
        key: select(_OWED_TOTALS.c[key]).where(_OWED_TOTALS.c.patient_id == patient_id).scalar_subquery()
        for key in ("participation", "franchises")
    }
    later = (Claim.owed_participation, Claim.owed_franchises)
    return (
        select(
            *(
                (func.coalesce(total[key], 0) - func.coalesce(func.sum(change), 0)).label(key)
                for key, change in zip(("participation", "franchises"), later, strict=True)
            )
        )
        .where(Claim.patient_id == patient_id, _standing(), Claim.care_date > on)
        .subquery("owed")
    )


def _owed_from(row: Any) -> dict[str, int]:
    participation, franchises = (int(value) for value in row)
    return {"participation": max(0, participation), "franchises": max(0, franchises)}


_GROW_OWED = (
    update(_OWED_TOTALS)
    .where(_OWED_TOTALS.c.patient_id == bindparam("of_patient", type_=String()))
    .values(
        participation=_OWED_TOTALS.c.participation + bindparam("participation", type_=Integer()),
        franchises=_OWED_TOTALS.c.franchises + bindparam("franchises", type_=Integer()),
    )
)


def _add_to_owed(session: Session, claim: Claim) -> None:
    """A claim that defers or recovers: the patient's running totals move by its change, in place (an atomic
    increment, the patient's row locked); no row yet: made from the claims that stand."""
    if not (claim.owed_participation or claim.owed_franchises):
        return  # the usual claim: no statement
    grown = session.execute(_GROW_OWED, {
        "of_patient": claim.patient_id, "participation": claim.owed_participation,
        "franchises": claim.owed_franchises,
    })  # fmt: skip
    if cast(CursorResult[Any], grown).rowcount == 0:
        refresh_owed(session, claim.patient_id)
        return
    held = session.identity_map.get(session.identity_key(OwedTotal, (claim.patient_id,)))
    if held is not None:
        session.expire(held)


def refresh_owed(session: Session, patient_id: str) -> OwedTotal:
    """The patient's running totals of tiers-payant debts made again from the claims that stand (after a
    cancellation or a correction)."""
    session.flush()
    participation, franchises = session.execute(
        select(
            func.coalesce(func.sum(Claim.owed_participation), 0), func.coalesce(func.sum(Claim.owed_franchises), 0)
        ).where(Claim.patient_id == patient_id, _standing())
    ).one()
    row = session.get(OwedTotal, patient_id)
    if row is None:
        row = OwedTotal(patient_id=patient_id)
        session.add(row)
    row.participation, row.franchises = int(participation), int(franchises)
    session.flush()
    return row


@dataclass
class _Totals:
    participation: int = 0
    franchises: int = 0
    psychologist_sessions: int = 0
    teleexpertise: dict[str, int] = field(default_factory=dict)


def _yearly_totals(session: Session, patient_id: str, year: int) -> _Totals:
    rows = session.execute(
        select(
            ClaimLine.code,
            ClaimLine.category,
            func.sum(ClaimLine.participation),
            func.sum(ClaimLine.franchise),
            func.sum(ClaimLine.quantity),
        )
        .join(Claim, Claim.id == ClaimLine.claim_id)
        .where(_live_paid_lines(patient_id), _year(year))
        .group_by(ClaimLine.code, ClaimLine.category)
    ).all()
    totals = _Totals()
    for code, category, participation, franchise, quantity in rows:
        totals.participation += int(participation)
        totals.franchises += int(franchise)
        if category == Category.PSYCHOLOGY.value:  # paid sessions only: a rejected 13th does not count [T8]
            totals.psychologist_sessions += int(quantity)
        if category == Category.TELEEXPERTISE.value:
            totals.teleexpertise[code] = int(quantity)
    return totals


def teleexpertise_acts_of(session: Session, patient_id: str, year: int, professional_id: str) -> dict[str, int]:
    """Téléexpertise acts paid for this patient in ``year`` and billed by this professional, by code."""
    rows = session.execute(
        select(ClaimLine.code, func.sum(ClaimLine.quantity))
        .join(Claim, Claim.id == ClaimLine.claim_id)
        .where(
            _live_paid_lines(patient_id),
            _year(year),
            Claim.professional_id == professional_id,
            ClaimLine.category == Category.TELEEXPERTISE.value,
        )
        .group_by(ClaimLine.code)
    ).all()
    return {code: int(quantity) for code, quantity in rows}


def year_to_date_acts(session: Session, patient_id: str, year: int) -> dict[str, int]:
    """Téléexpertise acts paid for this patient in ``year``, by code (the year of the act, as the engine counts)."""
    return _yearly_totals(session, patient_id, year).teleexpertise


_YEAR_TO_DATE = cast(Table, YearToDateState.__table__)


# Core (the ORM's update would evaluate its criteria against the session's objects: ``_add_to_year_to_date``
# expires the one row it may hold instead)
def _year_to_date_growth(prefix: str) -> Update:
    """The year-to-date row of (``{prefix}patient``, ``{prefix}year``) grown by one claim: one claim more, its
    participation and franchises paid (bound ``{prefix}participation``, ``{prefix}franchises``) added."""
    return (
        update(_YEAR_TO_DATE)
        .where(
            _YEAR_TO_DATE.c.patient_id == bindparam(f"{prefix}patient", type_=String()),
            _YEAR_TO_DATE.c.year == bindparam(f"{prefix}year", type_=Integer()),
        )
        .values(
            participation_paid=_YEAR_TO_DATE.c.participation_paid
            + bindparam(f"{prefix}participation", type_=Integer()),
            franchises_paid=_YEAR_TO_DATE.c.franchises_paid + bindparam(f"{prefix}franchises", type_=Integer()),
            claims_count=_YEAR_TO_DATE.c.claims_count + 1,
        )
    )


_GROW_YEAR_TO_DATE = _year_to_date_growth("of_")


def _add_to_year_to_date(session: Session, claim: Claim, grown: bool | None = None) -> None:
    """After a payment: the materialised totals grow by this claim's lines (the patient row is locked). ``grown``:
    the row already grew in the claim's own statement (True), or was not there to (False; see ``_store``)."""
    if grown is False:
        refresh_year_to_date(session, claim.patient_id, claim.care_date.year)
        return
    paid = [line for line in claim.lines if line.status == "paid"]
    if grown or not any(line.category == Category.TELEEXPERTISE.value for line in paid):
        # the usual case, one statement: the sums grow in place (no row yet: computed from the claims that stand)
        if grown is None:
            done = session.execute(_GROW_YEAR_TO_DATE, {
                "of_patient": claim.patient_id, "of_year": claim.care_date.year,
                "of_participation": sum(line.participation for line in paid),
                "of_franchises": sum(line.franchise for line in paid),
            })  # fmt: skip
            if cast(CursorResult[Any], done).rowcount == 0:
                refresh_year_to_date(session, claim.patient_id, claim.care_date.year)
                return
        held = session.identity_map.get(session.identity_key(YearToDateState, (claim.patient_id, claim.care_date.year)))
        if held is not None:  # read earlier in this session (a correction refreshes it): stale now
            session.expire(held)
        return
    row = session.get(YearToDateState, (claim.patient_id, claim.care_date.year))
    if row is None:
        refresh_year_to_date(session, claim.patient_id, claim.care_date.year)
        return
    row.participation_paid += sum(line.participation for line in paid)
    row.franchises_paid += sum(line.franchise for line in paid)
    acts = dict(row.teleexpertise_acts)
    for line in paid:
        if line.category == Category.TELEEXPERTISE.value:
            acts[line.code] = acts.get(line.code, 0) + line.quantity
    row.teleexpertise_acts = acts
    row.claims_count += 1
    session.flush()


def refresh_year_to_date(session: Session, patient_id: str, year: int) -> YearToDateState:
    """Materialise the yearly totals of the claims that stand (after a cancellation or a correction)."""
    session.flush()
    totals = _yearly_totals(session, patient_id, year)
    count = session.scalar(select(func.count()).where(Claim.patient_id == patient_id, _standing(), _year(year)))
    row = session.get(YearToDateState, (patient_id, year))
    if row is None:
        row = YearToDateState(patient_id=patient_id, year=year)
        session.add(row)
    row.participation_paid = totals.participation
    row.franchises_paid = totals.franchises
    row.teleexpertise_acts = totals.teleexpertise
    row.claims_count = int(count or 0)
    session.flush()
    return row


def get_claim(session: Session, claim_id: str) -> Claim:
    claim = session.get(Claim, claim_id)
    if claim is None:
        raise not_found("claim_id", "feuille de soins")
    return claim


def cancel(session: Session, claim_id: str, reason: str) -> Claim:
    claim = get_claim(session, claim_id)
    get_patient(session, claim.patient_id, lock=True)
    if claim.status not in LIVE:
        raise CareError("status", "cette feuille de soins est déjà annulée ou remplacée", "conflict")
    claim.status = "cancelled"
    claim.cancelled_at = now()
    claim.cancel_reason = reason
    refresh_year_to_date(session, claim.patient_id, claim.care_date.year)
    refresh_owed(session, claim.patient_id)
    return claim


def correct(session: Session, claim_id: str, data: CorrectionIn) -> tuple[Claim, bool]:
    """A new version of the claim with corrected acts; the old one is kept as ``replaced``."""
    original = get_claim(session, claim_id)
    digest = _hash(data, corrects=original.id)
    if (replay := _replay(session, data.idempotency_key, digest)) is not None:
        return replay, False
    get_patient(session, original.patient_id, lock=True)
    if (replay := _replay(session, data.idempotency_key, digest)) is not None:
        return replay, False
    session.refresh(original)  # its status as the lock holder left it
    if original.status not in LIVE:
        raise CareError("status", "cette feuille de soins est déjà annulée ou remplacée", "conflict")
    original.status = "replaced"
    original.cancel_reason = data.reason
    original.cancelled_at = now()
    refresh_owed(session, original.patient_id)  # the new version's facts count the original's debts no more
    request = dict(original.request, idempotency_key=data.idempotency_key, acts=[a.model_dump() for a in data.acts])
    claim, created = submit(session, ClaimIn.model_validate(request), replaces=original, digest=digest)
    refresh_year_to_date(session, original.patient_id, original.care_date.year)
    return claim, created


def list_claims(
    session: Session,
    *,
    patient_id: str | None = None,
    professional_id: str | None = None,
    status: str | None = None,
    reason: str | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[Claim], int]:
    """Claims by the filters given, newest care date first; ``reason`` keeps claims with a line refused for it."""
    query = select(Claim)
    if reason:
        query = query.where(Claim.lines.any(ClaimLine.reason == reason))
    if patient_id:
        query = query.where(Claim.patient_id == patient_id)
    if professional_id:
        query = query.where(Claim.professional_id == professional_id)
    if status:
        query = query.where(Claim.status == status)
    if date_from:
        query = query.where(Claim.care_date >= date_from)
    if date_to:
        query = query.where(Claim.care_date <= date_to)
    return paginate(
        session,
        query,
        (
            Claim.care_date.desc(),
            Claim.created_at.desc(),
            Claim.id,
        ),
        offset,
        limit,
    )


def history(session: Session, claim_id: str) -> list[Claim]:
    """Every version of a claim, oldest first (following ``replaces`` both ways)."""
    claim = get_claim(session, claim_id)
    while claim.replaces_id:
        claim = get_claim(session, claim.replaces_id)
    versions = [claim]
    while True:
        following = session.scalars(select(Claim).where(Claim.replaces_id == versions[-1].id)).one_or_none()
        if following is None:
            return versions
        versions.append(following)


def complementary_share(claim: Claim) -> dict[int, int] | None:
    """What the patient's mutuelle pays on each line of a claim, when their contract is one parcours knows (the
    catalogue); None otherwise. Computed on the stored facts; yearly ceilings start afresh for each claim (the
    contract's own year-to-date state is the insurer's, not kept here)."""
    name = claim.patient.mutuelle_contract
    if not name or name not in catalogue_names():
        return None
    event = CareEvent.model_validate(claim.event)
    adjudication = default_engine().adjudicate(event, YearToDate.model_validate(claim.state_before))
    result = apply_contract(load_contract(name, claim.care_date), event, adjudication)
    return {position: share.amc for position, share in enumerate(result.shares)}


def yearly_counters(session: Session, patient_id: str, year: int) -> dict[str, int]:
    """What the patient bore in ``year`` against the yearly caps, from the claims that stand (the figures the
    engine counts): participations forfaitaires and franchises in cents, Mon soutien psy sessions in number."""
    totals = _yearly_totals(session, patient_id, year)
    return {
        "participation": totals.participation,
        "franchises": totals.franchises,
        "psychologist_sessions": totals.psychologist_sessions,
    }


@dataclass(frozen=True)
class YearSummary:
    """A patient's calendar year against the yearly caps, as the patient reads it: what they bore (cents, sessions),
    the caps in force on ``as_of`` and what tiers payant left owed on that day. A cap is None for a year before
    it existed (franchises before 2008, Mon soutien psy before 2022)."""

    year: int
    as_of: dt.date
    participation: int
    participation_cap: int | None
    franchises: int
    franchises_cap: int | None
    psychologist_sessions: int
    psychologist_sessions_cap: int | None
    participation_owed: int
    franchises_owed: int


def year_summary(session: Session, patient_id: str, year: int, on: dt.date) -> YearSummary:
    """The year ``year`` seen on ``on`` (today): a past year is read as of its 31 December, a future one as of its
    1 January, so the caps are those of that year."""
    as_of = min(max(on, dt.date(year, 1, 1)), dt.date(year, 12, 31))
    counters = yearly_counters(session, patient_id, year)
    owed = owed_on(session, patient_id, as_of)
    snapshot = law(as_of)
    return YearSummary(
        year=year,
        as_of=as_of,
        participation=counters["participation"],
        participation_cap=snapshot.get_or("participation.annual_cap", None),
        franchises=counters["franchises"],
        franchises_cap=snapshot.get_or("franchises.annual_cap", None),
        psychologist_sessions=counters["psychologist_sessions"],
        psychologist_sessions_cap=snapshot.get_or("psychology.yearly_sessions", None),
        participation_owed=owed["participation"],
        franchises_owed=owed["franchises"],
    )


def owed_on(session: Session, patient_id: str, on: dt.date) -> dict[str, int]:
    """Participations and franchises a tiers-payant claim could not withhold and no later reimbursement has yet
    recovered, over the claims that stand up to ``on``, in cents [S12][S13]."""
    return _owed_from(session.execute(select(*_owed_columns(patient_id, on))).one())


def outside_pathway(claim: Claim) -> Adjudication:
    """The same claim adjudicated as if the patient had no médecin traitant and nobody had referred them: what
    being outside the pathway would have cost (the engine keeps its exceptions: children, emergencies, direct
    access…). Computed on the stored facts and year-to-date state; nothing is written."""
    event = dict(claim.event)
    event["patient"] = {**event["patient"], "gp": None}
    event.update(declares_gp=False, referred_by_gp=False, referred_by_other_doctor=False, replacing_gp=False)
    return default_engine().adjudicate(CareEvent.model_validate(event), YearToDate.model_validate(claim.state_before))
