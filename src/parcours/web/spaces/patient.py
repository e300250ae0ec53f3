"""The patient space: my médecin traitant, my record and its controls, my care and reimbursements, the simulator
prefilled with my situation. A parent sees here the records of the minors they represent.

Every page names the record it shows (``/espace/patient/{patient_id}/…``) and asks the same access decision as the
API (``api.authz``): another patient's id is refused (403, traced) and shows nothing of them.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import Response

from parcours.api import authz
from parcours.api.deps import SessionDep
from parcours.care import people
from parcours.record.identity import Principal, Role
from parcours.web.spaces.base import Space, person, register, render

router = APIRouter(prefix="/espace/patient", include_in_schema=False)
SPACE = register(
    Space(
        key="patient",
        title="Espace patient",
        home="/espace/patient",
        roles=(Role.PATIENT,),
        nav=(
            ("/espace/patient", "Accueil"),
            ("/espace/patient/{patient}/medecin-traitant", "Médecin traitant"),
            ("/espace/patient/{patient}/dossier", "Mon dossier"),
            ("/espace/patient/{patient}/soins", "Mes soins"),
            ("/espace/patient/{patient}/remboursements", "Remboursements"),
            ("/espace/patient/{patient}/acces", "Historique des accès"),
            ("/espace/patient/{patient}/simulateur", "Simulateur"),
        ),
    ),
)
Me = Annotated[Principal, person(Role.PATIENT)]


@router.get("")
def home(request: Request, me: Me, db: SessionDep) -> Response:
    records, _ = people.list_patients(db, restrict=lambda query: authz.visible_patients(query, me), limit=20)
    own = next((p for p in records if p.nir == me.identifier), None)
    minors = [p for p in records if p.nir != me.identifier]
    nav = {"patient": own.id} if own else ({"patient": minors[0].id} if len(minors) == 1 else {})
    return render(request, "patient/accueil.html", {"own": own, "minors": minors}, space=SPACE, nav_args=nav)
