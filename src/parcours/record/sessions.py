"""Signed-in web sessions ended before their time (sign-out): the server remembers them, so that a copy of the
cookie taken before sign-out (a shared computer, a stolen cookie) is refused like the browser's own.

The session itself stays in its signed cookie; only ended ones are stored, each until the moment its cookie would
have expired anyway, so the table holds at most one session lifetime of sign-outs.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from parcours.store.models import SignedOutSession


def end(db: Session, session_id: str, ends_at: dt.datetime) -> None:
    """Remember that ``session_id`` is over (idempotent) and forget sessions past their own end."""
    now = dt.datetime.now(dt.UTC)
    db.execute(delete(SignedOutSession).where(SignedOutSession.ends_at <= now))
    if ends_at > now and db.get(SignedOutSession, session_id) is None:
        db.add(SignedOutSession(session_id=session_id, ends_at=ends_at))


def is_ended(db: Session, session_id: str) -> bool:
    found = db.scalar(select(SignedOutSession.session_id).where(SignedOutSession.session_id == session_id))
    return found is not None
