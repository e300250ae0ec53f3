"""The agents' space (Assurance Maladie caisse, mutuelle): the claims worklist with its filters, one claim with the
explanation of every euro, and the summary of the last batch run.

Agents read claims of any patient (purpose: payment); the worklist asks the same access decision as the API for the
claims of an unspecified patient, and one claim is read through ``authz.claim`` as ``GET /api/claims/{id}`` does.
The batch summary is a JSON file (``PARCOURS_WEB_BATCH_SUMMARY_FILE``) in the shape of ``BatchSummary``.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from parcours.api import authz
from parcours.api.deps import SessionDep
from parcours.care import claims, people
from parcours.errors import field_errors
from parcours.record.access import Action, PatientFacts, Resource, ResourceKind, decide
from parcours.record.guard import AccessDeniedError, Caller, draft_for
from parcours.record.identity import Principal, Role
from parcours.rules.engine import REFUSALS
from parcours.store.models import Claim
from parcours.web import session
from parcours.web.spaces.base import Space, person, register, render
from parcours.web.spaces.labels import REFUSAL_REASONS

router = APIRouter(prefix="/espace/agent", include_in_schema=False)
SPACE = register(
    Space(
        key="agent",
        title="Espace agent",
        home="/espace/agent",
        roles=(Role.INSURER_AGENT,),
        nav=(("/espace/agent", "Feuilles de soins"), ("/espace/agent/lot", "Dernier traitement par lot")),
    )
)
Me = Annotated[Principal, person(Role.INSURER_AGENT)]
PAGE = 50
STATUSES = ("paid", "rejected", "cancelled", "replaced")


def _may_read_claims(db: Any, me: Principal) -> None:
    """The decision the API takes for a claim whatever the patient: agents yes, anyone else no (traced)."""
    resource = Resource(ResourceKind.CLAIM)
    decision = decide(me, PatientFacts(nir=""), resource, Action.READ)
    if not decision.allowed:
        caller = Caller.of(db, me)
        raise AccessDeniedError(
            decision, draft_for(caller, decision, Action.READ, "agent.claims.list", patient_nir=None)
        )


def reasons_of(claim: Claim) -> list[str]:
    return [str(line["reason"]) for line in claim.adjudication.get("lines", []) if line.get("reason")]


def _date(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


@router.get("")
def worklist(request: Request, me: Me, db: SessionDep) -> Response:
    _may_read_claims(db, me)
    query = request.query_params
    status = query.get("etat") or None
    if status not in STATUSES:
        status = None
    reason = query.get("motif") or None
    professionals, _ = people.list_professionals(db, limit=500)
    chosen = next((p for p in professionals if p.id == query.get("professionnel")), None)
    since, until = _date(query.get("du")), _date(query.get("au"))
    page = max(1, int(query.get("page", "1")) if query.get("page", "1").isdigit() else 1)
    rows, total = claims.list_claims(db, status=status, reason=reason, professional_id=chosen.id if chosen else None,
                                     date_from=since, date_to=until, offset=(page - 1) * PAGE, limit=PAGE)  # fmt: skip
    filters = {"etat": status or "", "motif": reason or "", "professionnel": chosen.id if chosen else "",
               "du": query.get("du") or "", "au": query.get("au") or ""}  # fmt: skip
    reasons = {code: REFUSAL_REASONS.get(code, code) for code in REFUSALS}
    return render(request, "agent/feuilles.html", {
        "rows": [{"claim": c, "reasons": [reasons.get(r, r) for r in reasons_of(c)]} for c in rows],
        "total": total, "page": page, "pages": max(1, -(-total // PAGE)), "filters": filters,
        "professionals": professionals, "reasons": reasons, "statuses": STATUSES,
    }, space=SPACE)  # fmt: skip


@router.get("/feuilles/{claim_id}")
def claim_page(request: Request, claim_id: str, me: Me, db: SessionDep) -> Response:
    claim = claims.get_claim(db, claim_id)
    authz.claim(db, me, claim.patient_id, claim.professional.rpps, "claim.read", resource_id=claim.id)
    shares = claims.complementary_share(claim) if claim.status == "paid" else None
    return render(request, "agent/feuille.html", {
        "claim": claim, "adjudication": claim.adjudication, "versions": claims.history(db, claim.id),
        "amc": sum(shares.values()) if shares is not None else None,
        "reasons": [REFUSAL_REASONS.get(r, r) for r in reasons_of(claim)],
    }, space=SPACE)  # fmt: skip


# --- the summary of a batch run -------------------------------------------------------------------------------------


class BatchSummary(BaseModel):
    """What a batch run writes when it ends (JSON; amounts in euros; other keys are ignored). See docs/web.md."""

    model_config = ConfigDict(extra="ignore")

    run_id: str = Field(min_length=1)
    started_at: dt.datetime
    finished_at: dt.datetime | None = None
    source: str | None = None  # the input read (file, table)
    claims: int = Field(ge=0)  # feuilles de soins (claims) adjudicated
    lines: int | None = Field(default=None, ge=0)  # act lines adjudicated
    patients: int | None = Field(default=None, ge=0)
    paid: int = Field(ge=0)  # lines paid
    rejected: int = Field(ge=0)  # lines the rules refused
    errors: int = Field(default=0, ge=0)  # input lines rejected as invalid (the rejects file)
    billed: Decimal = Field(ge=0)
    amo: Decimal = Field(ge=0)
    amc: Decimal | None = Field(default=None, ge=0)  # with a mutuelle contract
    patient: Decimal = Field(ge=0)  # before the mutuelle
    out_of_pocket: Decimal | None = Field(default=None, ge=0)  # reste à charge after the mutuelle
    engines: dict[str, int] = Field(default_factory=dict)  # rows answered by each path: {"columnar": …, "scalar": …}
    rejections: dict[str, int] = Field(default_factory=dict)  # refused lines by reason (engine codes)
    pathways: dict[str, int] = Field(default_factory=dict)  # lines by pathway indicator (T, O, S…)
    workers: int | None = Field(default=None, ge=1)
    seconds: float | None = Field(default=None, ge=0)


def read_summary(path: Path | None) -> tuple[BatchSummary | None, str | None]:
    """The summary at ``path``, or why there is none to show (French)."""
    if path is None:
        return None, "Aucun fichier de résumé n'est configuré (PARCOURS_WEB_BATCH_SUMMARY_FILE)."
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, "Aucun traitement par lot n'a encore écrit de résumé."
    except (OSError, ValueError):
        return None, "Le fichier de résumé est illisible (JSON attendu)."
    try:
        return BatchSummary.model_validate(data), None
    except ValidationError as exc:
        first = field_errors(exc)[0]
        return None, f"Résumé de traitement invalide : {first.field} — {first.message}"


@router.get("/lot")
def batch_page(request: Request, me: Me, db: SessionDep) -> Response:
    _may_read_claims(db, me)
    summary, problem = read_summary(session.settings_of(request).batch_summary_file)
    reasons = {code: REFUSAL_REASONS.get(code, code) for code in REFUSALS}
    return render(request, "agent/lot.html", {"summary": summary, "problem": problem, "reasons": reasons},
                  space=SPACE)  # fmt: skip
