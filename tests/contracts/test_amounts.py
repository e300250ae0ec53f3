"""What the contract pays, kind of care by kind of care, with amounts worked by hand from the brief's bases and
rates and the catalogue's guarantees (docs/contracts.md). billed = amo + amc + out_of_pocket everywhere."""

from __future__ import annotations

import datetime as dt

from tests.contracts.conftest import amounts, by, pay
from tests.rules.conftest import OTHER_RPPS, event

from parcours.rules.contracts.amc import ContractYear

DAY = dt.date(2026, 3, 2)


def test_ticket_moderateur_pays_exactly_the_tm_of_a_gp_visit() -> None:
    # G 30 € : AMO 70 % = 21 € − PF 2 € = 19 € ; TM 9 € paid ; the 2 € PF stays (L871-1)
    assert amounts(pay("ticket-moderateur", event())) == (900, 200)


def test_optam_overrun_within_150_percent() -> None:
    e = event(professional={"sector": "2", "optam": True}, acts=[{"code": "G", "fee": 50}])
    # 150 % × 30 € = 45 € in all, minus the 21 € of the Sécurité sociale = 24 € ; 50 − 19 − 24 = 7 €
    assert amounts(pay("confort", e)) == (2400, 700)


def test_non_optam_level_is_lower() -> None:
    e = event(professional={"sector": "2", "optam": False}, acts=[{"code": "C", "fee": 50}])
    # base 23 € (non-OPTAM), AMO 16,10 − 2 = 14,10 € ; 130 % × 23 = 29,90 − 16,10 = 13,80 € ; rest 22,10 €
    assert amounts(pay("confort", e)) == (1380, 2210)


def test_out_of_pathway_majoration_is_never_paid_by_a_responsable_contract() -> None:
    e = event(patient={"gp": None})
    result = pay("renfort", e)
    # AMO 8,40 € ; TM 9 € paid ; majoration 10,60 € and PF 2 € stay with the patient
    assert amounts(result) == (900, 1260)
    assert result.shares[0].not_covered == {
        "participation": 200,
        "franchise": 0,
        "majoration": 1060,
        "beyond_guarantee": 0,
    }


def test_authorised_overrun_of_a_secteur_1_specialist_out_of_pathway_is_excluded() -> None:
    e = event(
        patient={"gp": None},
        professional={"rpps": OTHER_RPPS, "specialty": "cardiology"},
        acts=[{"code": "CSC", "fee": 60}],
    )
    result = pay("renfort", e)
    # out of the pathway the MCC is not billable: base CSC 47,73 € (R46); 60 − 47,73 = 12,27 € of DA, within the
    # 61 € ceiling (52,50 € × 1,175 = 61,69 €, billed in whole euros within it, art. 37.1), never paid by a
    # responsable contract
    assert result.shares[0].line.base == 4773
    assert result.shares[0].not_covered["authorised_overrun"] == 6000 - 4773
    assert result.amc == 4773 - 3341  # the TM of the 47,73 € base at 70 % (33,41 €) and nothing of the DA


def test_beyond_the_da_ceiling_a_responsable_contract_pays_none_of_the_overrun() -> None:
    def renfort_on(fee: int) -> tuple[int, int]:
        e = event(patient={"gp": None}, professional={"rpps": OTHER_RPPS, "specialty": "cardiology"},
                  acts=[{"code": "CSC", "fee": fee}])  # fmt: skip
        return amounts(pay("renfort", e))

    # 61 € is the DA ceiling (52,50 € × 1,175 = 61,69 €, whole euros within it, art. 37.1): at 62 € the overrun is
    # irregular, not "more DA", and the contract pays the same TM as within the ceiling; the patient bears the whole
    # overrun
    within, beyond = renfort_on(61), renfort_on(62)
    assert within[0] == beyond[0] == 4773 - 3341
    assert beyond[1] == within[1] + 100


def test_the_c2s_pays_the_majoration_of_its_beneficiary_out_of_the_pathway() -> None:
    e = event(patient={"gp": None, "c2s": True}, acts=[{"code": "G", "fee": 30}])
    result = pay("c2s", e)
    # 30 € × 70 % = 21 € − 10,60 € majoration (cap) = 10,40 € AMO, no PF for C2S; the C2S pays the 9 € TM and
    # the 10,60 € majoration deducted from the AMO [S5][S4]: nothing left to pay
    assert result.shares[0].line.amo == 1040
    assert amounts(result) == (900 + 1060, 0)


def test_pharmacy_65_percent() -> None:
    result = pay("ticket-moderateur", by("pharmacist", [{"code": "PH7", "fee": 10}]))
    # 65 % of 10 € = 6,50 € − franchise 1 € ; TM 3,50 € paid ; franchise stays
    assert amounts(result) == (350, 100)


def test_pharmacy_15_percent_is_optional_for_a_responsable_contract() -> None:
    result = pay("ticket-moderateur", by("pharmacist", [{"code": "PH2", "fee": 10}]))
    assert amounts(result) == (0, 950)  # 15 % = 1,50 € − 1 € franchise = 0,50 € AMO ; no guarantee : 9,50 €


def test_dental_care_60_percent() -> None:
    result = pay("ticket-moderateur", by("dentist", [{"code": "SCALING"}], date="2024-01-10"))
    # détartrage 28,92 € × 60 % = 17,35 € (R12) ; TM 11,57 € ; no PF on dental care
    assert amounts(pay("ticket-moderateur", by("dentist", [{"code": "SCALING"}], date="2024-01-10"))) == (1157, 0)
    assert result.shares[0].line.amo == 1735


def test_crown_of_the_100_percent_sante_basket_leaves_nothing() -> None:
    result = pay("ticket-moderateur", by("dentist", [{"code": "CROWN", "basket": "rac0"}]))
    # HLF 515 € (unconfirmed, engine parameter), AMO 72 € : the contract pays 443 €
    assert amounts(result) == (44300, 0)


def test_free_crown_at_250_percent_within_the_yearly_ceiling() -> None:
    crown = by("dentist", [{"code": "CROWN", "basket": "free", "fee": 800}])
    first = pay("confort", crown)
    # 250 % × 120 € = 300 € − 72 € AMO = 228 € ; 800 − 72 − 228 = 500 €
    assert amounts(first) == (22800, 50000)
    # the ceiling counts what is paid beyond the 48 € ticket modérateur (40 % × 120 €): 180 €
    assert first.state_after.paid == {"dental_prosthesis_free": 18000}
    nearly_spent = ContractYear(2026, {"dental_prosthesis_free": 90000})
    second = pay("confort", crown, nearly_spent)
    # only 100 € left of the 1 000 € ceiling, on top of the TM a contrat responsable always pays
    assert amounts(second) == (4800 + 10000, 80000 - 7200 - 14800)
    assert "amc.yearly_ceiling" in [step.rule for step in second.explanation]
    spent = pay("confort", crown, second.state_after)
    assert amounts(spent) == (4800, 80000 - 7200 - 4800)  # ceiling reached: the TM still paid


def test_class_a_glasses_leave_nothing() -> None:
    result = pay(
        "ticket-moderateur",
        by(
            "optician",
            [
                {"code": "FRAME", "device_class": "A"},
                {"code": "LENS", "device_class": "A", "correction": "simple", "quantity": 2},
            ],
        ),
    )
    assert result.out_of_pocket == 0


def test_class_b_glasses_within_the_equipment_forfait_and_frame_sub_limit() -> None:
    glasses = by(
        "optician",
        [
            {"code": "FRAME", "device_class": "B", "fee": 150},
            {"code": "LENS", "device_class": "B", "correction": "simple", "quantity": 2, "fee": 200},
        ],
    )
    result = pay("confort", glasses)
    # confort: 250 € per simple equipment, frame at most 100 € (Sécu included); AMO is a few cents
    frame, _lenses = result.shares
    assert frame.amc + frame.line.gross == 10000
    assert result.amc + sum(s.line.gross for s in result.shares) == 25000


def test_hearing_aid_class_i_leaves_nothing_and_class_ii_has_a_forfait_per_ear() -> None:
    class_i = pay(
        "ticket-moderateur", by("hearing_aid_provider", [{"code": "HEARING_AID", "device_class": "I", "ear": "left"}])
    )
    assert amounts(class_i) == (71000, 0)  # PLV 950 € − AMO 240 € (R21, R22)
    class_ii = pay(
        "confort",
        by("hearing_aid_provider", [{"code": "HEARING_AID", "device_class": "II", "ear": "left", "fee": 1500}]),
    )
    assert amounts(class_ii) == (66000, 60000)  # 900 € per ear including the 240 € AMO ; 1 500 − 240 − 660


def test_hospital_stay_daily_charge_fully_covered_and_private_room_per_day() -> None:
    stay = by(
        "hospital", [{"code": "HOSP_STAY", "fee": 3000, "days": 3}, {"code": "PRIVATE_ROOM", "fee": 210, "days": 3}]
    )
    result = pay("essentiel", stay)
    kinds = {share.kind.value: share for share in result.shares}
    assert kinds["daily_charge"].out_of_pocket == 0  # forfait journalier, no time limit (L871-1)
    assert kinds["hospital_fees"].out_of_pocket == 0  # TM of the stay
    assert kinds["private_room"].amc == 9000  # 30 € a day × 3
    assert kinds["private_room"].out_of_pocket == 12000


def test_private_room_days_are_limited_per_year() -> None:
    stay = by("hospital", [{"code": "PRIVATE_ROOM", "fee": 300, "days": 10}])
    state = ContractYear(2026, days={"private_room": 10})
    result = pay("essentiel", stay, state)  # 15 days a year, 10 already used
    assert result.amc == 3000 * 5  # 30 € a day for the 5 days left
    assert result.state_after.days["private_room"] == 15
