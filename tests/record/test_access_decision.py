"""The access decision as a matrix: for each resource and action, exactly the listed roles are allowed.

The facts describe a minor patient (so that the parent row is meaningful) with a médecin traitant, a referred
specialist, a téléexpertise expert and requester, a professional who billed a claim, one whose access the patient
did not oppose, a blocked one (referred earlier, then blocked) and one who opened a bris de glace.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parcours.record.access import (
    CARE_TEAM,
    SOURCES,
    Action,
    Basis,
    PatientFacts,
    Purpose,
    Resource,
    ResourceKind,
    decide,
)
from parcours.record.identity import Principal
from parcours.rules.identifiers import nir_with_key, rpps_with_check_digit
from parcours.rules.params import default_parameters

PATIENT = nir_with_key("2120575123456")
OTHER_PATIENT = nir_with_key("1850475123456")
PARENT = nir_with_key("2850475123456")

RPPS = {name: rpps_with_check_digit(f"10000000{index:02d}") for index, name in enumerate(
    ["gp", "referred", "te_expert", "te_requester", "biller", "non_opposed", "unrelated", "blocked", "emergency"]
)}  # fmt: skip

PRINCIPALS = {
    "self": Principal.patient(PATIENT),
    "other_patient": Principal.patient(OTHER_PATIENT),
    "parent": Principal.patient(PARENT),
    **{name: Principal.professional(rpps) for name, rpps in RPPS.items()},
    "insurer": Principal.insurer_agent("agent-1", organisation="CPAM 75"),
    "admin": Principal.administrator("admin"),
}
PROFESSIONALS = set(RPPS)
EVERYONE = set(PRINCIPALS)
EMERGENCY_REASON = "patient inconscient admis aux urgences"

FACTS = PatientFacts(
    nir=PATIENT,
    minor=True,
    representatives=frozenset({PARENT}),
    gp=RPPS["gp"],
    referred_to=frozenset({RPPS["referred"], RPPS["blocked"]}),
    teleexpertise_experts=frozenset({RPPS["te_expert"]}),
    teleexpertise_requesters=frozenset({RPPS["te_requester"]}),
    claim_billers=frozenset({RPPS["biller"]}),
    non_oppositions=frozenset({RPPS["non_opposed"]}),
    blocked=frozenset({RPPS["blocked"]}),
    emergency_accesses={RPPS["emergency"]: EMERGENCY_REASON},
)

CARE = {"gp", "referred", "te_expert", "te_requester", "biller", "non_opposed"}
SELF = {"self", "parent"}

ENTRY = Resource(ResourceKind.RECORD_ENTRY)
MASKED = Resource(ResourceKind.RECORD_ENTRY, masked=True)
SECRET = Resource(ResourceKind.RECORD_ENTRY, hidden_from_representatives=True)
COORDINATION = Resource(ResourceKind.CARE_COORDINATION, acting_professional=RPPS["gp"])
COORDINATION_WITH_UNRELATED = Resource(
    ResourceKind.CARE_COORDINATION, acting_professional=RPPS["unrelated"], participants=frozenset({RPPS["unrelated"]})
)
CLAIM = Resource(ResourceKind.CLAIM, acting_professional=RPPS["biller"], participants=frozenset({RPPS["biller"]}))

# resource → (allowed to read, allowed to write)
MATRIX: dict[str, tuple[Resource, set[str], set[str]]] = {
    "record entry": (ENTRY, SELF | CARE | {"emergency"}, SELF | CARE),
    "masked entry": (MASKED, SELF | {"gp"}, SELF | {"gp"}),
    "entry secret from parents": (SECRET, {"self"} | CARE | {"emergency"}, {"self"} | CARE),
    "record controls": (Resource(ResourceKind.RECORD_CONTROL), SELF, SELF),
    "access history": (Resource(ResourceKind.ACCESS_HISTORY), SELF | {"admin"}, set()),
    "patient file": (
        Resource(ResourceKind.PATIENT_FILE),
        SELF | CARE | {"blocked", "emergency", "insurer", "admin"},
        {"insurer", "admin"},
    ),
    "coordination": (COORDINATION, SELF | CARE | {"emergency"}, {"gp"}),
    "coordination naming the caller": (
        COORDINATION_WITH_UNRELATED,
        SELF | CARE | {"emergency", "unrelated"},
        {"unrelated"},
    ),
    "claim": (CLAIM, SELF | {"biller", "insurer"}, {"biller", "insurer"}),
    "submitting a claim": (replace(CLAIM, creating=True), SELF | {"biller", "insurer"}, {"biller"}),
    "creating a coordination item in one's own name, unrelated": (
        Resource(ResourceKind.CARE_COORDINATION, acting_professional=RPPS["unrelated"], creating=True),
        SELF | CARE | {"emergency"},
        set(),
    ),
    "creating it with the patient's presence attestation": (
        Resource(
            ResourceKind.CARE_COORDINATION, acting_professional=RPPS["unrelated"], creating=True, presence_proven=True
        ),
        SELF | CARE | {"emergency"},
        {"unrelated"},
    ),
    "declaring oneself MT without the attestation": (
        Resource(ResourceKind.GP_DECLARATION, acting_professional=RPPS["gp"]),
        set(),
        set(),
    ),
    "declaring oneself MT with the attestation": (
        Resource(ResourceKind.GP_DECLARATION, acting_professional=RPPS["unrelated"], presence_proven=True),
        set(),
        {"unrelated"},
    ),
    "presence attestation": (Resource(ResourceKind.PRESENCE_ATTESTATION), SELF, SELF),
    "audit trail": (Resource(ResourceKind.AUDIT_LOG), {"admin"}, set()),
    "ending the MT declaration": (
        Resource(ResourceKind.GP_CHOICE, acting_professional=RPPS["gp"]),
        SELF | {"gp", "insurer", "admin"},
        SELF | {"gp", "insurer", "admin"},
    ),
    "a professional's worklist": (
        Resource(ResourceKind.WORKLIST, acting_professional=RPPS["referred"]),
        {"referred", "admin"},
        {"referred", "admin"},
    ),
    "directory": (Resource(ResourceKind.DIRECTORY), EVERYONE, {"admin"}),
}


@pytest.mark.parametrize("case", list(MATRIX))
@pytest.mark.parametrize("action", [Action.READ, Action.WRITE])
def test_matrix(case: str, action: Action) -> None:
    resource, readers, writers = MATRIX[case]
    expected = readers if action is Action.READ else writers
    allowed = {name for name, principal in PRINCIPALS.items() if decide(principal, FACTS, resource, action).allowed}
    assert allowed == expected


def test_recording_a_non_opposition() -> None:
    """A professional attests the patient's non-opposition for themselves, unless blocked; the patient may grant it."""
    allowed = set()
    for name, principal in PRINCIPALS.items():
        resource = Resource(ResourceKind.NON_OPPOSITION, acting_professional=principal.rpps)
        if decide(principal, FACTS, resource, Action.WRITE).allowed:
            allowed.add(name)
    assert allowed == SELF | (PROFESSIONALS - {"blocked"})


def test_nobody_records_a_non_opposition_for_someone_else() -> None:
    resource = Resource(ResourceKind.NON_OPPOSITION, acting_professional=RPPS["unrelated"])
    assert not decide(PRINCIPALS["gp"], FACTS, resource, Action.WRITE).allowed


def test_opening_a_bris_de_glace() -> None:
    resource = Resource(ResourceKind.EMERGENCY_ACCESS)
    allowed = {
        name
        for name, principal in PRINCIPALS.items()
        if decide(principal, FACTS, resource, Action.WRITE, reason="arrêt cardiaque").allowed
    }
    assert allowed == PROFESSIONALS - {"blocked"}
    decision = decide(PRINCIPALS["unrelated"], FACTS, resource, Action.WRITE, reason="  arrêt cardiaque ")
    assert (decision.basis, decision.purpose, decision.reason) == (
        Basis.EMERGENCY,
        Purpose.EMERGENCY,
        "arrêt cardiaque",
    )


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_a_bris_de_glace_needs_a_reason(reason: str | None) -> None:
    decision = decide(
        PRINCIPALS["unrelated"], FACTS, Resource(ResourceKind.EMERGENCY_ACCESS), Action.WRITE, reason=reason
    )
    assert (decision.allowed, decision.basis) == (False, Basis.REASON_MISSING)


def test_emergency_reads_carry_the_reason_and_purpose() -> None:
    decision = decide(PRINCIPALS["emergency"], FACTS, ENTRY, Action.READ)
    assert (decision.allowed, decision.basis, decision.purpose) == (True, Basis.EMERGENCY, Purpose.EMERGENCY)
    assert decision.reason == EMERGENCY_REASON


def test_opposition_to_emergency_access() -> None:
    opposed = replace(FACTS, opposes_emergency_access=True)
    read = decide(PRINCIPALS["emergency"], opposed, ENTRY, Action.READ)
    assert (read.allowed, read.basis) == (False, Basis.EMERGENCY_OPPOSED)
    opening = decide(
        PRINCIPALS["unrelated"], opposed, Resource(ResourceKind.EMERGENCY_ACCESS), Action.WRITE, reason="x"
    )
    assert (opening.allowed, opening.basis) == (False, Basis.EMERGENCY_OPPOSED)
    # the care team is not concerned by the opposition
    assert decide(PRINCIPALS["referred"], opposed, ENTRY, Action.READ).allowed


def test_masked_entries_are_hidden_in_an_emergency() -> None:
    decision = decide(PRINCIPALS["emergency"], FACTS, MASKED, Action.READ)
    assert (decision.allowed, decision.basis) == (False, Basis.MASKED)


def test_parents_no_longer_act_for_an_adult() -> None:
    adult = replace(FACTS, minor=False)
    decision = decide(PRINCIPALS["parent"], adult, ENTRY, Action.READ)
    assert (decision.allowed, decision.basis) == (False, Basis.NO_LONGER_MINOR)
    assert decide(PRINCIPALS["self"], adult, ENTRY, Action.READ).allowed


def test_a_blocked_gp_sees_nothing_of_the_record() -> None:
    blocked_gp = replace(FACTS, blocked=frozenset({RPPS["gp"]}))
    for resource in (ENTRY, MASKED):
        decision = decide(PRINCIPALS["gp"], blocked_gp, resource, Action.READ)
        assert (decision.allowed, decision.basis) == (False, Basis.BLOCKED)


def test_bases_name_the_care_team_member() -> None:
    bases = {name: decide(PRINCIPALS[name], FACTS, ENTRY, Action.READ).basis for name in CARE}
    assert bases == {
        "gp": Basis.GP,
        "referred": Basis.REFERRED,
        "te_expert": Basis.TELEEXPERTISE_EXPERT,
        "te_requester": Basis.TELEEXPERTISE_REQUESTER,
        "biller": Basis.CLAIM_BILLER,
        "non_opposed": Basis.NON_OPPOSITION,
    }
    assert decide(PRINCIPALS["unrelated"], FACTS, ENTRY, Action.READ).basis is Basis.NOT_IN_CARE_TEAM


def test_registering_a_new_patient() -> None:
    resource = Resource(ResourceKind.PATIENT_FILE)
    allowed = {
        name for name, principal in PRINCIPALS.items() if decide(principal, None, resource, Action.WRITE).allowed
    }
    assert allowed == PROFESSIONALS | {"insurer", "admin"}
    assert not decide(PRINCIPALS["gp"], None, ENTRY, Action.READ).allowed


def test_every_cited_source_exists() -> None:
    known = default_parameters().sources
    cited = {source for sources in SOURCES.values() for source in sources}
    assert cited <= set(known), cited - set(known)


def test_every_basis_is_explained_in_french() -> None:
    for basis in Basis:
        decision = decide(PRINCIPALS["self"], FACTS, ENTRY, Action.READ)
        assert replace(decision, basis=basis).explanation


# --- properties over arbitrary facts ------------------------------------------------------------------------------

rpps_pool = st.sampled_from(sorted(RPPS.values()))
rpps_sets = st.frozensets(rpps_pool, max_size=4)


@st.composite
def patient_facts(draw: st.DrawFn) -> PatientFacts:
    return PatientFacts(
        nir=PATIENT,
        minor=draw(st.booleans()),
        representatives=frozenset({PARENT}),
        gp=draw(st.none() | rpps_pool),
        referred_to=draw(rpps_sets),
        teleexpertise_experts=draw(rpps_sets),
        teleexpertise_requesters=draw(rpps_sets),
        claim_billers=draw(rpps_sets),
        non_oppositions=draw(rpps_sets),
        blocked=draw(rpps_sets),
        opposes_emergency_access=draw(st.booleans()),
        emergency_accesses=dict.fromkeys(draw(rpps_sets), "urgence"),
    )


@given(facts=patient_facts(), rpps=rpps_pool, masked=st.booleans(), action=st.sampled_from(Action))
def test_record_entry_properties(facts: PatientFacts, rpps: str, masked: bool, action: Action) -> None:
    decision = decide(Principal.professional(rpps), facts, Resource(ResourceKind.RECORD_ENTRY, masked=masked), action)
    if rpps in facts.blocked:
        assert not decision.allowed
    if masked and decision.allowed:
        assert facts.gp == rpps
    if decision.allowed and decision.basis is Basis.EMERGENCY:
        assert action is Action.READ
        assert not facts.opposes_emergency_access
        assert rpps in facts.emergency_accesses
    if decision.allowed and decision.basis is not Basis.EMERGENCY:
        assert decision.basis in CARE_TEAM | {Basis.NON_OPPOSITION}
    related = (
        facts.gp == rpps
        or rpps in facts.referred_to | facts.teleexpertise_experts | facts.teleexpertise_requesters
        or rpps in facts.claim_billers | facts.non_oppositions
        or rpps in facts.emergency_accesses
    )
    if not related:
        assert not decision.allowed


@given(facts=patient_facts(), kind=st.sampled_from(ResourceKind), action=st.sampled_from(Action))
def test_other_patients_never_get_anything_of_a_patient(
    facts: PatientFacts, kind: ResourceKind, action: Action
) -> None:
    if kind in (ResourceKind.DIRECTORY,):
        return
    assert not decide(PRINCIPALS["other_patient"], facts, Resource(kind), action).allowed


@given(facts=patient_facts(), kind=st.sampled_from(ResourceKind), action=st.sampled_from(Action))
def test_insurer_agents_never_see_the_record(facts: PatientFacts, kind: ResourceKind, action: Action) -> None:
    decision = decide(PRINCIPALS["insurer"], facts, Resource(kind), action)
    if kind in (ResourceKind.RECORD_ENTRY, ResourceKind.ACCESS_HISTORY, ResourceKind.CARE_COORDINATION):
        assert not decision.allowed


@given(
    facts=patient_facts(),
    rpps=rpps_pool,
    kind=st.sampled_from([ResourceKind.CARE_COORDINATION, ResourceKind.CLAIM, ResourceKind.GP_DECLARATION]),
)
def test_writing_ones_own_name_makes_nobody_a_member_of_the_care_team(
    facts: PatientFacts, rpps: str, kind: ResourceKind
) -> None:
    """Without the patient's presence attestation, a professional creates a claim or a coordination item only in a
    care relation made with the patient present (never after a non-opposition or a bris de glace alone), and never
    declares himself MT."""
    resource = Resource(kind, acting_professional=rpps, participants=frozenset({rpps}), creating=True)
    decision = decide(Principal.professional(rpps), facts, resource, Action.WRITE)
    related = facts.gp == rpps or rpps in (
        facts.referred_to | facts.teleexpertise_experts | facts.teleexpertise_requesters | facts.claim_billers
    )
    if kind is ResourceKind.GP_DECLARATION or not related:
        assert not decision.allowed
        assert decision.basis is Basis.PRESENCE_NOT_PROVEN
    else:
        assert decision.allowed
    with_attestation = decide(
        Principal.professional(rpps), facts, replace(resource, presence_proven=True), Action.WRITE
    )
    assert with_attestation.allowed
