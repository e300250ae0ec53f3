"""National identifiers: NIR (numéro de sécurité sociale) and RPPS, with their check digits.

Validation is delegated to python-stdnum, which implements the INSEE key (97 − n mod 97, Corsica's 2A/2B
replaced by 19/18) and the Luhn algorithm that the RPPS uses for its last digit.
"""

from __future__ import annotations

from functools import lru_cache

from stdnum import luhn
from stdnum.exceptions import InvalidChecksum
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.fr import nir as stdnum_nir

RPPS_LENGTH = 11
# A batch validates the same few thousand professionals' numbers once per claim; the cache keeps only valid ones
# (a raised error is never cached).
_RPPS_CACHE = 1 << 16


@lru_cache(maxsize=_RPPS_CACHE)
def validate_rpps(value: str) -> str:
    """An RPPS is 11 digits, the last a Luhn check digit. Returns the compact number or raises ValueError."""
    compact = value.replace(" ", "")
    if len(compact) != RPPS_LENGTH or not compact.isdigit():
        raise ValueError("un numéro RPPS compte 11 chiffres")
    if not luhn.is_valid(compact):
        raise ValueError("clé de contrôle du numéro RPPS invalide")
    return compact


def rpps_with_check_digit(first_ten: str) -> str:
    """Complete 10 digits into a valid RPPS (used by the synthetic data generator)."""
    if len(first_ten) != RPPS_LENGTH - 1 or not first_ten.isdigit():
        raise ValueError("10 chiffres attendus")
    return first_ten + luhn.calc_check_digit(first_ten)


def validate_nir(value: str) -> str:
    """A NIR is 13 characters (sex, year, month, birthplace incl. 2A/2B, order) and a 2-digit key."""
    compact = value.replace(" ", "").upper()
    try:
        return str(stdnum_nir.validate(compact))
    except InvalidChecksum:
        raise ValueError("clé de contrôle du NIR invalide") from None
    except StdnumError:
        raise ValueError(
            "un NIR compte 13 caractères (chiffres, 2A/2B pour la Corse) et une clé de 2 chiffres"
        ) from None


def nir_with_key(first_thirteen: str) -> str:
    """Complete a 13-character NIR with its key (synthetic data)."""
    compact = first_thirteen.upper()
    return compact + str(stdnum_nir.calc_check_digits(compact))
