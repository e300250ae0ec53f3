"""Amounts from the worked examples of the rules briefs, each with its source, and the values on both sides of
each change of value (2024-03-31, 2024-05-15, 2024-12-22, 2025-07-01, 2026-01-01, 2026-03-01)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from parcours.rules.event import YearToDate

from .conftest import OTHER_RPPS, event, run, specialist


@pytest.mark.parametrize(
    ("gp", "sector", "expected_pathway", "expected_amo"),
    [
        ("10101010105", "1", "T", 1900),  # 30 × 70 % − 2 = 19,00 € [S2][S3]
        (None, "1", "S", 840),  # 30 × 70 % − 10,60 − 2 = 8,40 € [S3][S5]
        ("10101010105", "2", "T", 1410),  # base 23 € : 23 × 70 % − 2 = 14,10 € [S3]
        (None, "2", "S", 490),  # 23 × 70 % − 9,20 − 2 = 4,90 € [S3]
    ],
)
def test_groupama_table(gp: str | None, sector: str, expected_pathway: str, expected_amo: int) -> None:
    result = run(event(patient={"gp": gp}, professional={"sector": sector}, acts=[{"code": "G", "fee": 30}]))
    assert result.pathway == expected_pathway
    assert result.amo == expected_amo


def test_out_of_pathway_majoration_is_capped() -> None:
    line = run(event(patient={"gp": None})).lines[0]
    assert line.majoration == 1060  # 40 % × 30 € = 12 € capped at 10,60 € [S5 RG_VF671]


def test_majoration_below_the_cap_is_forty_points() -> None:
    line = run(event(patient={"gp": None}, professional={"sector": "2"}, acts=[{"code": "G", "fee": 30}])).lines[0]
    assert line.majoration == 920  # 40 % × 23 €


def test_secteur_2_overrun_is_never_reimbursed() -> None:
    line = run(event(professional={"sector": "2"}, acts=[{"code": "G", "fee": 30}])).lines[0]
    assert (line.overrun, line.overrun_kind, line.patient) == (700, "non_optam_overrun", 1590)


def test_optam_doctor_keeps_the_full_base() -> None:
    line = run(event(professional={"sector": "2", "optam": True}, acts=[{"code": "G", "fee": 40}])).lines[0]
    assert (line.base, line.amo, line.overrun_kind) == (3000, 1900, "optam_overrun")


def test_stomatologist_secteur_1() -> None:
    assert run(specialist("stomatology")).amo == 2005  # 31,50 × 70 % − 2 = 20,05 € [R11]


def test_dentist_consultation_has_no_participation() -> None:
    e = event(professional={"rpps": OTHER_RPPS, "profession": "dentist", "specialty": None}, acts=[{"code": "C"}])
    assert run(e).amo == 1380  # 23 × 60 % = 13,80 € [R11]


def test_dental_rate_before_15_october_2023_was_70() -> None:
    e = event(
        date="2024-01-10",
        professional={"rpps": OTHER_RPPS, "profession": "dentist", "specialty": None},
        acts=[{"code": "SCALING"}],
    )
    assert run(e).amo == 1735  # 28,92 × 60 % [R12]


def test_crown_of_the_100_percent_sante_basket() -> None:
    e = event(
        professional={"rpps": OTHER_RPPS, "profession": "dentist", "specialty": None},
        acts=[{"code": "CROWN", "basket": "rac0"}],
    )
    line = run(e).lines[0]
    # BR 120 € × 60 % = 72 € [R14]; fee defaults to the honoraire limite (515 € derived for 2025+, unconfirmed)
    assert (line.base, line.amo, line.fee) == (12000, 7200, 51500)


def test_hearing_aid_class_1_per_ear() -> None:
    e = event(
        professional={"rpps": OTHER_RPPS, "profession": "hearing_aid_provider", "specialty": None},
        acts=[{"code": "HEARING_AID", "device_class": "I", "ear": "left"}],
    )
    line = run(e).lines[0]
    assert (line.base, line.amo, line.fee) == (40000, 24000, 95000)  # 400 × 60 % = 240 €, PLV 950 € [R21][R22]


def test_optics_class_a_frame() -> None:
    e = event(
        professional={"rpps": OTHER_RPPS, "profession": "optician", "specialty": None},
        acts=[{"code": "FRAME", "device_class": "A"}],
    )
    line = run(e).lines[0]
    assert (line.fee, line.base, line.amo) == (3000, 900, 540)  # PLV 30 €, BR 9 € × 60 % [R1][R2]


def test_physiotherapy_session_with_franchise() -> None:
    e = event(
        professional={"rpps": OTHER_RPPS, "profession": "physiotherapist", "specialty": None},
        acts=[{"code": "AMK", "coefficient": 7.5}],
    )
    line = run(e).lines[0]
    # 7,5 × 2,21 = 16,575 → 16,58 € (derived in the brief); × 60 % = 9,95 €; − 1 € franchise [R37][R38][R33]
    assert (line.base, line.gross, line.franchise, line.amo) == (1658, 995, 100, 895)


def test_biology_bears_the_participation() -> None:
    e = event(
        professional={"rpps": OTHER_RPPS, "profession": "laboratory", "specialty": None},
        acts=[{"code": "B", "coefficient": 100}],
    )
    assert run(e).amo == 1300  # 100 × 0,25 € = 25 € × 60 % − 2 € [R41][S25][S12]


@pytest.mark.parametrize(("code", "expected"), [("PH7", 550), ("PH4", 200), ("PH2", 50), ("PH1", 900)])
def test_medicine_rates_and_franchise(code: str, expected: int) -> None:
    e = event(
        professional={"rpps": OTHER_RPPS, "profession": "pharmacist", "specialty": None},
        acts=[{"code": code, "fee": 10}],
    )
    # 10 € box × 65 / 30 / 15 / 100 % − 1 € franchise per box [R32][S13]
    assert run(e).amo == expected


def test_teleexpertise_is_paid_at_100_percent() -> None:
    e = event(professional={"rpps": OTHER_RPPS, "specialty": "dermatology"}, acts=[{"code": "TE2"}])
    assert run(e).amo == 2300  # TE2 23 € since 1 Jan 2026, 100 % [S16a]


class TestHospital:
    @staticmethod
    def stay(date: str, days: int, fee: float, **act: object) -> object:
        return event(
            date=date,
            professional={"rpps": OTHER_RPPS, "profession": "hospital", "specialty": None},
            acts=[{"code": "HOSP_STAY", "fee": fee, "days": days, **act}],
        )

    def test_medical_stay_copayment_absorbs_the_daily_charge(self) -> None:
        result = run(self.stay("2026-02-10", 5, 5000))
        stay, daily = result.lines
        assert (stay.amo, stay.patient) == (400000, 100000)  # 80 % [R30]
        assert daily.code == "FJ"
        assert daily.fee == 0

    def test_surgical_stay_pays_the_flat_fee_and_the_daily_charge(self) -> None:
        result = run(self.stay("2026-02-10", 5, 5000, costly_act=True))
        stay, daily = result.lines
        assert stay.patient == 2400  # forfait 24 € instead of the TM [S15]
        assert daily.fee == 10000  # 5 × 20 € [R29]

    def test_daily_charge_rises_on_1_march_2026(self) -> None:
        assert run(self.stay("2026-03-01", 5, 5000, costly_act=True)).lines[1].fee == 11500  # 5 × 23 € [R25][R26]

    def test_psychiatry_daily_charge(self) -> None:
        assert run(self.stay("2026-03-01", 2, 5000, costly_act=True, psychiatry=True)).lines[1].fee == 3400  # 2 × 17 €

    def test_full_rate_from_the_31st_day(self) -> None:
        stay = run(self.stay("2026-02-10", 40, 40000)).lines[0]
        # 30/40 of the cost at 80 %, the last 10 days at 100 % [R30]
        assert stay.amo == 30000 * 80 + 10000 * 100

    def test_maternity_stay_is_free(self) -> None:
        e = event(
            date="2026-02-10",
            patient={"pregnancy": {"start": "2025-05-20"}},
            professional={"rpps": OTHER_RPPS, "profession": "hospital", "specialty": None},
            acts=[{"code": "HOSP_STAY", "fee": 3000, "days": 3}],
        )
        stay, daily = run(e).lines
        assert stay.patient == 0
        assert daily.patient == 0


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        ("2026-02-28", 1961),  # FPU 19,61 € [R28]
        ("2026-03-01", 2300),  # 23 € [R25][R26]
    ],
)
def test_emergency_flat_fee(date: str, expected: int) -> None:
    e = event(
        date=date,
        professional={"rpps": OTHER_RPPS, "profession": "hospital", "specialty": None},
        emergency=True,
        acts=[{"code": "FPU"}],
    )
    line = run(e).lines[0]
    assert (line.fee, line.amo, line.patient) == (expected, 0, expected)


class TestChangesOfValue:
    @pytest.mark.parametrize(
        ("date", "expected"),
        [
            ("2024-05-14", 1755),  # G 26,50 × 70 % − 1 € PF
            ("2024-05-15", 1655),  # PF 2 € from 15 May 2024 [S12]
            ("2024-12-21", 1655),
            ("2024-12-22", 1900),  # G 30 € from 22 Dec 2024 [S2]
        ],
    )
    def test_gp_consultation(self, date: str, expected: int) -> None:
        assert run(event(date=date)).amo == expected

    @pytest.mark.parametrize(("date", "base"), [("2025-06-30", 5500), ("2025-07-01", 5700)])
    def test_psychiatrist_on_1_july_2025(self, date: str, base: int) -> None:
        line = run(specialist("psychiatry", "CNPSY", date=date, referred_by_gp=True)).lines[0]
        assert line.base == base  # 55 € → 57 € [S16d][S16g]

    @pytest.mark.parametrize(("date", "amo"), [("2025-12-31", 2000), ("2026-01-01", 2300)])
    def test_teleexpertise_on_1_january_2026(self, date: str, amo: int) -> None:
        e = event(date=date, professional={"rpps": OTHER_RPPS, "specialty": "dermatology"}, acts=[{"code": "TE2"}])
        assert run(e).amo == amo

    @pytest.mark.parametrize(("date", "franchise"), [("2024-03-30", 50), ("2024-03-31", 100)])
    def test_medicine_franchise_on_31_march_2024(self, date: str, franchise: int) -> None:
        e = event(
            date=date,
            professional={"rpps": OTHER_RPPS, "profession": "pharmacist", "specialty": None},
            acts=[{"code": "PH7", "fee": 10}],
        )
        assert run(e).lines[0].franchise == franchise


class TestCaps:
    def test_four_participations_a_day_with_the_same_professional(self) -> None:
        e = event(acts=[{"code": "G"}] * 5)
        participations = [line.participation for line in run(e).lines]
        assert participations == [200, 200, 200, 200, 0]  # 4 × 2 € = 8 € a day [S12b][S12c]

    def test_same_day_counter_comes_from_the_state(self) -> None:
        state = YearToDate(same_day_participations=4)
        assert run(event(), state).lines[0].participation == 0

    def test_annual_participation_cap(self) -> None:
        state = YearToDate(participation_paid=Decimal("49.00"))
        result = run(event(), state)
        assert result.lines[0].participation == 100  # only 1 € left under the 50 € cap [S12b]
        assert result.state_after["participation_paid"] == "50.00"

    def test_daily_paramedical_franchise_cap(self) -> None:
        e = event(
            professional={"rpps": OTHER_RPPS, "profession": "nurse", "specialty": None},
            acts=[{"code": "AMI", "coefficient": 1}] * 6,
        )
        franchises = [line.franchise for line in run(e).lines]
        assert sum(franchises) == 400  # 4 € a day [S13]

    def test_annual_franchise_cap(self) -> None:
        e = event(
            professional={"rpps": OTHER_RPPS, "profession": "pharmacist", "specialty": None},
            acts=[{"code": "PH7", "fee": 10, "quantity": 3}],
        )
        assert run(e, YearToDate(franchises_paid=Decimal("48.50"))).lines[0].franchise == 150


class TestExemptions:
    def test_minor_pays_no_participation(self) -> None:
        assert run(event(patient={"birth_date": "2010-01-01"})).lines[0].participation == 0

    def test_c2s_pays_no_participation(self) -> None:
        assert run(event(patient={"c2s": True})).amo == 2100

    def test_maternity_is_full_rate_without_participation(self) -> None:
        e = event(patient={"pregnancy": {"start": "2025-09-15"}})  # 6th month starts 15 Feb 2026
        line = run(e).lines[0]
        assert (line.rate, line.participation, line.amo) == (10000, 0, 3000)

    def test_before_the_sixth_month_no_maternity_exemption(self) -> None:
        e = event(patient={"pregnancy": {"start": "2025-10-15"}})  # 6th month starts 15 Mar 2026
        assert run(e).amo == 1900

    def test_maternity_ends_12_days_after_delivery(self) -> None:
        inside = event(patient={"pregnancy": {"start": "2025-06-01", "delivery": "2026-02-18"}})
        outside = event(patient={"pregnancy": {"start": "2025-06-01", "delivery": "2026-02-17"}})
        assert (run(inside).amo, run(outside).amo) == (3000, 1900)

    def test_ald_care_is_full_rate_but_bears_the_participation(self) -> None:
        e = specialist("cardiology", "CSC", patient={"ald": True}, ald_care=True)
        assert run(e).amo == 5250 - 200  # 52,50 € at 100 % − 2 € PF (ALD is not exempt) [S12][R46]


class TestAuthorisedOverrun:
    def test_sector_1_specialist_out_of_pathway_may_bill_17_5_percent(self) -> None:
        line = run(specialist("cardiology", "CSC", acts=[{"code": "CSC", "fee": 62}])).lines[0]
        # 52,50 × 1,175 = 61,69 → 62 € rounded up to the euro (convention text, S11a) — within the DA
        assert line.overrun_kind == "authorised_overrun"
        # 52,50 × 70 % = 36,75 − majoration 10,60 (cap) − 2 € PF = 24,15 €; the 9,50 € of DA is not reimbursed
        assert (line.majoration, line.amo, line.overrun, line.patient) == (1060, 2415, 950, 3785)

    def test_beyond_the_da_is_flagged(self) -> None:
        result = run(specialist("cardiology", "CSC", acts=[{"code": "CSC", "fee": 63}]))
        assert result.lines[0].overrun_kind == "unauthorised_overrun"
        assert result.warnings
