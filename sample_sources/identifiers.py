"""Valid Chinese identifiers: 统一社会信用代码, 身份证号, bank cards, mobile numbers, plates.

Key columns must be unique at any scale (they become primary keys on the servers), so credit
codes are built from a seeded permutation of the enterprise's index rather than drawn at
random: distinct indices can never collide. Check characters come from
:mod:`guajie.catalog.checkdigits`, the same code the sensitive-data detector validates with.
"""

from __future__ import annotations

import math
from datetime import date
from random import Random

from guajie.catalog.checkdigits import (
    CREDIT_CODE_CHARSET,
    credit_code_check_char,
    id_number_check_char,
    luhn_check_digit,
)

from .sampling import Weighted, digits, pick

_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)

# Index ranges inside one permutation: enterprises first, then public institutions.
MAX_ENTERPRISES = 10_000_000
_INSTITUTION_OFFSET = 50_000_000


def org_code_check_char(body: str) -> str:
    """GB 11714-1997 check character of an 8-character organisation code body."""
    total = 0
    for ch, w in zip(body, _ORG_WEIGHTS, strict=True):
        value = int(ch) if ch.isdigit() else ord(ch) - 55  # A=10 .. Z=35
        total += value * w
    c = 11 - total % 11
    return "X" if c == 10 else "0" if c == 11 else str(c)


class Permutation:
    """A seeded affine bijection of ``range(size)``: scrambled, but never two equal outputs."""

    __slots__ = ("_a", "_b", "size")

    def __init__(self, size: int, rng: Random) -> None:
        a = size // 3 + int(rng.random() * (size // 2))
        while math.gcd(a, size) != 1:
            a += 1
        self._a = a
        self._b = int(rng.random() * size)
        self.size = size

    def __call__(self, i: int) -> int:
        if not 0 <= i < self.size:
            raise ValueError(f"index {i} outside permutation of size {self.size}")
        return (self._a * i + self._b) % self.size


class CreditCodes:
    """Unique 统一社会信用代码 for the enterprises and public institutions of one seed.

    Enterprises registered before the 2015 reform carry their old 8-digit organisation code;
    newer ones get the 'MA' + 6 character form used by 工商 registration since then.
    """

    def __init__(self, seed: int) -> None:
        rng = Random(f"{seed}/credit-codes")
        self._numeric = Permutation(10**8, rng)
        self._new = Permutation(31**6, rng)

    def enterprise(self, index: int, district_code: str, new_style: bool) -> str:
        if not 0 <= index < MAX_ENTERPRISES:
            raise ValueError(f"enterprise index {index} out of range")
        if new_style:
            n = self._new(index)
            chars = []
            for _ in range(6):
                n, r = divmod(n, 31)
                chars.append(CREDIT_CODE_CHARSET[r])
            body = "MA" + "".join(reversed(chars))
        else:
            body = f"{self._numeric(index):08d}"
        return _credit_code("91", district_code, body)

    def institution(self, index: int, district_code: str) -> str:
        """A 事业单位 code (registration authority 1 = 机构编制, type 2 = 事业单位)."""
        body = f"{self._numeric(_INSTITUTION_OFFSET + index):08d}"
        return _credit_code("12", district_code, body)


def _credit_code(prefix: str, district_code: str, org_body: str) -> str:
    first17 = prefix + district_code + org_body + org_code_check_char(org_body)
    return first17 + credit_code_check_char(first17)


def id_number(rng: Random, area_code: str, birth: date, male: bool) -> str:
    """An 18-digit 公民身份号码; the 17th digit is odd for men and even for women."""
    seq = int(rng.random() * 100) * 10 + int(rng.random() * 5) * 2 + (1 if male else 0)
    if seq == 0:
        seq = 2
    first17 = f"{area_code}{birth.year:04d}{birth.month:02d}{birth.day:02d}{seq:03d}"
    return first17 + id_number_check_char(first17)


# UnionPay debit card BINs of banks common in 福建, with the card length each issues.
_CARD_BINS: Weighted[tuple[str, int]] = Weighted.of(
    [
        (("622202", 19), 5.0),  # 中国工商银行
        (("621700", 19), 4.0),  # 中国建设银行
        (("622848", 19), 4.0),  # 中国农业银行
        (("621661", 19), 2.0),  # 中国银行
        (("622262", 19), 1.5),  # 交通银行
        (("621799", 19), 3.0),  # 中国邮政储蓄银行
        (("622908", 18), 3.0),  # 兴业银行
        (("621483", 16), 1.5),  # 招商银行
        (("623521", 19), 2.0),  # 福建省农村信用社
    ]
)


def bank_card(rng: Random) -> str:
    """A Luhn-valid 16-19 digit UnionPay card number."""
    bin_, length = _CARD_BINS.pick(rng)
    payload = bin_ + digits(rng, length - len(bin_) - 1)
    return payload + luhn_check_digit(payload)


# Number segments of China Mobile, China Unicom and China Telecom in common use.
_MOBILE_SEGMENTS = (
    "130 131 132 133 134 135 136 137 138 139 150 151 152 153 155 156 157 158 159 166 173 177 "
    "180 181 182 183 185 186 187 188 189 191 198 199"
)
_MOBILE_PREFIXES = tuple(_MOBILE_SEGMENTS.split())


def mobile_number(rng: Random) -> str:
    return pick(rng, _MOBILE_PREFIXES) + digits(rng, 8)


_PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I or O on plates
_FUJIAN_CITIES = "BCDEFGHJK"
_OTHER_PROVINCES = ("浙C", "浙A", "粤B", "粤A", "赣A", "沪A", "京A", "苏E", "湘A", "川A")
_MASK64 = (1 << 64) - 1


def _mix64(x: int) -> int:
    """splitmix64 finaliser: a cheap, well-spread hash of an integer."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def plate_number(seed: int, vehicle: int) -> str:
    """The licence plate of vehicle number ``vehicle``: a pure function, no shared state.

    Mostly 闽A (福州), some other 福建 cities and out-of-province cars; about a fifth are
    new-energy plates with six characters after the city letter.
    """
    h = _mix64((seed << 32) ^ vehicle)
    origin, h = h % 100, h // 100
    if origin < 82:
        prefix = "闽A"
    elif origin < 92:
        prefix = "闽" + _FUJIAN_CITIES[h % len(_FUJIAN_CITIES)]
    else:
        prefix = _OTHER_PROVINCES[h % len(_OTHER_PROVINCES)]
    h //= 16
    if h % 100 < 20:
        h //= 100
        return f"{prefix}{'DF'[h % 2]}{(h // 2) % 100000:05d}"
    body = _mix64(h)
    chars = []
    letters = 0
    for _ in range(5):
        if body % 100 < 15 and letters < 2:
            chars.append(_PLATE_LETTERS[(body // 100) % len(_PLATE_LETTERS)])
            letters += 1
        else:
            chars.append(str((body // 100) % 10))
        body //= 2400
    return prefix + "".join(chars)
