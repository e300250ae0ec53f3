"""French explanation texts read the figures of the law from the parameters, never from literals."""

from __future__ import annotations

import datetime as dt

import pytest

from parcours.rules.engine import REFUSALS
from parcours.rules.params import default_parameters
from parcours.rules.pathway import ALL_RULES, display, render, template_paths

from .conftest import OTHER_RPPS, event, run, specialist

SNAPSHOT = default_parameters().at(dt.date(2026, 3, 2))


@pytest.mark.parametrize("template", [rule.text for rule in ALL_RULES] + list(REFUSALS.values()))
def test_every_figure_of_a_text_is_a_parameter(template: str) -> None:
    text = render(template, SNAPSHOT)
    assert "{" not in text
    for path in template_paths(template):
        assert display(SNAPSHOT, path) in text


@pytest.mark.parametrize(
    ("e", "rule", "path"),
    [
        (event(patient={"birth_date": "2012-01-01"}), "pathway.under_minimum_age", "pathway.minimum_age"),
        (
            specialist("psychiatry", "CNPSY", patient={"birth_date": "2005-06-01"}),
            "pathway.direct_access_psychiatry",
            "pathway.direct_access.psychiatry_max_age",
        ),
        (
            event(patient={"gp": None}, professional={"rpps": OTHER_RPPS, "installed_on": "2023-09-01"}),
            "pathway.recently_installed_gp",
            "pathway.recently_installed_gp_years",
        ),
        (
            event(teleconsultation=True, last_in_person_visit="2024-11-02", acts=[{"code": "TCG"}]),
            "teleconsultation.refused",
            "pathway.teleconsultation.known_patient_months",
        ),
    ],
)
def test_steps_cite_the_parameters_their_text_names(e: object, rule: str, path: str) -> None:
    step = next(s for s in run(e).explanation if s.rule == rule)  # type: ignore[arg-type]
    assert path in [u.path for u in step.parameters]
    assert display(SNAPSHOT, path) in step.text


def test_maternity_exemption_names_the_month_from_the_parameter() -> None:
    result = run(event(patient={"pregnancy": {"start": "2025-09-15"}}))
    step = next(s for s in result.explanation if s.rule == "participation.exempt")
    assert f"{SNAPSHOT['maternity.from_pregnancy_month']}e mois" in step.text
