"""The audit trail's hash chain: every read and write of a record, chained by SHA-256 so tampering shows.

Each entry says who did what, when, why and whether it was allowed. Its hash is the SHA-256 of a canonical
serialisation of its fields *including the previous entry's hash*, so changing an entry changes its hash and breaks
the link of the next one; deleting or moving an entry leaves a gap in the sequence numbers or a broken link.
``verify`` walks the chain in sequence order and names the first broken entry.

A chain without secret can be recomputed from the altered entry onwards by someone who can write to the database:
this is why the head of the chain (``parcours audit head``) is meant to be copied somewhere else from time to time,
and ``verify`` checks the chain against such an anchor (eHealth Ukraine's hash-chained blocks do the same).

This module is pure: the store keeps the entries (append-only, triggers refuse UPDATE and DELETE).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from typing import Literal

GENESIS_HASH = "0" * 64
CHAIN_FORMAT_VERSION = 1


class Outcome(StrEnum):
    ALLOWED = "allowed"
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class AuditDraft:
    """An event to record, before it takes its place in the chain."""

    actor: str  # "professional:10003456789", "patient:1850475123456 78", "system:parcours"
    actor_role: str
    action: str  # "read" or "write"
    operation: str  # what was done: "record.entry.read", "record.mask", "fhir.search"…
    outcome: Outcome
    basis: str  # the ground of the access decision (access.Basis value)
    purpose: str  # access.Purpose value
    patient_nir: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    reason: str | None = None  # the caller's reason: bris de glace, correction…
    actor_name: str | None = None
    detail: str | None = None  # what else helps the reader: "12 entrées", "masqué aux représentants légaux"
    entity_ids: tuple[str, ...] = ()  # what a search or an export returned ("Type/id"), one AuditEvent.entity each


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """An entry of the chain."""

    sequence: int
    recorded_at: dt.datetime
    actor: str
    actor_role: str
    action: str
    operation: str
    outcome: Outcome
    basis: str
    purpose: str
    patient_nir: str | None
    resource_type: str | None
    resource_id: str | None
    reason: str | None
    actor_name: str | None
    detail: str | None
    previous_hash: str
    entry_hash: str
    entity_ids: tuple[str, ...] = ()

    def draft(self) -> AuditDraft:
        return AuditDraft(**{f.name: getattr(self, f.name) for f in fields(AuditDraft)})


def _instant(moment: dt.datetime) -> str:
    """UTC, microseconds, ``Z``: naive datetimes (SQLite gives them back so) are UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_bytes(draft: AuditDraft, *, sequence: int, recorded_at: dt.datetime, previous_hash: str) -> bytes:
    """The exact bytes that are hashed: sorted-key compact JSON in UTF-8 (stable across Python versions)."""
    fields_ = asdict(draft)
    if not fields_["entity_ids"]:  # entries made before the field existed hash as they always did
        del fields_["entity_ids"]
    else:
        fields_["entity_ids"] = list(fields_["entity_ids"])
    body = {
        **{key: (str(value) if isinstance(value, StrEnum) else value) for key, value in fields_.items()},
        "format": CHAIN_FORMAT_VERSION,
        "sequence": sequence,
        "recorded_at": _instant(recorded_at),
        "previous_hash": previous_hash,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


PREVIOUS_MARK = '"previous_hash":"?"'
SEQUENCE_MARK = '"sequence":-1'


def canonical_template(draft: AuditDraft, *, recorded_at: dt.datetime) -> tuple[str, str, str]:
    """The canonical serialisation around the two values only the chain's head knows: the text before the previous
    hash, between it and the sequence number, after the number. ``before + previous_hash + between + str(sequence)
    + after`` is ``canonical_bytes`` decoded, so that the database can seal an entry under its head's lock in one
    statement. Each mark occurs once: keys are unique and a quote inside a string is escaped."""
    text = canonical_bytes(draft, sequence=-1, recorded_at=recorded_at, previous_hash="?").decode("utf-8")
    if text.count(PREVIOUS_MARK) != 1 or text.count(SEQUENCE_MARK) != 1:  # pragma: no cover - see the docstring
        raise ValueError("canonical serialisation without a single place for the previous hash and the sequence")
    before, _, rest = text.partition(PREVIOUS_MARK)
    between, _, after = rest.partition(SEQUENCE_MARK)
    return before + PREVIOUS_MARK[:-2], '"' + between + SEQUENCE_MARK[:-2], after


def entry_hash(draft: AuditDraft, *, sequence: int, recorded_at: dt.datetime, previous_hash: str) -> str:
    data = canonical_bytes(draft, sequence=sequence, recorded_at=recorded_at, previous_hash=previous_hash)
    return hashlib.sha256(data).hexdigest()


def truncate_to_storage(moment: dt.datetime) -> dt.datetime:
    """Microsecond precision, UTC: what both SQLite and PostgreSQL give back unchanged."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def seal(draft: AuditDraft, *, sequence: int, recorded_at: dt.datetime, previous_hash: str) -> AuditEntry:
    """Give ``draft`` its place after the entry whose hash is ``previous_hash``."""
    moment = truncate_to_storage(recorded_at)
    digest = entry_hash(draft, sequence=sequence, recorded_at=moment, previous_hash=previous_hash)
    return AuditEntry(
        sequence=sequence, recorded_at=moment, previous_hash=previous_hash, entry_hash=digest, **asdict(draft)
    )


BreakKind = Literal["changed", "missing", "reordered", "unlinked", "truncated"]


@dataclass(frozen=True, slots=True)
class ChainBreak:
    sequence: int  # the first entry found broken
    kind: BreakKind
    message: str  # French, names the entry


@dataclass(frozen=True, slots=True)
class Anchor:
    """A (sequence, hash) pair copied out of the database, to check the chain against later."""

    sequence: int
    entry_hash: str

    @classmethod
    def parse(cls, text: str) -> Anchor:
        sequence, _, digest = text.partition(":")
        if not sequence.isdigit() or int(sequence) < 1 or len(digest) != 64:
            raise ValueError("ancre attendue sous la forme NUMÉRO:EMPREINTE (64 caractères hexadécimaux)")
        try:
            int(digest, 16)
        except ValueError:
            raise ValueError("l'empreinte de l'ancre doit être hexadécimale") from None
        return cls(int(sequence), digest.lower())

    def __str__(self) -> str:
        return f"{self.sequence}:{self.entry_hash}"


@dataclass(frozen=True, slots=True)
class Verification:
    checked: int
    head: Anchor | None
    broken: ChainBreak | None

    @property
    def ok(self) -> bool:
        return self.broken is None


def verify(entries: Iterable[AuditEntry], *, anchor: Anchor | None = None) -> Verification:
    """Walk ``entries`` (in sequence order) and report the first broken one."""
    expected = 1
    previous = GENESIS_HASH
    checked = 0
    head: Anchor | None = None
    anchor_seen = False
    for entry in entries:
        number = entry.sequence
        if number > expected:
            missing = f"n° {expected}" if number == expected + 1 else f"n° {expected} à {number - 1}"
            return Verification(
                checked,
                head,
                ChainBreak(
                    number, "missing", f"entrée(s) {missing} absente(s) ou déplacée(s) avant l'entrée n° {number}"
                ),
            )
        if number < expected:
            return Verification(
                checked,
                head,
                ChainBreak(number, "reordered", f"entrée n° {number} hors séquence (attendu n° {expected})"),
            )
        recomputed = entry_hash(
            entry.draft(), sequence=number, recorded_at=entry.recorded_at, previous_hash=entry.previous_hash
        )
        if recomputed != entry.entry_hash:
            return Verification(
                checked,
                head,
                ChainBreak(
                    number, "changed", f"entrée n° {number} modifiée : son empreinte SHA-256 ne correspond plus"
                ),
            )
        if entry.previous_hash != previous:
            return Verification(
                checked,
                head,
                ChainBreak(
                    number,
                    "unlinked",
                    f"entrée n° {number} détachée de la précédente : entrée supprimée, insérée ou déplacée",
                ),
            )
        if anchor is not None and number == anchor.sequence:
            anchor_seen = True
            if entry.entry_hash != anchor.entry_hash:
                return Verification(
                    checked,
                    head,
                    ChainBreak(number, "changed", f"entrée n° {number} différente de l'ancre : journal réécrit"),
                )
        previous = entry.entry_hash
        head = Anchor(number, entry.entry_hash)
        checked += 1
        expected += 1
    if anchor is not None and not anchor_seen:
        last = head.sequence if head else 0
        return Verification(
            checked,
            head,
            ChainBreak(
                last + 1,
                "truncated",
                f"le journal s'arrête à l'entrée n° {last} mais l'ancre connue est l'entrée n° {anchor.sequence} :"
                " entrées finales supprimées",
            ),
        )
    return Verification(checked, head, None)
