"""The personal-information detector: what it suggests, how sure it is, and what it keeps.

Suggestions are reviewed by stewards, so the tests pin down both directions: personal data
must be found by its name, its description or its values alone, and everyday columns
(``status``, ``district_code``, an enterprise's ``credit_code``) must not be flagged. The
samples are personal data themselves, so the tests also check that no value leaks into a
reason and that the detector keeps no reference to them.
"""

from __future__ import annotations

import gc
import itertools
import random
import weakref
from collections.abc import Iterator, Sequence
from datetime import date
from decimal import Decimal

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guajie.catalog.checkdigits import (
    id_number_check_char,
    is_valid_credit_code,
    is_valid_id_number,
    luhn_check_digit,
)
from guajie.catalog.models import PIKind
from guajie.catalog.sensitivity import MAX_SAMPLES, Suggestion, suggest_sensitivity

K = PIKind
_rng = random.Random(20240501)


def _id_number(rng: random.Random = _rng) -> str:
    first17 = (
        f"{rng.choice(['110105', '350102', '440305', '310104'])}"
        f"{rng.randint(1940, 2015)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        f"{rng.randint(0, 999):03d}"
    )
    return first17 + id_number_check_char(first17)


def _bank_card(rng: random.Random = _rng) -> str:
    while True:
        digits = rng.choice((9, 10, 12))
        payload = "622202" + "".join(rng.choice("0123456789") for _ in range(digits))
        card = payload + luhn_check_digit(payload)
        if not is_valid_id_number(card) and not is_valid_credit_code(card):
            return card


IDS = [_id_number() for _ in range(40)]
MOBILES = [f"1{_rng.choice('3456789')}{_rng.randint(0, 10**9 - 1):09d}" for _ in range(40)]
CARDS = [_bank_card() for _ in range(40)]
EMAILS = [f"user{i}@fz.gov.cn" for i in range(20)]
PLATES = ["闽A12345", "闽AD12345", "京B9X8Y7", "粤B12345D", "沪A·C1234", "闽D7K2M9", "浙A1234警"]
PERSONS = [
    "张伟",
    "王芳",
    "李娜",
    "刘洋",
    "陈静",
    "杨磊",
    "黄敏",
    "赵军",
    "周杰",
    "吴强",
    "徐丽",
    "孙浩",
    "欧阳娜娜",
    "司马光明",
    "林晓东",
    "郑秀英",
]
COMPANIES = [
    "福州市鼓楼区榕城科技有限公司",
    "福建省闽江建设集团有限公司",
    "鼓楼区市场监督管理局",
    "东街社区卫生服务中心",
    "福州海峡贸易有限公司",
    "福州市第一医院",
]
ADDRESSES = [
    "福建省福州市鼓楼区五四路128号",
    "福州市台江区上海街道三保路12号3栋201室",
    "厦门市思明区湖滨南路88号",
    "福州市仓山区城门镇林浦村45号",
    "晋安区福新中路9号2单元501室",
]
DISTRICTS = ["鼓楼", "台江", "仓山", "晋安", "马尾", "长乐"]
LANDLINES_AND_MASKED = ["0591-87654321", "138****5678", "13912345678", "(0591)83334444"]
RANDOM_18 = ["".join(_rng.choice("0123456789") for _ in range(18)) for _ in range(60)]


def times(values: list[str], count: int) -> list[str]:
    return list(itertools.islice(itertools.cycle(values), count))


# --- names alone ----------------------------------------------------------------------

BY_NAME = [
    # name
    ("姓名", K.NAME),
    ("xm", K.NAME),
    ("XM", K.NAME),
    ("legal_rep_name", K.NAME),
    ("contact_name", K.NAME),
    ("person_name", K.NAME),
    ("real_name", K.NAME),
    ("realName", K.NAME),
    ("legal_person_name", K.NAME),
    ("lxrxm", K.NAME),
    ("法定代表人", K.NAME),
    ("联系人", K.NAME),
    ("cust_nm", K.NAME),
    # id_number
    ("身份证", K.ID_NUMBER),
    ("身份证号码", K.ID_NUMBER),
    ("证件号码", K.ID_NUMBER),
    ("sfz", K.ID_NUMBER),
    ("sfzh", K.ID_NUMBER),
    ("SFZHM", K.ID_NUMBER),
    ("zjhm", K.ID_NUMBER),
    ("gmsfhm", K.ID_NUMBER),
    ("id_card", K.ID_NUMBER),
    ("idCardNo", K.ID_NUMBER),
    ("IDCARD", K.ID_NUMBER),
    ("id_no", K.ID_NUMBER),
    ("id_number", K.ID_NUMBER),
    ("citizen_id", K.ID_NUMBER),
    ("legal_rep_id_number", K.ID_NUMBER),
    # phone
    ("手机", K.PHONE),
    ("手机号码", K.PHONE),
    ("电话", K.PHONE),
    ("联系人电话", K.PHONE),
    ("sjhm", K.PHONE),
    ("lxdh", K.PHONE),
    ("lxrdh", K.PHONE),
    ("mobile", K.PHONE),
    ("phone", K.PHONE),
    ("phoneNumber", K.PHONE),
    ("tel", K.PHONE),
    ("contact_phone", K.PHONE),
    ("contacttel", K.PHONE),
    # address
    ("地址", K.ADDRESS),
    ("住址", K.ADDRESS),
    ("户籍地址", K.ADDRESS),
    ("dz", K.ADDRESS),
    ("jzdz", K.ADDRESS),
    ("address", K.ADDRESS),
    ("addr", K.ADDRESS),
    ("home_address", K.ADDRESS),
    ("residence", K.ADDRESS),
    ("id_card_address", K.ADDRESS),
    # bank_card
    ("银行卡", K.BANK_CARD),
    ("卡号", K.BANK_CARD),
    ("yhkh", K.BANK_CARD),
    ("bank_card", K.BANK_CARD),
    ("bank_card_no", K.BANK_CARD),
    ("card_no", K.BANK_CARD),
    ("account_no", K.BANK_CARD),
    # email
    ("邮箱", K.EMAIL),
    ("电子邮箱", K.EMAIL),
    ("email", K.EMAIL),
    ("e_mail", K.EMAIL),
    ("mail", K.EMAIL),
    ("email_address", K.EMAIL),
    ("contact_email", K.EMAIL),
    # plate_number
    ("车牌", K.PLATE_NUMBER),
    ("号牌号码", K.PLATE_NUMBER),
    ("cph", K.PLATE_NUMBER),
    ("hphm", K.PLATE_NUMBER),
    ("plate", K.PLATE_NUMBER),
    ("plate_number", K.PLATE_NUMBER),
    ("license_plate", K.PLATE_NUMBER),
    # birth_date
    ("出生日期", K.BIRTH_DATE),
    ("csrq", K.BIRTH_DATE),
    ("birth", K.BIRTH_DATE),
    ("birthday", K.BIRTH_DATE),
    ("date_of_birth", K.BIRTH_DATE),
    ("dob", K.BIRTH_DATE),
    ("birth_date", K.BIRTH_DATE),
    ("birth_dt", K.BIRTH_DATE),
]


@pytest.mark.parametrize(("name", "kind"), BY_NAME)
def test_name_alone_gives_a_medium_confidence_suggestion(name: str, kind: PIKind) -> None:
    s = suggest_sensitivity(name)
    assert s is not None
    assert (s.kind, s.confidence) == (kind, 0.6)
    assert s.reason.startswith("column name matches ")


NOT_PERSONAL_BY_NAME = [
    "status",
    "district_code",
    "credit_code",
    "unified_social_credit_code",
    "tyshxydm",
    "统一社会信用代码",
    "lot_id",
    "event_id",
    "user_id",
    "id",
    "ip_address",
    "IP地址",
    "mac_address",
    "company_name",
    "enterprise_name",
    "org_name",
    "lot_name",
    "product_name",
    "district_name",
    "industry_name",
    "file_name",
    "hostname",
    "企业名称",
    "qymc",
    "registered_address",
    "office_address",
    "企业地址",
    "phone_type",
    "is_phone_verified",
    "birth_rate",
    "birth_count",
    "birth_place",
    "出生地",
    "id_card_expiry_date",
    "address_id",
    "plate_color",
    "车牌颜色",
    "手机号码归属地",
    "microphone",
    "hotel",
    "stature",
    "total",
    "created_at",
    "",
]


@pytest.mark.parametrize("name", NOT_PERSONAL_BY_NAME)
def test_names_of_other_things_are_not_flagged(name: str) -> None:
    assert suggest_sensitivity(name) is None


def test_a_bare_name_is_only_weak_evidence() -> None:
    """``name`` is as likely an enterprise's name as a person's: flag it, but only weakly."""
    s = suggest_sensitivity("name")
    assert s is not None and s.kind is K.NAME
    assert s.confidence == 0.3
    assert "ambiguous" in s.reason


# --- names, types, descriptions and values together ---------------------------------

CASES: list[tuple[str, str, str | None, Sequence[object] | None, PIKind | None]] = [
    # values only, on a column whose name says nothing
    ("c1", "string", None, IDS, K.ID_NUMBER),
    ("c1", "string", None, MOBILES, K.PHONE),
    ("c1", "string", None, CARDS, K.BANK_CARD),
    ("c1", "string", None, EMAILS, K.EMAIL),
    ("c1", "string", None, times(PLATES, 14), K.PLATE_NUMBER),
    ("c1", "string", None, PERSONS, K.NAME),
    ("c1", "string", None, times(ADDRESSES, 10), K.ADDRESS),
    ("c1", "int64", None, [int(m) for m in MOBILES], K.PHONE),
    ("c1", "decimal128(19, 0)", None, [Decimal(c) for c in CARDS], K.BANK_CARD),
    ("c1", "double", None, [float(m) for m in MOBILES], K.PHONE),
    ("c1", "string", None, [*IDS, None, "", "   "], K.ID_NUMBER),
    # values that look like nothing personal
    ("c1", "string", None, RANDOM_18, None),  # random long numbers pass Luhn only ~10 %
    ("c1", "int64", None, list(range(1_000_000, 1_000_200)), None),
    ("c1", "string", None, COMPANIES, None),
    ("c1", "string", None, times(DISTRICTS, 20), None),
    ("c1", "string", None, times(["高风险", "中风险", "低风险"], 30), None),
    ("c1", "string", None, times(["张伟", "李娜"], 30), None),  # a repeated pair: a category
    ("c1", "string", None, ["正常", "注销", "吊销"] * 5, None),
    # mixed samples below the 80 % value-only threshold
    ("c1", "string", None, MOBILES[:6] + ["n/a"] * 4, None),
    ("c1", "string", None, IDS[:7] + RANDOM_18[:3], None),
    ("c1", "string", None, PERSONS[:7] + COMPANIES[:3] + DISTRICTS, None),
    # too few values to stand on their own
    ("c1", "string", None, IDS[:3], None),
    # name and values agree
    ("sfzh", "string", None, IDS, K.ID_NUMBER),
    ("lxdh", "string", None, times(LANDLINES_AND_MASKED, 12), K.PHONE),
    ("name", "string", None, PERSONS, K.NAME),
    (
        "csrq",
        "string",
        None,
        ["1990-01-01", "19850203", "1979年3月5日", "2001/12/31"] * 3,
        K.BIRTH_DATE,
    ),
    ("csrq", "int64", None, [19900101, 19851230, 20010305] * 3, K.BIRTH_DATE),
    # the column type settles it
    ("csrq", "date32[day]", None, None, K.BIRTH_DATE),
    ("birthday", "timestamp[us]", None, None, K.BIRTH_DATE),
    ("出生日期", "date64[ms]", None, ["not", "needed"], K.BIRTH_DATE),
    ("created_at", "timestamp[us, tz=UTC]", None, None, None),
    ("phone", "date32[day]", None, None, None),
    ("name", "int64", None, None, None),  # a number is not a person's name
    ("address", "int32", None, [1, 2, 3, 4, 5], None),
    ("phone", "bool", None, None, None),
    # descriptions help an opaque name
    ("c1", "string", "法人身份证号码", None, K.ID_NUMBER),
    ("f_07", "string", "Mobile phone number of the applicant", None, K.PHONE),
    ("name", "string", "企业名称", PERSONS, None),
    ("c1", "string", "手机号码归属地", None, None),
    ("c9", "string", "企业法定代表人姓名", None, K.NAME),
    ("c9", "string", "Name of the applicant", None, K.NAME),
    ("c9", "string", "Name of the enterprise", None, None),
    ("c9", "string", "The IP address of the device", None, None),
    ("sfzh", "string", "企业名称", None, K.ID_NUMBER),  # a clear name outranks the description
    # contradictions: the values know better
    ("name", "string", None, COMPANIES, None),
    ("name", "string", None, times(DISTRICTS, 12), None),
    ("phone", "string", None, IDS, K.ID_NUMBER),
    ("card_no", "string", None, IDS, K.ID_NUMBER),
    ("name", "string", None, MOBILES, K.PHONE),
    # negative names still let unmistakable values through, except for enterprise codes
    ("company_name", "string", None, PERSONS, None),
    ("ip_address", "string", None, times(ADDRESSES, 10), None),
    ("ip_address", "string", None, ["10.0.0.1", "192.168.1.20"] * 5, None),
    ("company_name", "string", None, IDS, K.ID_NUMBER),
    ("credit_code", "string", None, IDS, None),
    ("status", "string", None, ["1", "0", "2"] * 10, None),
    ("district_code", "string", None, ["350102", "350103", "350104"] * 5, None),
]


@pytest.mark.parametrize(("name", "arrow_type", "description", "samples", "expected"), CASES)
def test_suggestions(
    name: str,
    arrow_type: str,
    description: str | None,
    samples: Sequence[object] | None,
    expected: PIKind | None,
) -> None:
    s = suggest_sensitivity(name, arrow_type=arrow_type, description=description, samples=samples)
    assert (s.kind if s else None) is expected, s


def test_agreement_outranks_values_alone_which_outrank_a_name_alone() -> None:
    both = suggest_sensitivity("sfzh", samples=IDS)
    values = suggest_sensitivity("c1", samples=IDS)
    name = suggest_sensitivity("sfzh")
    assert both and values and name
    assert both.confidence > values.confidence > name.confidence
    assert both.reason == (
        f"column name matches 'sfzh' and {len(IDS)} of {len(IDS)} sampled values are "
        "valid 18-digit ID numbers (check digit)"
    )
    assert values.reason == (
        f"{len(IDS)} of {len(IDS)} sampled values are valid 18-digit ID numbers (check digit)"
    )


def test_a_description_is_named_as_the_source() -> None:
    s = suggest_sensitivity("c1", description="法人身份证号码")
    assert s is not None
    assert s.reason == "description mentions '身份证号码'"


def test_a_contradicted_explicit_name_is_kept_at_low_confidence() -> None:
    """Someone named the column ``phone`` on purpose: worth a look, but say it disagrees."""
    s = suggest_sensitivity("phone", samples=COMPANIES)
    assert s is not None and s.kind is K.PHONE
    assert s.confidence <= 0.3
    assert "but only 0 of 6 sampled values" in s.reason


def test_values_overrule_a_misleading_name_and_say_so() -> None:
    s = suggest_sensitivity("phone", samples=IDS)
    assert s is not None and s.kind is K.ID_NUMBER
    assert s.reason.endswith("; the column name suggested phone")


def test_too_few_values_neither_confirm_nor_contradict() -> None:
    s = suggest_sensitivity("phone", samples=["n/a", None])
    assert s is not None and (s.kind, s.confidence) == (K.PHONE, 0.6)
    assert "too few" in s.reason


def test_partly_matching_values_give_a_middling_confidence() -> None:
    s = suggest_sensitivity("mobile", samples=MOBILES[:6] + ["unknown"] * 4)
    assert s is not None and s.kind is K.PHONE
    assert 0.6 < s.confidence < 0.95


def test_empty_samples_fall_back_on_the_name() -> None:
    s = suggest_sensitivity("sfzh", samples=[None, "", "  "])
    assert s is not None and (s.kind, s.confidence) == (K.ID_NUMBER, 0.6)
    assert suggest_sensitivity("c1", samples=[]) is None


def test_arrow_arrays_are_read_as_values() -> None:
    s = suggest_sensitivity("c1", arrow_type="int64", samples=pa.array([int(m) for m in MOBILES]))
    assert s is not None and s.kind is K.PHONE


def test_suggestion_is_immutable() -> None:
    s = Suggestion(K.PHONE, "r", 0.5)
    with pytest.raises(AttributeError):
        s.kind = K.EMAIL  # type: ignore[misc]


# --- bounded, and nothing kept --------------------------------------------------------


def test_only_the_first_values_are_read() -> None:
    pulled = 0

    def endless() -> Iterator[str]:
        nonlocal pulled
        for value in itertools.cycle(MOBILES):
            pulled += 1
            yield value

    s = suggest_sensitivity("c1", samples=endless())
    assert s is not None and s.kind is K.PHONE
    assert pulled == MAX_SAMPLES
    assert f"{MAX_SAMPLES} of {MAX_SAMPLES}" in s.reason


class _Value:
    """A sampled value that can tell whether anyone still holds it."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text


def test_no_reference_to_a_sample_survives_the_call() -> None:
    values = [_Value(v) for v in IDS]
    refs = [weakref.ref(v) for v in values]
    s = suggest_sensitivity("c1", samples=values)
    assert s is not None and s.kind is K.ID_NUMBER
    del values
    gc.collect()
    assert all(r() is None for r in refs)


def test_unreadable_values_are_skipped() -> None:
    class Broken:
        def __str__(self) -> str:
            raise RuntimeError("cannot print")

    s = suggest_sensitivity("c1", samples=[Broken(), *IDS])
    assert s is not None and s.kind is K.ID_NUMBER


# --- generated personal data ----------------------------------------------------------


@st.composite
def id_numbers(draw: st.DrawFn) -> str:
    region = draw(st.sampled_from(["110105", "350102", "350203", "440305", "510107"]))
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=date(2024, 12, 31)))
    first17 = f"{region}{born:%Y%m%d}{draw(st.integers(0, 999)):03d}"
    return first17 + id_number_check_char(first17)


mobiles = st.builds(
    lambda second, rest: f"1{second}{rest:09d}",
    st.sampled_from("3456789"),
    st.integers(0, 10**9 - 1),
)


@st.composite
def bank_cards(draw: st.DrawFn) -> str:
    size = draw(st.integers(16, 19))
    payload = draw(st.sampled_from(["622202", "621700", "436742"])) + draw(
        st.text("0123456789", min_size=size - 7, max_size=size - 7)
    )
    return payload + luhn_check_digit(payload)


# A Luhn-valid 18-digit number can, rarely, also be a valid ID number or an all-digit
# enterprise credit code; the detector then counts it as that, not as a card.
cards_not_ids = bank_cards().filter(
    lambda c: not is_valid_id_number(c) and not is_valid_credit_code(c)
)

GENERATED = [
    (id_numbers(), K.ID_NUMBER, "sfzh"),
    (mobiles, K.PHONE, "sjhm"),
    (cards_not_ids, K.BANK_CARD, "yhkh"),
]
_settings = settings(
    max_examples=30, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def _no_value_in(reason: str, values: list[str]) -> bool:
    return not any(v in reason for v in values)


@pytest.mark.parametrize(("strategy", "kind", "column"), GENERATED)
def test_generated_values_are_detected_and_never_quoted(
    strategy: st.SearchStrategy[str], kind: PIKind, column: str
) -> None:
    @_settings
    @given(st.lists(strategy, min_size=5, max_size=60), st.data())
    def check(values: list[str], data: st.DataObject) -> None:
        as_int = data.draw(st.booleans(), label="as int64")
        samples: Sequence[object] = (
            [int(v) for v in values] if as_int and all(v.isdigit() for v in values) else values
        )
        arrow_type = "int64" if samples is not values else "string"
        for name, floor in (("c1", 0.6), (column, 0.95)):
            s = suggest_sensitivity(name, arrow_type=arrow_type, samples=samples)
            assert s is not None and s.kind is kind
            assert s.confidence >= floor
            assert _no_value_in(s.reason, values)

    check()


@_settings
@given(
    st.lists(st.text("0123456789", min_size=4, max_size=20), max_size=40),
    st.sampled_from(["c1", "phone", "sfzh", "name", "card_no", "csrq"]),
)
def test_no_reason_ever_quotes_a_value(values: list[str], name: str) -> None:
    s = suggest_sensitivity(name, samples=values)
    if s is not None:
        assert 0.0 <= s.confidence <= 1.0
        assert _no_value_in(s.reason, values)


@_settings
@given(
    st.lists(
        st.one_of(id_numbers(), mobiles, st.sampled_from(PERSONS + COMPANIES + ADDRESSES + PLATES)),
        max_size=30,
    )
)
def test_mixed_personal_values_are_never_quoted(values: list[str]) -> None:
    for name in ("c1", "name", "address", "plate"):
        s = suggest_sensitivity(name, samples=values)
        if s is not None:
            assert _no_value_in(s.reason, values)
