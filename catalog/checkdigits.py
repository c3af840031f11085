"""Check digits of the identifiers Chinese city data is keyed on.

Pure functions shared by the sample generator (to make valid codes) and the
sensitive-data detector (to recognise them without false positives).

>>> credit_code_check_char("91350100M000100Y4")
'3'
>>> is_valid_id_number("11010519491231002X")
True
"""

from __future__ import annotations

import re

# GB 32100-2015: 统一社会信用代码 uses 31 symbols (no I, O, Z, S, V).
CREDIT_CODE_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_CREDIT_RE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")

# GB 11643-1999: 公民身份号码, ISO 7064 MOD 11-2.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_RE = re.compile(r"^\d{6}(18|19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])\d{3}[\dXx]$")

_MOBILE_RE = re.compile(r"^(?:\+?86)?1[3-9]\d{9}$")
_EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
_CARD_RE = re.compile(r"^\d{16,19}$")


def credit_code_check_char(first17: str) -> str:
    total = sum(
        CREDIT_CODE_CHARSET.index(c) * w for c, w in zip(first17, _CREDIT_WEIGHTS, strict=True)
    )
    return CREDIT_CODE_CHARSET[(31 - total % 31) % 31]


def is_valid_credit_code(value: str) -> bool:
    return bool(_CREDIT_RE.match(value)) and credit_code_check_char(value[:17]) == value[17]


def id_number_check_char(first17: str) -> str:
    total = sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def is_valid_id_number(value: str) -> bool:
    return bool(_ID_RE.match(value)) and id_number_check_char(value[:17]) == value[17].upper()


def luhn_check_digit(payload: str) -> str:
    """The digit that makes ``payload + digit`` pass the Luhn check."""
    total = 0
    for i, ch in enumerate(reversed(payload)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def is_valid_bank_card(value: str) -> bool:
    return bool(_CARD_RE.match(value)) and luhn_check_digit(value[:-1]) == value[-1]


def is_mobile_number(value: str) -> bool:
    return bool(_MOBILE_RE.match(value))


def is_email(value: str) -> bool:
    return bool(_EMAIL_RE.match(value))
