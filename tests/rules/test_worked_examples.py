"""Worked examples of the rules brief (Groupama table [S3], service-public [S2])."""

from __future__ import annotations

import pytest

from parcours.rules.engine import adjudicate
from parcours.rules.event import CareEvent

GP = "10101010105"
OTHER = "10000000008"


def gp_visit(date: str, *, gp: str | None, sector: str = "1", optam: bool = False, fee: float = 30.0) -> CareEvent:
    return CareEvent.model_validate(
        {
            "date": date,
            "patient": {"birth_date": "1985-04-12", "gp": gp},
            "professional": {"rpps": GP, "specialty": "general_practice", "sector": sector, "optam": optam},
            "acts": [{"code": "G", "fee": fee}],
        }
    )


@pytest.mark.parametrize(
    ("gp", "sector", "expected_pathway", "expected_amo"),
    [
        (GP, "1", "T", 1900),  # 30 × 70 % − 2 = 19,00 €
        (None, "1", "S", 840),  # 30 × 70 % − 10,60 − 2 = 8,40 €
        (GP, "2", "T", 1410),  # 23 × 70 % − 2 = 14,10 €
        (None, "2", "S", 490),  # 23 × 70 % − 9,20 − 2 = 4,90 €
    ],
)
def test_groupama_table(gp: str | None, sector: str, expected_pathway: str, expected_amo: int) -> None:
    result = adjudicate(gp_visit("2026-03-02", gp=gp, sector=sector))
    assert result.pathway == expected_pathway
    assert result.amo == expected_amo
