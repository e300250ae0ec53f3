"""The agents' space (Assurance Maladie caisse, mutuelle): the claims worklist with its filters, one claim with the
explanation of every euro, and the summary of the last batch run."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import Response

from parcours.record.identity import Principal, Role
from parcours.web.spaces.base import Space, person, register, render

router = APIRouter(prefix="/espace/agent", include_in_schema=False)
SPACE = register(
    Space(
        key="agent",
        title="Espace agent",
        home="/espace/agent",
        roles=(Role.INSURER_AGENT, Role.ADMINISTRATOR),
        nav=(("/espace/agent", "Feuilles de soins"), ("/espace/agent/lot", "Dernier traitement par lot")),
    )
)
Me = Annotated[Principal, person(Role.INSURER_AGENT, Role.ADMINISTRATOR)]


@router.get("")
def worklist(request: Request, me: Me) -> Response:
    return render(request, "agent/feuilles.html", {}, space=SPACE)
