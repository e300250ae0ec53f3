"""The hash chain of the audit trail: a changed, deleted, reordered or truncated entry is found and named."""

from __future__ import annotations

import datetime as dt
from dataclasses import fields, replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parcours.record.audit import (
    GENESIS_HASH,
    Anchor,
    AuditDraft,
    AuditEntry,
    Outcome,
    canonical_bytes,
    canonical_template,
    seal,
    verify,
)

START = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)


def draft(index: int) -> AuditDraft:
    return AuditDraft(
        actor=f"professional:1000000000{index % 10}",
        actor_role="professional",
        action="read" if index % 3 else "write",
        operation="record.entry.read",
        outcome=Outcome.ALLOWED if index % 4 else Outcome.REFUSED,
        basis="gp",
        purpose="care",
        patient_nir="185047512345678",
        resource_type="DocumentReference",
        resource_id=str(index),
        reason="urgence vitale — arrêt cardiaque" if index == 2 else None,
    )


def chain(length: int) -> list[AuditEntry]:
    entries: list[AuditEntry] = []
    previous = GENESIS_HASH
    for index in range(length):
        entry = seal(
            draft(index),
            sequence=index + 1,
            recorded_at=START + dt.timedelta(seconds=index, microseconds=index * 7),
            previous_hash=previous,
        )
        entries.append(entry)
        previous = entry.entry_hash
    return entries


def test_an_intact_chain_verifies() -> None:
    entries = chain(6)
    result = verify(entries)
    assert result.ok
    assert result.checked == 6
    assert result.head == Anchor(6, entries[-1].entry_hash)


def test_an_empty_chain_verifies() -> None:
    assert verify([]).ok


def test_the_first_entry_follows_the_genesis_hash() -> None:
    assert chain(1)[0].previous_hash == GENESIS_HASH


def test_a_changed_entry_is_named() -> None:
    entries = chain(6)
    entries[3] = replace(
        entries[3], outcome=Outcome.ALLOWED if entries[3].outcome is Outcome.REFUSED else Outcome.REFUSED
    )
    result = verify(entries)
    assert result.broken is not None
    assert (result.broken.sequence, result.broken.kind) == (4, "changed")
    assert "entrée n° 4" in result.broken.message
    assert result.checked == 3


def test_a_changed_entry_whose_hash_was_recomputed_breaks_the_next_link() -> None:
    entries = chain(6)
    forged = seal(replace(draft(3), actor="professional:10101010105"), sequence=4,
                  recorded_at=entries[3].recorded_at, previous_hash=entries[3].previous_hash)  # fmt: skip
    entries[3] = forged
    result = verify(entries)
    assert result.broken is not None
    assert (result.broken.sequence, result.broken.kind) == (5, "unlinked")


def test_a_deleted_entry_leaves_a_gap() -> None:
    entries = chain(6)
    del entries[2]
    result = verify(entries)
    assert result.broken is not None
    assert (result.broken.sequence, result.broken.kind) == (4, "missing")
    assert "n° 3" in result.broken.message


def test_a_deleted_entry_renumbered_breaks_the_chain() -> None:
    entries = chain(6)
    del entries[2]
    entries = [entry if entry.sequence < 3 else replace(entry, sequence=entry.sequence - 1) for entry in entries]
    result = verify(entries)
    assert result.broken is not None
    assert result.broken.sequence == 3


def test_reordered_entries_are_found() -> None:
    entries = chain(6)
    entries[2], entries[3] = entries[3], entries[2]
    result = verify(entries)
    assert result.broken is not None
    assert result.broken.sequence == 4
    assert "déplacée" in result.broken.message


def test_a_duplicated_entry_is_out_of_sequence() -> None:
    entries = chain(6)
    entries.insert(3, entries[2])
    result = verify(entries)
    assert result.broken is not None
    assert (result.broken.sequence, result.broken.kind) == (3, "reordered")


def test_reordered_entries_with_swapped_numbers_are_found() -> None:
    entries = chain(6)
    third, fourth = entries[2], entries[3]
    entries[2], entries[3] = replace(fourth, sequence=3), replace(third, sequence=4)
    result = verify(entries)
    assert result.broken is not None
    assert result.broken.sequence == 3


def test_a_truncated_tail_is_found_against_an_anchor() -> None:
    entries = chain(6)
    anchor = Anchor(6, entries[-1].entry_hash)
    result = verify(entries[:4], anchor=anchor)
    assert result.broken is not None
    assert (result.broken.sequence, result.broken.kind) == (5, "truncated")
    assert verify(entries, anchor=anchor).ok


def test_a_rewritten_chain_passes_alone_but_not_against_an_anchor() -> None:
    entries = chain(6)
    anchor = Anchor(5, entries[4].entry_hash)
    rewritten = entries[:2]
    previous = rewritten[-1].entry_hash
    for entry in entries[2:]:
        changed = replace(entry.draft(), reason="réécrit")
        resealed = seal(changed, sequence=entry.sequence, recorded_at=entry.recorded_at, previous_hash=previous)
        rewritten.append(resealed)
        previous = resealed.entry_hash
    assert verify(rewritten).ok
    result = verify(rewritten, anchor=anchor)
    assert result.broken is not None
    assert (result.broken.sequence, result.broken.kind) == (5, "changed")


def test_anchor_text_round_trip() -> None:
    anchor = Anchor(12, "ab" * 32)
    assert Anchor.parse(str(anchor)) == anchor


@pytest.mark.parametrize("text", ["", "12", "0:" + "a" * 64, "x:" + "a" * 64, "3:abc", "3:" + "z" * 64])
def test_bad_anchor_text(text: str) -> None:
    with pytest.raises(ValueError, match=r"ancre|empreinte"):
        Anchor.parse(text)


def test_canonical_form_is_stable() -> None:
    """The bytes hashed are fixed by the format: changing them would orphan every stored chain."""
    data = canonical_bytes(draft(2), sequence=3, recorded_at=START, previous_hash=GENESIS_HASH)
    assert data.startswith(b'{"action":"read","actor":"professional:10000000002","actor_name":null')
    assert b'"recorded_at":"2026-03-02T09:30:00.000000Z"' in data
    assert "arrêt".encode() in data  # UTF-8, not \\u escapes
    assert b"entity_ids" not in data  # entries without entities hash as before the field existed


def test_the_resources_a_search_returned_are_chained_too() -> None:
    listed = replace(draft(1), entity_ids=("DocumentReference/a", "Condition/b"))
    data = canonical_bytes(listed, sequence=1, recorded_at=START, previous_hash=GENESIS_HASH)
    assert b'"entity_ids":["DocumentReference/a","Condition/b"]' in data
    entries = [seal(listed, sequence=1, recorded_at=START, previous_hash=GENESIS_HASH)]
    entries[0] = replace(entries[0], entity_ids=("DocumentReference/a",))  # one read removed from the trail
    assert verify(entries).broken is not None


def test_naive_and_aware_utc_instants_hash_alike() -> None:
    aware = seal(draft(1), sequence=1, recorded_at=START, previous_hash=GENESIS_HASH)
    naive = seal(draft(1), sequence=1, recorded_at=START.replace(tzinfo=None), previous_hash=GENESIS_HASH)
    assert aware.entry_hash == naive.entry_hash


MUTABLE = [f.name for f in fields(AuditEntry) if f.name not in ("sequence", "entry_hash", "previous_hash")]


@given(position=st.integers(0, 7), name=st.sampled_from(MUTABLE), text=st.text(min_size=1, max_size=20))
def test_any_change_of_any_field_is_detected(position: int, name: str, text: str) -> None:
    entries = chain(8)
    original = entries[position]
    if name == "recorded_at":
        value: object = original.recorded_at + dt.timedelta(microseconds=1)
    elif name == "outcome":
        value = Outcome.REFUSED if original.outcome is Outcome.ALLOWED else Outcome.ALLOWED
    elif name == "entity_ids":
        value = (*original.entity_ids, text)
    else:
        value = text if getattr(original, name) != text else text + "x"
    entries[position] = replace(original, **{name: value})
    result = verify(entries)
    assert result.broken is not None
    assert result.broken.sequence == position + 1


TEXT = st.text(max_size=30)  # any character: quotes, backslashes, the marks themselves, non-ASCII


@given(
    actor=TEXT, detail=st.none() | TEXT, reason=st.none() | TEXT,
    entity_ids=st.lists(TEXT, max_size=3).map(tuple), sequence=st.integers(1, 10**12),
    previous=st.text("0123456789abcdef", min_size=64, max_size=64),
)  # fmt: skip
def test_the_template_the_database_hashes_is_the_canonical_serialisation(
    actor: str, detail: str | None, reason: str | None, entity_ids: tuple[str, ...], sequence: int, previous: str
) -> None:
    """PostgreSQL seals an entry from ``before + previous hash + between + sequence + after``: exactly the bytes
    ``verify`` hashes, whatever the fields hold."""
    event = replace(draft(1), actor=actor, detail=detail, reason=reason, entity_ids=entity_ids)
    before, between, after = canonical_template(event, recorded_at=START)
    assert (before + previous + between + str(sequence) + after).encode() == canonical_bytes(
        event, sequence=sequence, recorded_at=START, previous_hash=previous
    )
