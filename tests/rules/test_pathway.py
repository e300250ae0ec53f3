"""One test per pathway indicator and per exception of the brief (rules-brief.md §1-2, SFG RG_CF640/641 [S5])."""

from __future__ import annotations

from typing import Any

import pytest

from parcours.rules.engine import RuleInputError
from parcours.rules.pathway import ALL_RULES, BASE_RULE, RULES

from .conftest import GP_RPPS, OTHER_RPPS, event, run, specialist

ADULT_WITHOUT_GP: dict[str, Any] = {"patient": {"gp": None}}


def outcome(e: Any) -> tuple[str | None, bool | None, str]:
    result = run(e)
    return result.pathway, result.in_pathway, result.pathway_rule


@pytest.mark.parametrize(
    ("label", "e", "expected"),
    [
        ("MT déclaré", event(), ("T", True, "gp")),
        ("nouveau MT", event(patient={"gp": None}, declares_gp=True), ("N", True, "new_gp")),
        ("remplaçant du MT", event(professional={"rpps": OTHER_RPPS}, replacing_gp=True), ("R", True, "replacing_gp")),
        ("orienté par le MT", specialist("cardiology", "CSC", referred_by_gp=True), ("O", True, "referred_by_gp")),
        (
            "orienté par un autre médecin",
            specialist("cardiology", "CSC", referred_by_other_doctor=True),
            ("M", True, "referred_by_other"),
        ),
        (
            "généraliste récemment installé, patient sans MT",
            event(patient={"gp": None}, professional={"rpps": OTHER_RPPS, "installed_on": "2023-09-01"}),
            ("J", True, "recently_installed_gp"),
        ),
        (
            "généraliste en zone sous-dotée, patient sans MT",
            event(patient={"gp": None}, professional={"rpps": OTHER_RPPS, "underserved_area": True}),
            ("B", True, "underserved_area_gp"),
        ),
        (
            "accès direct gynécologie",
            specialist("gynecology", "GYN", visit_reason="contraception"),
            ("D", True, "direct_access_gynecology"),
        ),
        (
            "accès direct ophtalmologie",
            specialist("ophthalmology", visit_reason="glasses"),
            ("D", True, "direct_access_ophthalmology"),
        ),
        (
            "accès direct psychiatrie à 20 ans",
            specialist("psychiatry", "CNPSY", patient={"birth_date": "2005-06-01"}),
            ("D", True, "direct_access_psychiatry"),
        ),
        ("accès direct stomatologie", specialist("stomatology"), ("D", True, "direct_access_stomatology")),
        (
            "hors résidence habituelle",
            event(professional={"rpps": OTHER_RPPS}, away_from_home=True),
            ("H", True, "away_from_home"),
        ),
        (
            "hors résidence sans MT",
            event(patient={"gp": None}, professional={"rpps": OTHER_RPPS}, away_from_home=True),
            ("H", True, "away_from_home"),
        ),
        ("urgence", specialist("cardiology", "CSC", emergency=True), ("U", None, "emergency")),
        (
            "D162-1-6 : soins palliatifs",
            specialist("other", excluded_context="palliative_care"),
            ("A", None, "excluded_context"),
        ),
        ("D162-1-6 : biologiste", specialist("medical_biology"), ("A", None, "excluded_specialty")),
        (
            "ALD, protocole de soins",
            specialist("cardiology", "CSC", patient={"ald": True}, ald_care=True),
            ("A", None, "ald_protocol"),
        ),
        ("spécialiste sans orientation", specialist("cardiology", "CSC"), ("S", False, "out_of_pathway")),
        ("autre généraliste que le MT", event(professional={"rpps": OTHER_RPPS}), ("S", False, "out_of_pathway")),
        ("sans MT", event(**ADULT_WITHOUT_GP), ("S", False, "out_of_pathway")),
        (
            "accès direct sans MT",
            specialist("gynecology", "GYN", patient={"gp": None}),
            ("S", False, "direct_access_without_gp"),
        ),
        (
            "orientation sans MT",
            specialist("cardiology", "CSC", patient={"gp": None}, referred_by_gp=True),
            ("S", False, "referral_without_gp"),
        ),
        ("moins de 16 ans", event(patient={"birth_date": "2012-01-01", "gp": None}), (None, None, "under_minimum_age")),
        (
            "téléexpertise seule (médecin requis)",
            specialist("dermatology", "TE2", patient={"gp": None}),
            (None, None, "teleexpertise_only"),
        ),
        (
            "dentiste",
            event(professional={"rpps": OTHER_RPPS, "profession": "dentist", "specialty": None}, acts=[{"code": "C"}]),
            (None, None, "not_a_physician"),
        ),
        ("AME", event(patient={"regime": "ame"}), (None, None, "excluded_regime")),
        (
            "téléconsultation sans MT",
            event(
                patient={"gp": None}, professional={"rpps": OTHER_RPPS}, teleconsultation=True, acts=[{"code": "TCG"}]
            ),
            (None, None, "teleconsultation_without_gp"),
        ),
        (
            "téléconsultation, MT indisponible",
            event(
                professional={"rpps": OTHER_RPPS}, teleconsultation=True, gp_unavailable=True, acts=[{"code": "TCG"}]
            ),
            (None, None, "teleconsultation_gp_unavailable"),
        ),
    ],
)
def test_indicator(label: str, e: Any, expected: tuple[str | None, bool | None, str]) -> None:
    assert outcome(e) == expected, label


def test_every_rule_is_exercised_above() -> None:
    """The table above covers every exception of the rule table, so a new rule cannot go untested."""
    import inspect
    import sys

    source = inspect.getsource(sys.modules[__name__])
    missing = [rule.id for rule in ALL_RULES if f'"{rule.id}"' not in source]
    assert missing == []


def test_rules_cite_their_sources() -> None:
    for rule in (*RULES, BASE_RULE):
        assert rule.sources, rule.id


class TestDirectAccessConditions:
    def test_gynecology_for_another_reason_is_out_of_pathway(self) -> None:
        assert outcome(specialist("gynecology", "GYN", visit_reason="other"))[0] == "S"

    def test_ophthalmology_for_another_reason_is_out_of_pathway(self) -> None:
        assert outcome(specialist("ophthalmology", visit_reason="other"))[0] == "S"

    @pytest.mark.parametrize(("birth", "indicator"), [("2010-03-03", "D"), ("2000-03-03", "D"), ("2000-03-02", "S")])
    def test_psychiatry_from_16_to_25_inclusive(self, birth: str, indicator: str) -> None:
        # On 2026-03-02: born 2010-03-03 is 15 → under 16, not concerned; 2000-03-03 is 25; 2000-03-02 is 26.
        e = specialist("psychiatry", "CNPSY", patient={"birth_date": birth})
        expected = None if birth.startswith("2010") else indicator
        assert outcome(e)[0] == expected

    def test_dermatology_is_not_direct_access(self) -> None:
        # The seed says otherwise; no source supports it [S29].
        assert outcome(specialist("dermatology"))[0] == "S"


class TestPriorities:
    def test_gp_beats_away_from_home(self) -> None:
        assert outcome(event(away_from_home=True))[0] == "T"

    def test_under_16_beats_emergency(self) -> None:
        assert outcome(event(patient={"birth_date": "2015-05-05"}, emergency=True))[0] is None

    def test_recently_installed_gp_needs_no_declared_mt(self) -> None:
        # With an MT declared elsewhere, a newly installed GP is simply another doctor: out of the pathway.
        e = event(professional={"rpps": OTHER_RPPS, "installed_on": "2024-01-01"})
        assert outcome(e)[0] == "S"

    def test_installed_more_than_five_years_ago_is_not_j(self) -> None:
        e = event(patient={"gp": None}, professional={"rpps": OTHER_RPPS, "installed_on": "2021-03-01"})
        assert outcome(e)[0] == "S"

    def test_specialist_mt_is_t(self) -> None:
        e = event(professional={"rpps": GP_RPPS, "specialty": "cardiology"}, acts=[{"code": "CSC"}])
        assert outcome(e)[0] == "T"


class TestTeleconsultation:
    def test_gp_teleconsultation_of_known_patient_is_paid(self) -> None:
        result = run(event(teleconsultation=True, last_in_person_visit="2025-11-02", acts=[{"code": "TCG"}]))
        assert result.pathway == "T"
        assert result.lines[0].status == "paid"
        assert result.amo == 2500 * 70 // 100 - 200  # 25 € × 70 % − 2 € PF [S16b][R50]

    def test_unknown_patient_is_not_reimbursed(self) -> None:
        result = run(event(teleconsultation=True, last_in_person_visit="2024-11-02", acts=[{"code": "TCG"}]))
        assert result.lines[0].status == "rejected"
        assert result.lines[0].reason == "teleconsultation_unknown_patient"
        assert result.amo == 0

    def test_direct_access_without_a_reason_states_the_assumption(self) -> None:
        # Issue 13: no visit_reason: the usual direct-access reason is assumed (D, 70 %), and the explanation says so.
        result = run(specialist("ophthalmology"))
        assert result.pathway == "D"
        step = next(s for s in result.explanation if s.rule == "assumption.direct_access_reason")
        assert "glasses, glaucoma" in step.text
        assert any("visit_reason" in w for w in result.warnings)
        assert not any(
            s.rule.startswith("assumption.")
            for s in run(specialist("ophthalmology", visit_reason="glasses")).explanation
        )

    def test_own_mt_without_last_visit_assumes_the_usual_situation(self) -> None:
        # Issue 13: a missing fact never silently becomes a refusal. The MT's patient is assumed known (seen in
        # person within 12 months [S10][S11]) and the explanation and the warnings say it is an assumption.
        result = run(event(teleconsultation=True, acts=[{"code": "TCG"}]))
        assert (result.pathway, result.lines[0].status, result.amo) == ("T", "paid", 1550)  # 25 × 70 % − 2 [R50]
        step = next(s for s in result.explanation if s.rule == "assumption.known_patient")
        assert "Hypothèse" in step.text
        assert "last_in_person_visit" in step.text
        assert any("last_in_person_visit" in w for w in result.warnings)

    def test_a_claim_without_in_person_visit_on_record_is_refused(self) -> None:
        # For a claim the facts come from the record: no visit on record is a fact, not a missing one.
        e = event(teleconsultation=True, in_person_history_on_record=True, acts=[{"code": "TCG"}])
        result = run(e)
        assert result.lines[0].reason == "teleconsultation_unknown_patient"
        assert not any(s.rule.startswith("assumption.") for s in result.explanation)

    def test_specialist_without_orientation_is_not_reimbursed(self) -> None:
        e = specialist("cardiology", "CSC", teleconsultation=True, last_in_person_visit="2026-01-10")
        assert run(e).lines[0].reason == "teleconsultation_not_oriented"

    def test_direct_access_specialty_may_teleconsult_without_orientation(self) -> None:
        e = specialist(
            "ophthalmology", teleconsultation=True, last_in_person_visit="2026-01-10", visit_reason="glasses"
        )
        result = run(e)
        assert (result.pathway, result.lines[0].status) == ("D", "paid")

    def test_patient_without_mt_is_reimbursed_without_majoration(self) -> None:
        e = event(
            patient={"gp": None}, professional={"rpps": OTHER_RPPS}, teleconsultation=True, acts=[{"code": "TCG"}]
        )
        result = run(e)
        assert result.lines[0].majoration == 0
        assert result.amo == 1550  # 25 × 70 % − 2

    def test_gp_replacement_may_teleconsult_without_orientation(self) -> None:
        # The MT's remplaçant stands for the MT (code R, S5 RG_CF641): no orientation needed [S10].
        e = event(
            professional={"rpps": OTHER_RPPS},
            replacing_gp=True,
            teleconsultation=True,
            last_in_person_visit="2025-11-02",
            acts=[{"code": "TCG"}],
        )
        result = run(e)
        assert (result.pathway, result.lines[0].status, result.amo) == ("R", "paid", 1550)  # 25 × 70 % − 2

    def test_under_16_teleconsultation_needs_neither_orientation_nor_prior_visit(self) -> None:
        e = specialist("dermatology", patient={"birth_date": "2014-05-01"}, teleconsultation=True)
        result = run(e)
        # Under 16: outside the pathway, CS + MPC + MCS (not out of the pathway) at 70 %, no PF under 18 [S10]
        assert (result.pathway_rule, result.lines[0].status, result.amo) == ("under_minimum_age", "paid", 2205)

    def test_emergency_teleconsultation_needs_neither_orientation_nor_prior_visit(self) -> None:
        result = run(specialist("cardiology", "CSC", emergency=True, teleconsultation=True))
        # U: CSC + MCC 52,50 € × 70 % − 2 € PF = 34,75 € [S10][R46]
        assert (result.pathway, result.lines[0].status, result.amo) == ("U", "paid", 3475)

    @pytest.mark.parametrize("institution", ["nursing_home", "prison", "disability_home"])
    def test_institution_resident_teleconsultation_is_reimbursed(self, institution: str) -> None:
        e = event(
            patient={"institution": institution},
            professional={"rpps": OTHER_RPPS},
            teleconsultation=True,
            acts=[{"code": "TCG"}],
        )
        line = run(e).lines[0]
        # The exception waives the teleconsultation conditions [S10], not the pathway: another GP than the MT
        # without orientation is out of the pathway, 25 × 70 % − 40 % × 25 − 2 = 5,50 €
        assert (line.status, line.majoration, line.amo) == ("paid", 1000, 550)

    def test_direct_access_specialty_needs_no_prior_visit(self) -> None:
        e = specialist("ophthalmology", teleconsultation=True, visit_reason="glasses")
        result = run(e)
        assert (result.pathway, result.lines[0].status, result.amo) == ("D", "paid", 2005)  # 31,50 × 70 % − 2

    def test_other_specialist_still_needs_a_prior_visit(self) -> None:
        e = specialist(
            "cardiology", "CSC", referred_by_gp=True, teleconsultation=True, in_person_history_on_record=True
        )
        assert run(e).lines[0].reason == "teleconsultation_unknown_patient"

    def test_other_specialist_without_the_date_names_the_missing_fact(self) -> None:
        # Not the MT: whether the patient is known is not the usual situation, so the simulation asks for it.
        e = specialist("cardiology", "CSC", referred_by_gp=True, teleconsultation=True)
        with pytest.raises(RuleInputError) as error:
            run(e)
        assert error.value.field == "last_in_person_visit"
        assert "12 derniers mois" in error.value.message


def test_teleexpertise_only_event_is_not_concerned_and_paid_in_full() -> None:
    result = run(specialist("dermatology", "TE2"))
    assert (result.pathway, result.in_pathway, result.amo) == (None, None, 2300)  # TE2 23 € at 100 % [S16a]
    step = result.explanation[0]
    assert step.rule == "pathway.teleexpertise_only"
    assert {s.id for s in step.sources} >= {"S16a", "R51"}


def test_teleexpertise_is_never_billed_with_another_act() -> None:
    # TE2 and RQD are not cumulable with other acts [S16a]: such an event is refused, naming the acts
    with pytest.raises(RuleInputError) as refused:
        run(specialist("dermatology", "CS", acts=[{"code": "CS"}, {"code": "RQD"}]))
    assert refused.value.field == "acts"


def test_an_installation_after_the_visit_is_refused() -> None:
    with pytest.raises(RuleInputError) as refused:
        run(event(patient={"gp": None}, professional={"rpps": OTHER_RPPS, "installed_on": "2027-01-01"}))
    assert refused.value.field == "professional.installed_on"
