"""CCAM technical acts: the tariff of the doctor's grid, two acts in one session (the second at 50 %), modifiers,
and the « forfait 24 € » that replaces the ticket modérateur on acts of 120 € or more, with its exemptions.

Tariffs from the professional pages that quote them (C1 DEQP003 14,26 € / 13,52 €, C2 DZQM006 96,49 €, C5 QZFA030
152,04 €), the association rule from the CCAM's Livre III art. III-3 B as C1 and C3 quote it, the forfait from
ameli (S15: 24 € on acts of 120 € or more) and its 2026 rise to 32 € (R25, date unconfirmed).
"""

from __future__ import annotations

from typing import Any

import pytest

from parcours.rules.catalogue import Category, default_catalogue
from parcours.rules.engine import RuleInputError
from parcours.rules.event import CareEvent

from .conftest import GP_RPPS, OTHER_RPPS, run


def visit(specialty: str, acts: list[dict[str, Any]], date: str = "2026-03-02", **changes: Any) -> CareEvent:
    """An adult with an MT, referred by the MT to a secteur 1 specialist who bills CCAM acts."""
    patient = {"birth_date": "1985-04-12", "gp": GP_RPPS, **changes.pop("patient", {})}
    professional = {"rpps": OTHER_RPPS, "specialty": specialty, "sector": "1", **changes.pop("professional", {})}
    return CareEvent.model_validate(
        {
            "date": date,
            "patient": patient,
            "professional": professional,
            "referred_by_gp": True,
            "acts": acts,
            **changes,
        }
    )


def rules_of(result: Any) -> list[str]:
    return [step.rule for step in result.explanation]


class TestGrids:
    def test_the_shipped_acts_are_in_the_catalogue_as_technical_acts(self) -> None:
        acts = default_catalogue().acts
        for code in ("DEQP003", "DZQM006", "ZCQM008", "ZCQH002", "QZFA004", "QZFA030"):
            assert acts[code].base == "ccam"
            assert acts[code].category is Category.TECHNICAL_ACT

    def test_secteur_1_uses_grid_1(self) -> None:
        line = run(visit("cardiology", [{"code": "DEQP003"}])).lines[0]
        assert (line.base, line.gross, line.participation, line.amo) == (1426, 998, 200, 798)  # 14,26 × 70 % − 2 [C1]

    def test_secteur_2_non_optam_uses_grid_2(self) -> None:
        line = run(visit("cardiology", [{"code": "DEQP003"}], professional={"sector": "2"})).lines[0]
        assert line.base == 1352  # 13,52 € hors OPTAM [C1]

    def test_secteur_2_optam_uses_grid_1(self) -> None:
        line = run(visit("cardiology", [{"code": "DEQP003"}], professional={"sector": "2", "optam": True})).lines[0]
        assert line.base == 1426

    def test_the_explanation_names_the_grid_and_cites_the_ccam(self) -> None:
        step = next(s for s in run(visit("cardiology", [{"code": "DEQP003"}])).explanation if s.rule == "ccam.base")
        assert "grille 1" in step.text
        assert "14,26 €" in step.text
        assert "CCAM" in step.source_ids()
        assert "C1" in step.source_ids()

    def test_a_dépassement_of_a_secteur_2_doctor_is_classified_as_such(self) -> None:
        line = run(visit("cardiology", [{"code": "DEQP003", "fee": 20}], professional={"sector": "2"})).lines[0]
        assert (line.overrun, line.overrun_kind) == (648, "non_optam_overrun")


class TestAssociation:
    def test_echocardiography_with_ecg_the_ecg_at_half(self) -> None:
        # « DZQM006 + DEQP003 / 2 » [C1]: 96,49 + 7,13 = 103,62 €
        result = run(visit("cardiology", [{"code": "DEQP003"}, {"code": "DZQM006"}]))
        ecg, echo = result.lines
        assert (ecg.base, echo.base) == (713, 9649)
        assert sum(line.fee for line in result.lines) == 10362
        assert (ecg.amo, echo.amo) == (499 - 200, 6754 - 200)
        assert "ccam.association" in rules_of(result)

    def test_codes_billed_are_kept(self) -> None:
        acts = [{"code": "DEQP003", "association": "1"}, {"code": "DZQM006", "association": "5"}]
        ecg, echo = run(visit("cardiology", acts)).lines
        assert (ecg.base, echo.base) == (1426, 9649)  # code 5: moments différents, à taux plein [C3]

    def test_a_code_billed_on_one_act_only_is_refused_on_the_other(self) -> None:
        with pytest.raises(RuleInputError) as caught:
            run(visit("cardiology", [{"code": "DEQP003", "association": "1"}, {"code": "DZQM006"}]))
        assert caught.value.field == "acts.1.association"

    def test_a_third_act_needs_its_code(self) -> None:
        acts = [{"code": "DEQP003"}, {"code": "DZQM006"}, {"code": "ZCQM008"}]
        with pytest.raises(RuleInputError) as caught:
            run(visit("cardiology", acts))
        assert caught.value.field == "acts.2.association"

    def test_the_consultation_beside_is_not_associated(self) -> None:
        result = run(visit("cardiology", [{"code": "CSC"}, {"code": "DEQP003"}]))
        assert result.lines[1].base == 1426
        assert "ccam.association" not in rules_of(result)

    def test_association_and_modifiers_are_for_ccam_acts_only(self) -> None:
        with pytest.raises(RuleInputError) as caught:
            run(visit("cardiology", [{"code": "CSC", "modifiers": ["F"]}]))
        assert caught.value.field == "acts.0.modifiers"


class TestModifiers:
    def test_an_amount_modifier_is_added_to_the_base(self) -> None:
        line = run(visit("cardiology", [{"code": "DEQP003", "modifiers": ["f"]}])).lines[0]
        assert line.base == 1426 + 1906  # modificateur F 19,06 € (unconfirmed)

    def test_an_unknown_modifier_is_named(self) -> None:
        with pytest.raises(RuleInputError) as caught:
            run(visit("cardiology", [{"code": "DEQP003", "modifiers": ["Q"]}]))
        assert caught.value.field == "acts.0.modifiers"


class TestCostlyActFlatFee:
    """« Le forfait à 24 euros » [S15]: the ticket modérateur of an act of 120 € or more is replaced by 24 €."""

    def test_an_act_of_120_euros_or_more_bears_24_euros_instead_of_the_ticket_modérateur(self) -> None:
        result = run(visit("dermatology", [{"code": "QZFA030"}]))
        line = result.lines[0]
        assert line.gross == 15204 - 2400  # 152,04 € [C5] − 24 € [S15]
        assert line.amo == 15204 - 2400 - 200  # the 2 € participation still applies [S12]
        step = next(s for s in result.explanation if s.rule == "costly_act")
        assert "R160-16" in step.text
        assert "S15" in step.source_ids()

    def test_32_euros_from_22_april_2026(self) -> None:
        assert run(visit("dermatology", [{"code": "QZFA030"}], date="2026-04-22")).lines[0].gross == 15204 - 3200
        assert run(visit("dermatology", [{"code": "QZFA030"}], date="2026-04-21")).lines[0].gross == 15204 - 2400

    def test_below_the_threshold_the_ticket_modérateur_stays(self) -> None:
        line = run(visit("dermatology", [{"code": "QZFA004"}])).lines[0]
        assert line.gross == 3801  # 54,30 × 70 % [C5]
        assert "costly_act" not in rules_of(run(visit("dermatology", [{"code": "QZFA004"}])))

    @pytest.mark.parametrize(
        ("changes", "rule"),
        [
            ({"ald_care": True, "patient": {"ald": True}}, "rate.ald"),  # ALD-related care at 100 % [R30]
            ({"work_injury": True}, "rate.work_injury"),  # AT-MP [R30]
            ({"patient": {"invalidity_pension": True}}, "rate.invalidity"),  # pension d'invalidité [S15]
            ({"patient": {"pregnancy": {"start": "2025-10-01"}}}, "maternity.period"),  # 6th month on [R53]
        ],
    )
    def test_no_forfait_where_there_is_no_ticket_modérateur(self, changes: dict[str, Any], rule: str) -> None:
        result = run(visit("dermatology", [{"code": "QZFA030"}], **changes))
        assert result.lines[0].gross == 15204
        assert {rule, "costly_act.exempt"} <= set(rules_of(result))

    def test_no_forfait_for_a_newborn(self) -> None:
        result = run(visit("pediatrics", [{"code": "QZFA030"}], patient={"birth_date": "2026-02-20"}))
        assert result.lines[0].gross == 15204
        assert "nouveau-né" in next(s for s in result.explanation if s.rule == "costly_act.exempt").text

    def test_imaging_keeps_its_ticket_modérateur(self) -> None:
        # a scanner (ADI) above 120 € with its night modifiers: 69,93 + 40 + 35 = 144,93 €, TM kept [S15]
        result = run(visit("radiology", [{"code": "ZCQH002", "modifiers": ["S", "P"]}]))
        line = result.lines[0]
        assert line.base == 14493
        assert line.gross == 10145  # 144,93 × 70 %
        assert "costly_act.imaging" in rules_of(result)

    def test_the_second_act_at_half_is_measured_at_its_billed_base(self) -> None:
        # QZFA030 at 100 % bears the forfait; DEQP003 at 50 % does not
        result = run(visit("dermatology", [{"code": "QZFA030"}, {"code": "DEQP003"}]))
        assert [line.gross for line in result.lines] == [15204 - 2400, 499]

    def test_at_the_hospital_a_stay_with_a_costly_act(self) -> None:
        stay = CareEvent.model_validate(
            {
                "date": "2026-02-10",
                "patient": {"birth_date": "1985-04-12", "gp": GP_RPPS},
                "professional": {"profession": "hospital"},
                "acts": [{"code": "HOSP_STAY", "fee": 5000, "days": 5, "costly_act": True}],
            }
        )
        assert run(stay).lines[0].gross == 500000 - 2400  # 24 € instead of the 20 % [R30][S15]
