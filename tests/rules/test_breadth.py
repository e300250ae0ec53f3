"""Issue 13, the breadth of the law: secteur 3, compulsory child examinations, Mon soutien psy, regimes.

Amounts come from the sourced figures of the parameters (each test cites them); the arithmetic is the engine's
(``amo = round(BR × taux) − majoration − PF − franchise``, SFG RG_VF670/671 [S5]).
"""

from __future__ import annotations

import datetime as dt

import pytest

from parcours.rules.engine import RuleInputError
from parcours.rules.event import CareEvent, YearToDate
from parcours.rules.params import default_parameters
from parcours.rules.result import Adjudication

from .conftest import OTHER_RPPS, event, run, specialist


class TestNonContractedDoctor:
    """Secteur 3: reimbursed on the tarif d'autorité, 0,61 € (GP) / 1,22 € (specialist) [T1][T2][T3]."""

    def test_gp_consultation_is_reimbursed_on_the_authority_tariff(self) -> None:
        e = event(professional={"sector": "3"}, acts=[{"code": "G", "fee": "50.00"}])
        result = run(e)
        line = result.lines[0]
        assert (line.base, line.gross) == (61, 43)  # 0,61 € × 70 % = 0,427 → 0,43 € [T1]
        # The 2 € PF is taken within what is reimbursed: nothing is left [S12][S5 RG_VF670].
        assert (line.participation, line.amo) == (43, 0)
        assert line.overrun_kind == "non_contracted_overrun"
        assert line.overrun == 5000 - 61
        step = next(s for s in result.explanation if s.rule == "base.authority_tariff")
        assert "tarif d'autorité" in step.text
        assert "L162-5-10" in step.text
        assert "30,00 €" in step.text  # and not on the convention's G

    def test_specialist_consultation_of_a_child_uses_the_specialist_authority_tariff(self) -> None:
        # Under 18: no PF [S12]; CS by a paediatrician: the specialist's 1,22 € [T1], 70 % → 0,85 €.
        e = event(
            patient={"birth_date": "2020-01-01"},
            professional={"rpps": OTHER_RPPS, "specialty": "pediatrics", "sector": "3"},
            acts=[{"code": "CS", "fee": "80"}],
        )
        line = run(e).lines[0]
        assert (line.base, line.amo) == (122, 85)

    def test_the_fee_of_a_non_contracted_doctor_is_required(self) -> None:
        with pytest.raises(RuleInputError) as error:
            run(event(professional={"sector": "3"}))
        assert error.value.field == "acts.0.fee"

    def test_other_acts_of_a_non_contracted_professional_are_out_of_scope(self) -> None:
        e = event(
            professional={"rpps": OTHER_RPPS, "profession": "nurse", "specialty": None, "sector": "3"},
            acts=[{"code": "AMI", "coefficient": "1"}],
        )
        with pytest.raises(RuleInputError) as error:
            run(e)
        assert error.value.field == "professional.sector"
        assert "hors du périmètre" in error.value.message


class TestCompulsoryChildExamination:
    """The 20 examinations of the carnet de santé: 100 % whoever the professional [T4], on their calendar [T5]."""

    def test_second_month_examination_by_the_gp_is_paid_in_full(self) -> None:
        # Born 10 Jan 2026, seen 2 Mar 2026: during the 2nd month (examination 4). G + MEG = 30 + 5 € [S2][R47],
        # at 100 % instead of 70 %, no PF under 18 [S12].
        e = event(patient={"birth_date": "2026-01-10"}, compulsory_child_exam=4, acts=[{"code": "G"}, {"code": "MEG"}])
        result = run(e)
        assert [line.rate for line in result.lines] == [10_000, 10_000]
        assert result.amo == 3500
        step = next(s for s in result.explanation if s.rule == "child_exam")
        assert "n° 4" in step.text
        assert "au cours du 2e mois" in step.text
        assert {"T4", "T5"} <= step.source_ids()

    def test_without_the_field_the_same_visit_is_an_ordinary_consultation(self) -> None:
        result = run(event(patient={"birth_date": "2026-01-10"}, acts=[{"code": "G"}, {"code": "MEG"}]))
        assert result.amo == 2450  # 35 € × 70 %

    def test_ninth_month_certificate_examination_is_billed_coe(self) -> None:
        # Born 10 Jun 2025, seen 2 Mar 2026: during the 9th month (examination 9, 2nd certificate). COE 60 € [S16g].
        e = specialist("pediatrics", "COE", patient={"birth_date": "2025-06-10", "gp": None}, compulsory_child_exam=9)
        assert run(e).amo == 6000

    def test_coe_alone_is_paid_in_full(self) -> None:
        # COE is by definition one of the three certificate examinations: 100 % [T4][S16g].
        e = specialist("pediatrics", "COE", patient={"birth_date": "2025-06-10"})
        assert run(e).amo == 6000

    def test_coe_is_refused_for_an_examination_without_certificate(self) -> None:
        e = specialist("pediatrics", "COE", patient={"birth_date": "2026-01-10"}, compulsory_child_exam=4)
        with pytest.raises(RuleInputError) as error:
            run(e)
        assert error.value.field == "acts.0.code"
        assert "1, 9, 13" in error.value.message

    def test_an_age_outside_the_window_names_the_field(self) -> None:
        e = event(patient={"birth_date": "2025-12-01"}, compulsory_child_exam=9)  # 3 months old, not 9
        with pytest.raises(RuleInputError) as error:
            run(e)
        assert error.value.field == "compulsory_child_exam"
        assert "au cours du 9e mois" in error.value.message
        assert "01/08/2026" in error.value.message  # the window starts at 8 months

    def test_last_examination_by_any_doctor_bears_no_majoration(self) -> None:
        # 16 today (examination 20, between 15 and 16 [T6]), seen by a GP who is not the MT, without referral: out of
        # the pathway for an ordinary visit, but the examination is paid in full whoever the doctor [T4].
        e = event(patient={"birth_date": "2010-03-02"}, professional={"rpps": OTHER_RPPS}, compulsory_child_exam=20)
        result = run(e)
        line = result.lines[0]
        assert (result.in_pathway, line.majoration, line.amo) == (False, 0, 3000)

    @pytest.mark.parametrize("number", [0, 21])
    def test_the_number_is_one_of_the_twenty(self, number: int) -> None:
        with pytest.raises(ValueError, match="compulsory_child_exam"):
            event(compulsory_child_exam=number)


PSYCHOLOGIST = {"rpps": OTHER_RPPS, "profession": "psychologist", "specialty": None}


def psy(**changes: object) -> CareEvent:
    changes.setdefault("acts", [{"code": "PSYS"}])
    return event(professional=PSYCHOLOGIST, **changes)


class TestMonSoutienPsy:
    """Psychologist sessions: 50 € at 60 % since 15 June 2024, 12 a calendar year, direct access [T8][T9][T11]."""

    def test_a_session_is_paid_at_sixty_percent_without_participation(self) -> None:
        result = run(psy())
        line = result.lines[0]
        assert (line.base, line.rate, line.participation, line.franchise, line.amo) == (5000, 6000, 0, 0, 3000)
        assert result.state_after["psychologist_sessions"] == 1
        step = next(s for s in result.explanation if s.rule == "psychology.sessions")
        assert "1 sur 12" in step.text

    def test_the_thirteenth_session_of_the_year_is_refused(self) -> None:
        result = run(psy(), YearToDate(as_of="2026-02-20", psychologist_sessions=12))
        assert (result.lines[0].reason, result.amo) == ("psychology_yearly_limit", 0)
        assert "12 séances" in next(s.text for s in result.explanation if s.rule.startswith("refusal."))

    def test_the_count_starts_again_in_a_new_calendar_year(self) -> None:
        result = run(psy(), YearToDate(as_of="2025-12-20", psychologist_sessions=12))
        assert (result.lines[0].status, result.state_after["psychologist_sessions"]) == ("paid", 1)

    def test_before_15_june_2024_eight_sessions_on_a_doctors_orientation(self) -> None:
        # MonPsy: 30 € a follow-up session, 8 a year, on a doctor's orientation [T10][T9].
        direct = run(psy(date="2024-03-04"))
        assert direct.lines[0].reason == "psychology_not_referred"
        referred = run(
            psy(date="2024-03-04", referred_by_gp=True), YearToDate(as_of="2024-02-01", psychologist_sessions=7)
        )
        assert (referred.lines[0].amo, referred.state_after["psychologist_sessions"]) == (1800, 8)  # 30 € × 60 %
        ninth = run(
            psy(date="2024-03-05", referred_by_gp=True), YearToDate(as_of="2024-03-04", psychologist_sessions=8)
        )
        assert ninth.lines[0].reason == "psychology_yearly_limit"

    def test_from_15_june_2024_direct_access(self) -> None:
        assert run(psy(date="2024-06-14")).lines[0].reason == "psychology_not_referred"
        assert run(psy(date="2024-06-15")).lines[0].amo == 3000

    def test_a_child_under_three_is_not_covered(self) -> None:
        result = run(psy(patient={"birth_date": "2024-01-01"}))
        assert result.lines[0].reason == "psychology_age"

    def test_an_overrun_is_reported_as_forbidden(self) -> None:
        result = run(psy(acts=[{"code": "PSYE", "fee": "70"}]))
        assert result.lines[0].amo == 3000
        assert any("interdit dans le dispositif Mon soutien psy" in w for w in result.warnings)


ALSACE_MOSELLE = {"regime": "alsace_moselle"}


class TestAlsaceMoselle:
    """The régime local's higher rates: 90 % doctors, auxiliaries, biology; 90 / 80 / 15 % medicines; 100 % hospital
    and the forfait journalier [T12][T13][T14]. PF and franchises still apply."""

    def test_gp_consultation_at_ninety_percent(self) -> None:
        result = run(event(patient=ALSACE_MOSELLE))
        assert result.amo == 2500  # 30 € × 90 % − 2 € PF [S2][T13]
        step = next(s for s in result.explanation if s.rule == "rate.alsace_moselle")
        assert "90 %" in step.text
        assert "70 %" in step.text

    def test_out_of_the_pathway_the_majoration_still_applies(self) -> None:
        # The régime local raises the rate; the majoration (40 % of the base, capped 10,60 €) is the general rule's
        # [S5 RG_VF671]: 27 − 10,60 − 2 = 14,40 €.
        e = event(patient={**ALSACE_MOSELLE, "gp": None}, professional={"rpps": OTHER_RPPS})
        assert run(e).amo == 1440

    def test_physiotherapy_at_ninety_percent_minus_the_franchise(self) -> None:
        e = event(
            patient=ALSACE_MOSELLE,
            professional={"rpps": OTHER_RPPS, "profession": "physiotherapist", "specialty": None},
            acts=[{"code": "AMK", "coefficient": "7.5"}],
        )
        line = run(e).lines[0]
        # 7,5 × 2,21 € = 16,58 € [R38] × 90 % = 14,92 € − 1 € franchise [S13]
        assert (line.base, line.gross, line.amo) == (1658, 1492, 1392)

    @pytest.mark.parametrize(("code", "amo"), [("PH7", 800), ("PH4", 700), ("PH2", 50)])
    def test_medicines_by_rate(self, code: str, amo: int) -> None:
        # A 10 € box: 90 %, 80 %, 15 % (no local complement at 15 %) [T14][T12], − 1 € franchise [S13]
        e = event(
            patient=ALSACE_MOSELLE,
            professional={"rpps": OTHER_RPPS, "profession": "pharmacist", "specialty": None},
            acts=[{"code": code, "fee": "10.00"}],
        )
        assert run(e).amo == amo

    def test_hospital_stay_and_daily_charge_in_full(self) -> None:
        e = event(
            patient=ALSACE_MOSELLE,
            professional={"rpps": OTHER_RPPS, "profession": "hospital", "specialty": None},
            acts=[{"code": "HOSP_STAY", "fee": "3000.00", "days": 3}],
        )
        result = run(e)
        assert result.amo == 300_000 + 3 * 2300  # 100 % of the stay [T13] + FJ 3 × 23 € [R25] covered [T14]
        assert any(s.rule == "daily_charge.alsace_moselle" for s in result.explanation)


@pytest.mark.parametrize("regime", ["mines", "sncf", "new_caledonia", "monaco"])
def test_out_of_scope_regimes_are_refused_with_a_clear_message(regime: str) -> None:
    with pytest.raises(RuleInputError) as error:
        run(event(patient={"regime": regime}))
    assert error.value.field == "patient.regime"
    assert "hors du périmètre" in error.value.message


class TestAuthorisedOverrunRounding:
    """Art. 37.1 of the 2011 and 2016 conventions: « de manière à ce que, arrondi à l'euro supérieur, le montant
    facturé n'excède pas de plus de 17,5 % » the in-pathway tariff [S11][T16]: whole euros within tariff × 1,175."""

    @pytest.mark.parametrize(
        ("specialty", "code", "reason", "ceiling"),
        [
            # CS + MPC + MCS 31,50 € × 1,175 = 37,01 € → 37 € (ameli [T16], Groupama's ophthalmologist [R10])
            ("dermatology", "CS", None, 3700),
            ("ophthalmology", "CS", "other", 3700),  # not a direct-access reason: out of the pathway
            ("cardiology", "CSC", None, 6100),  # CSC + MCC 52,50 € × 1,175 = 61,69 € → 61 € [R46]
        ],
    )
    def test_ceiling_is_whole_euros_within_the_tariff_plus_17_5_percent(
        self, specialty: str, code: str, reason: str | None, ceiling: int
    ) -> None:
        def billing(fee: float) -> Adjudication:
            return run(specialist(specialty, code, visit_reason=reason, acts=[{"code": code, "fee": fee}]))

        within, beyond = billing(ceiling / 100), billing(ceiling / 100 + 0.01)
        assert (within.lines[0].overrun_kind, beyond.lines[0].overrun_kind) == (
            "authorised_overrun",
            "authorised_overrun_exceeded",
        )
        step = next(s for s in within.explanation if s.rule == "pathway.authorised_overrun")
        assert "arrondi à l'euro supérieur" in step.text
        assert {"S11", "T16"} <= step.source_ids()

    def test_the_2005_reading_is_kept_before_the_2011_convention(self) -> None:
        assert default_parameters().at(dt.date(2010, 1, 1))["pathway.authorised_overrun_rounding"] == "total_ceiling"
        assert default_parameters().at(dt.date(2026, 3, 2))["pathway.authorised_overrun_rounding"] == (
            "whole_euros_within"
        )
