"""Amounts from the worked examples of the rules briefs, each with its source, and the values on both sides of
each change of value (2024-03-31, 2024-05-15, 2024-12-22, 2025-07-01, 2026-01-01, 2026-03-01)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from parcours.rules.catalogue import default_catalogue
from parcours.rules.engine import Engine, RuleInputError
from parcours.rules.event import YearToDate
from parcours.rules.params import default_parameters

from .conftest import OTHER_RPPS, event, run, specialist


def date_of(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


@pytest.mark.parametrize(
    ("gp", "sector", "fee", "expected_pathway", "expected_amo"),
    [
        ("10101010105", "1", 30, "T", 1900),  # 30 × 70 % − 2 = 19,00 € [S2][S3]
        (None, "1", 30, "S", 840),  # 30 × 70 % − 10,60 − 2 = 8,40 € [S3][S5]
        # secteur 2 non-OPTAM billing a dépassement (35 € > 30 €): base 23 € [R43]
        ("10101010105", "2", 35, "T", 1410),  # 23 × 70 % − 2 = 14,10 € [S3]
        (None, "2", 35, "S", 490),  # 23 × 70 % − 9,20 − 2 = 4,90 € [S3]
    ],
)
def test_groupama_table(gp: str | None, sector: str, fee: int, expected_pathway: str, expected_amo: int) -> None:
    result = run(event(patient={"gp": gp}, professional={"sector": sector}, acts=[{"code": "G", "fee": fee}]))
    assert result.pathway == expected_pathway
    assert result.amo == expected_amo


def test_out_of_pathway_majoration_is_capped() -> None:
    line = run(event(patient={"gp": None})).lines[0]
    assert line.majoration == 1060  # 40 % × 30 € = 12 € capped at 10,60 € [S5 RG_VF671]


def test_majoration_below_the_cap_is_forty_points() -> None:
    line = run(event(patient={"gp": None}, professional={"sector": "2"}, acts=[{"code": "G", "fee": 35}])).lines[0]
    assert line.majoration == 920  # 40 % × 23 € (non-OPTAM base, dépassement billed)


def test_secteur_2_overrun_is_never_reimbursed() -> None:
    line = run(event(professional={"sector": "2"}, acts=[{"code": "G", "fee": 35}])).lines[0]
    # base 23 € [R43]: 35 − 23 = 12 € of dépassement; patient 35 − 14,10 = 20,90 €
    assert (line.overrun, line.overrun_kind, line.patient) == (1200, "non_optam_overrun", 2090)


class TestNonOptamBase:
    """The 23 € base is for a secteur 2 non-OPTAM GP who bills a dépassement [R43]; at the tarif opposable the
    normal base applies."""

    @pytest.mark.parametrize("fee", [None, 30])
    def test_fee_at_the_tariff_keeps_the_normal_base(self, fee: int | None) -> None:
        act = {"code": "G"} if fee is None else {"code": "G", "fee": fee}
        line = run(event(professional={"sector": "2"}, acts=[act])).lines[0]
        assert (line.fee, line.base, line.amo, line.overrun) == (3000, 3000, 1900, 0)  # 30 × 70 % − 2 [S2]

    def test_c2s_patient_billed_the_tariff(self) -> None:
        # Dépassements are forbidden for a C2S patient [R54]: the doctor bills 30 €, base 30 €, no PF.
        result = run(event(patient={"c2s": True}, professional={"sector": "2"}, acts=[{"code": "G", "fee": 30}]))
        assert (result.lines[0].base, result.amo, result.warnings) == (3000, 2100, [])

    def test_one_cent_above_the_tariff_is_a_depassement_on_the_reduced_base(self) -> None:
        line = run(event(professional={"sector": "2"}, acts=[{"code": "G", "fee": 30.01}])).lines[0]
        assert (line.base, line.overrun_kind) == (2300, "non_optam_overrun")

    def test_specialist_out_of_pathway_at_the_tariff_keeps_cs_and_mpc(self) -> None:
        e = event(
            professional={"rpps": OTHER_RPPS, "specialty": "dermatology", "sector": "2"},
            acts=[{"code": "CS", "fee": 26.50}],
        )
        assert run(e).lines[0].base == 2650  # CS 23 + MPC 3,50, no MCS out of the pathway [R44][R45]


def test_optam_doctor_keeps_the_full_base() -> None:
    line = run(event(professional={"sector": "2", "optam": True}, acts=[{"code": "G", "fee": 40}])).lines[0]
    assert (line.base, line.amo, line.overrun_kind) == (3000, 1900, "optam_overrun")


def test_stomatologist_secteur_1() -> None:
    assert run(specialist("stomatology")).amo == 2005  # 31,50 × 70 % − 2 = 20,05 € [R11]


def test_dentist_consultation_has_no_participation() -> None:
    e = event(professional={"rpps": OTHER_RPPS, "profession": "dentist", "specialty": None}, acts=[{"code": "C"}])
    assert run(e).amo == 1380  # 23 × 60 % = 13,80 € [R11]


@pytest.mark.parametrize(
    ("date", "rate", "amo"),
    [
        ("2023-10-14", 7000, 2024),  # 28,92 × 70 % = 20,244 → 20,24 € before the arrêté of 14 Oct 2023 [R12]
        ("2023-10-15", 6000, 1735),  # 28,92 × 60 % = 17,352 → 17,35 € from 15 Oct 2023 [S19][R12]
    ],
)
def test_dental_rate_changes_on_15_october_2023(date: str, rate: int, amo: int) -> None:
    e = event(
        date=date,
        professional={"rpps": OTHER_RPPS, "profession": "dentist", "specialty": None},
        acts=[{"code": "SCALING"}],
    )
    line = run(e).lines[0]
    assert (line.rate, line.participation, line.amo) == (rate, 0, amo)


class TestMidwife:
    """Sages-femmes: outside the pathway, their own rate (70 %) and no participation forfaitaire [S15b][S21]."""

    @staticmethod
    def midwife(**changes: object) -> object:
        return event(professional={"rpps": OTHER_RPPS, "profession": "midwife", "specialty": None}, **changes)

    def test_first_contraception_consultation_bears_no_participation(self) -> None:
        result = run(self.midwife(acts=[{"code": "CCP"}]))
        line = result.lines[0]
        # CCP 46 € at 100 % [R49], no PF for a sage-femme [S15b]
        assert (result.pathway_rule, line.rate, line.participation, line.amo) == ("not_a_physician", 10000, 0, 4600)

    def test_same_consultation_by_a_physician_bears_it(self) -> None:
        assert run(event(acts=[{"code": "CCP"}])).lines[0].participation == 200

    def test_midwife_rate_is_read_for_a_midwife_consultation(self) -> None:
        # No midwife consultation code is shipped at the ordinary rate (docs/rules.md, not modelled): the same
        # catalogue with CCP billed at the ordinary rate shows which rate a midwife's consultation reads.
        catalogue = default_catalogue()
        ccp = catalogue.acts["CCP"].model_copy(update={"full_rate": False})
        engine = Engine(catalogue=catalogue.model_copy(update={"acts": {**catalogue.acts, "CCP": ccp}}))
        line = engine.adjudicate(self.midwife(acts=[{"code": "CCP"}])).lines[0]  # type: ignore[arg-type]
        rate = default_parameters().at(date_of("2026-03-02"))["rates.midwife"]
        assert (line.rate, line.participation, line.amo) == (rate, 0, 4600 * rate // 10000)  # 46 × 70 % = 32,20


class TestExemptionsAreParameters:
    def test_ame_bears_neither_participation_nor_franchise(self) -> None:
        consultation = run(event(patient={"regime": "ame"}))
        assert (consultation.lines[0].participation, consultation.amo) == (0, 2100)
        steps = [s for s in consultation.explanation if s.rule == "participation.exempt"]
        assert [u.path for u in steps[0].parameters] == ["participation.exempt_regimes"]
        box = run(
            event(
                patient={"regime": "ame"},
                professional={"rpps": OTHER_RPPS, "profession": "pharmacist", "specialty": None},
                acts=[{"code": "PH7", "fee": 10}],
            )
        )
        assert box.lines[0].franchise == 0

    def test_franchises_read_their_own_age_threshold(self) -> None:
        e = event(
            patient={"birth_date": "2010-01-01"},
            professional={"rpps": OTHER_RPPS, "profession": "pharmacist", "specialty": None},
            acts=[{"code": "PH7", "fee": 10}],
        )
        step = next(s for s in run(e).explanation if s.rule == "franchise.exempt")
        assert [u.path for u in step.parameters] == ["franchises.exempt_under_age"]
        assert step.text == "Pas de franchise médicale : moins de 18 ans"


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

    @pytest.mark.parametrize(
        ("code", "specialty", "birth", "changes", "before", "after"),
        [
            ("CEH", "pediatrics", "2024-09-01", {}, 3900, 4000),  # 39 → 40 € [S16h]
            ("COE", "pediatrics", "2024-09-01", {}, 5400, 6000),  # 54 → 60 € [S16g]
            # coordinated GYN + MCS: 32 + 5 = 37 → 35 + 5 = 40 € [R48][S16b]
            ("GYN", "gynecology", "1985-04-12", {"visit_reason": "contraception"}, 3700, 4000),
            ("GER", "geriatrics", "1940-04-12", {"referred_by_gp": True}, 3700, 4200),  # 37 → 42 € [S16b]
            ("DMEL", "dermatology", "1985-04-12", {"referred_by_gp": True}, 5400, 6000),  # 54 → 60 € [S16i]
        ],
    )
    def test_consultations_on_1_july_2025(
        self, code: str, specialty: str, birth: str, changes: dict[str, object], before: int, after: int
    ) -> None:
        def base(date: str) -> int:
            e = specialist(specialty, code, date=date, patient={"birth_date": birth}, **changes)
            return run(e).lines[0].base

        assert (base("2025-06-30"), base("2025-07-01")) == (before, after)

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
        line = run(specialist("cardiology", "CSC", acts=[{"code": "CSC", "fee": 61}])).lines[0]
        # DA on the in-pathway tariff CSC + MCC = 52,50 € [R46]: × 1,175 = 61,69 €; the billed amount rounded up to
        # the euro may not exceed it (art. 37.1, S11, T16): 61 € at most
        assert line.overrun_kind == "authorised_overrun"
        # Out of the pathway no MCC: base CSC 47,73 € [R46]; × 70 % = 33,41 − 10,60 (cap) − 2 € PF = 20,81 €;
        # the 13,27 € above the base are not reimbursed
        assert (line.base, line.majoration, line.amo, line.overrun, line.patient) == (4773, 1060, 2081, 1327, 4019)

    def test_beyond_the_da_is_flagged(self) -> None:
        result = run(specialist("cardiology", "CSC", acts=[{"code": "CSC", "fee": 62}]))
        assert result.lines[0].overrun_kind == "authorised_overrun_exceeded"
        assert result.warnings


class TestCoordinationMajoration:
    """MCS / MCC are billable only inside the pathway [R44][R45]: CS + MPC + MCS = 31,50 € coordinated,
    CS + MPC = 26,50 € out of the pathway."""

    def test_referred_specialist_bills_cs_mpc_mcs(self) -> None:
        line = run(specialist("dermatology", referred_by_gp=True)).lines[0]
        assert (line.base, line.amo) == (3150, 2005)  # 31,50 × 70 % − 2

    def test_specialist_out_of_pathway_has_no_mcs(self) -> None:
        result = run(specialist("dermatology"))
        line = result.lines[0]
        # 26,50 × 70 % = 18,55 − 40 % × 26,50 = 10,60 (at the cap) − 2 = 5,95 €
        assert (result.pathway, line.base, line.majoration, line.amo) == ("S", 2650, 1060, 595)
        assert any(s.rule == "base.no_coordination" for s in result.explanation)

    def test_authorised_overrun_is_measured_on_the_in_pathway_tariff(self) -> None:
        # 31,50 × 1,175 = 37,01 → 37 € billed at most (ameli's table, T16; Groupama, R10; art. 37.1, S11); base
        # 26,50 €, so 10,50 € of DA
        assert run(specialist("dermatology", acts=[{"code": "CS", "fee": 37}])).lines[0].overrun_kind == (
            "authorised_overrun"
        )
        assert run(specialist("dermatology", acts=[{"code": "CS", "fee": "37.01"}])).lines[0].overrun_kind == (
            "authorised_overrun_exceeded"
        )

    @pytest.mark.parametrize(
        ("code", "specialty", "in_pathway", "out"),
        [
            ("CNPSY", "psychiatry", 5700, 5200),
            ("GER", "geriatrics", 4200, 3700),
            ("GYN", "gynecology", 4000, 3500),
            ("CSC", "cardiology", 5250, 4773),
        ],
    )
    def test_other_coordinated_consultations(self, code: str, specialty: str, in_pathway: int, out: int) -> None:
        referred = run(specialist(specialty, code, referred_by_gp=True, visit_reason="other")).lines[0]
        alone = run(specialist(specialty, code, visit_reason="other")).lines[0]
        assert (referred.base, alone.base) == (in_pathway, out)

    def test_mpc_and_mcs_are_unconfirmed_parameters(self) -> None:
        p = default_parameters().at(date_of("2026-03-02"))
        assert p.entry("tariffs.ngap.MPC").unconfirmed
        assert p.entry("tariffs.ngap.MCS").unconfirmed
        assert p["tariffs.ngap.CS"] + p["tariffs.ngap.MPC"] + p["tariffs.ngap.MCS"] == 3150  # [S16j][R42][R44]


class TestPaediatricExpertise:
    def test_sixty_euros_on_referral(self) -> None:
        e = specialist("pediatrics", "EPED", date="2025-07-01", patient={"birth_date": "2015-01-01"})
        line = run(e).lines[0]
        assert (line.base, line.participation, line.amo) == (6000, 0, 4200)  # 60 € [S16g] × 70 %, no PF under 18

    def test_only_for_children(self) -> None:
        assert run(specialist("pediatrics", "EPED")).lines[0].reason == "age_condition"


def test_no_tariff_in_force_names_the_date() -> None:
    e = specialist("pediatrics", "EPED", date="2025-06-30", patient={"birth_date": "2015-01-01"})
    with pytest.raises(RuleInputError) as raised:
        run(e)
    assert raised.value.field == "date"
    assert "2025-06-30" in raised.value.message
