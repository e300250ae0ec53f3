"""Invariants of the split, on random care events, every catalogue formula and random year-to-date states:
billed = amo + amc + out_of_pocket to the cent, nothing negative, the contract never pays the participation, the
franchises, nor (responsable, except the C2S) the majoration, and never more than what the Sécurité sociale left; a responsable
contract always pays at least the ticket modérateur, whatever its ceilings and the year already spent."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.rules.test_properties import care_events

from parcours.rules.contracts.amc import ContractYear, apply_contract
from parcours.rules.contracts.kinds import TM_OPTIONAL, ZERO_REMAINDER, CareKind
from parcours.rules.contracts.loader import catalogue
from parcours.rules.engine import RuleInputError, default_engine
from parcours.rules.event import CareEvent, YearToDate

CONTRACTS = catalogue()
contract_years = st.builds(
    ContractYear,
    year=st.just(0),
    paid=st.dictionaries(st.sampled_from([k.value for k in CareKind]), st.integers(0, 300_000), max_size=4),
    days=st.dictionaries(st.just("private_room"), st.integers(0, 40), max_size=1),
    envelopes=st.dictionaries(st.sampled_from([k.value for k in CareKind]), st.integers(0, 300_000), max_size=2),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(drawn=care_events(), index=st.integers(0, len(CONTRACTS) - 1), used=contract_years)
def test_every_euro_is_paid_by_someone_once(
    drawn: tuple[CareEvent, YearToDate], index: int, used: ContractYear
) -> None:
    event, state = drawn
    try:
        adjudication = default_engine().adjudicate(event, state)
    except RuleInputError:
        return
    used.year = event.date.year
    contract = CONTRACTS[index]
    result = apply_contract(contract, event, adjudication, used)
    for share in result.shares:
        line = share.line
        assert share.amc >= 0
        assert share.out_of_pocket >= 0
        assert line.fee == line.amo + share.amc + share.out_of_pocket
        assert share.out_of_pocket >= line.participation + line.franchise
        if contract.responsable:
            # the C2S alone pays its beneficiaries' out-of-pathway majoration [S5][S4]
            majoration_kept = 0 if contract.c2s else line.majoration
            assert share.out_of_pocket >= line.participation + line.franchise + majoration_kept
            if share.kind in ZERO_REMAINDER and line.status == "paid":
                assert share.out_of_pocket == line.participation + line.franchise + majoration_kept
            if share.kind not in TM_OPTIONAL and line.status == "paid":
                # the TM, and never the PF, franchises, majoration or DA, which a responsable contract does not pay
                assert share.amc >= line.copayment
                not_paid = line.participation + line.franchise + majoration_kept
                if line.overrun_kind in ("authorised_overrun", "authorised_overrun_exceeded"):
                    not_paid += line.overrun
                assert share.out_of_pocket >= not_paid
    assert result.amc + result.out_of_pocket + adjudication.amo == adjudication.billed
