"""NIR and RPPS validation with their check digits."""

from __future__ import annotations

import pytest

from parcours.rules.identifiers import nir_with_key, rpps_with_check_digit, validate_nir, validate_rpps


@pytest.mark.parametrize("rpps", ["10101010105", "10000000009", "810000 12344"])
def test_valid_rpps(rpps: str) -> None:
    assert validate_rpps(rpps) == rpps.replace(" ", "")


@pytest.mark.parametrize(
    ("rpps", "message"), [("10101010104", "clé"), ("1010101010", "11 chiffres"), ("1010101010A", "11 chiffres")]
)
def test_invalid_rpps(rpps: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_rpps(rpps)


def test_rpps_check_digit_is_luhn() -> None:
    assert rpps_with_check_digit("1010101010") == "10101010105"


@pytest.mark.parametrize("first", ["1850475123456", "285042A123456", "285042B123456"])
def test_nir_key_including_corsica(first: str) -> None:
    nir = nir_with_key(first)
    assert validate_nir(nir) == nir


def test_corsica_keys_differ_between_2a_and_2b() -> None:
    assert nir_with_key("285042A123456")[-2:] != nir_with_key("285042B123456")[-2:]


@pytest.mark.parametrize(("nir", "message"), [("185047512345699", "clé"), ("18504751234", "13 caractères")])
def test_invalid_nir(nir: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_nir(nir)
