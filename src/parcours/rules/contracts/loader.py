"""Contracts by name (the shipped catalogue) or by file, checked against the contrat responsable rules."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from parcours.rules.contracts.model import CATALOGUE, Contract, ContractError, catalogue_names, read_contract
from parcours.rules.contracts.responsable import check_responsable


def load_contract(name_or_path: str, on: dt.date | None = None) -> Contract:
    """A catalogue formula (``confort``) or a YAML file; refused with ``ContractError`` if it breaks the rules."""
    path = Path(name_or_path)
    if not path.suffix:
        if name_or_path not in catalogue_names():
            known = ", ".join(catalogue_names())
            raise ContractError("contrat", f"formule inconnue « {name_or_path} » (formules : {known})")
        path = CATALOGUE / f"{name_or_path}.yaml"
    contract = read_contract(path)
    check_responsable(contract, on or dt.date.today())
    return contract


def catalogue(on: dt.date | None = None) -> list[Contract]:
    return [load_contract(name, on) for name in catalogue_names()]
