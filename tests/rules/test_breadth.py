"""Issue 13, the breadth of the law: secteur 3, compulsory child examinations, Mon soutien psy, regimes.

Amounts come from the sourced figures of the parameters (each test cites them); the arithmetic is the engine's
(``amo = round(BR × taux) − majoration − PF − franchise``, SFG RG_VF670/671 [S5]).
"""

from __future__ import annotations

import pytest

from parcours.rules.engine import RuleInputError

from .conftest import OTHER_RPPS, event, run


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
