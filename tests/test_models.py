"""Validation rules of the ledger's records: each error names the field and the rule."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from guajie.catalog.drift import column_changes, fingerprint, is_widening
from guajie.catalog.models import (
    Column,
    Contact,
    Dataset,
    Grade,
    OpenType,
    PIKind,
    SharingType,
    Source,
    UpdateCycle,
    now_utc,
    resource_code_for,
)


def dataset(**kw) -> Dataset:
    return Dataset(source="s", schema="main", name="t", resource_code="X", **kw)


@pytest.mark.parametrize(
    ("enum", "text", "member"),
    [
        (SharingType, "有条件共享", SharingType.CONDITIONAL),
        (SharingType, "conditional", SharingType.CONDITIONAL),
        (SharingType, "不予共享", SharingType.NOT_SHARED),
        (OpenType, "无条件开放", OpenType.OPEN),
        (UpdateCycle, "每季度", UpdateCycle.QUARTERLY),
        (UpdateCycle, "realtime", UpdateCycle.REALTIME),
        (Grade, "核心", Grade.CORE),
        (PIKind, "身份证号", PIKind.ID_NUMBER),
        (PIKind, "mobile", PIKind.PHONE),
    ],
)
def test_enums_accept_chinese_labels_and_tokens(enum, text, member):
    assert enum.parse(text) is member


def test_unknown_enum_value_lists_the_choices():
    with pytest.raises(ValidationError) as err:
        dataset(update_cycle="每十年")
    assert "update_cycle" in str(err.value)
    assert "每月" in str(err.value)


@pytest.mark.parametrize(
    ("terms", "field", "rule"),
    [
        ({"sharing_type": "有条件共享"}, "sharing_condition", "共享条件"),
        ({"sharing_type": "不予共享"}, "legal_basis", "law"),
        ({"open_type": "有条件开放"}, "open_condition", "open_condition"),
        (
            {"sharing_type": "不予共享", "legal_basis": "《个人信息保护法》", "open_type": "open"},
            "open_type",
            "cannot be opened",
        ),
    ],
)
def test_sharing_terms_must_be_complete(terms, field, rule):
    with pytest.raises(ValidationError) as err:
        dataset(**terms)
    assert field in str(err.value) and rule in str(err.value)


def test_complete_terms_are_accepted():
    d = dataset(sharing_type="有条件共享", sharing_condition="仅限政务服务")
    assert d.sharing_type is SharingType.CONDITIONAL


def test_dataset_takes_the_highest_grade_of_its_columns():
    d = dataset(
        grade="一般",
        columns=[
            Column(name="a", type="string", grade="核心"),
            Column(name="b", type="string", grade="重要"),
        ],
    )
    assert d.effective_grade is Grade.CORE
    assert dataset(grade="重要").effective_grade is Grade.IMPORTANT
    assert dataset().effective_grade is None


def test_source_url_may_not_carry_a_password():
    with pytest.raises(ValidationError) as err:
        Source(name="pg", kind="postgresql", url="postgresql://u:s3cret@h:5432/db")
    assert "--password-env" in str(err.value)


@pytest.mark.parametrize("name", ["Market", "1abc", "a-b", "", "a.b"])
def test_source_names_are_identifiers(name):
    with pytest.raises(ValidationError, match="lowercase"):
        Source(name=name, kind="sqlite", url="sqlite:///x.db")


def test_password_env_must_be_a_variable_name():
    with pytest.raises(ValidationError, match="NAME of an environment variable"):
        Source(name="pg", kind="postgresql", url="postgresql://u@h/db", password_env="p@ss w0rd!")


def test_contact_parsing():
    c = Contact.parse("林晓 <linxiao@scjg.gov.cn> 0591-87000001")
    assert (c.name, c.email, c.phone) == ("林晓", "linxiao@scjg.gov.cn", "0591-87000001")


def test_resource_code_is_stable_and_department_scoped():
    assert resource_code_for("a.main.t", "350100") == resource_code_for("a.main.t", "350100")
    assert resource_code_for("a.main.t", "350100").startswith("350100-")
    assert resource_code_for("a.main.t", None) != resource_code_for("a.main.u", None)


def test_overdue_compares_cycle_with_last_modified():
    now = now_utc()
    fresh = dataset(update_cycle="每日", last_modified=now - timedelta(hours=3))
    late = dataset(update_cycle="每日", last_modified=now - timedelta(days=5))
    assert fresh.overdue_by(now) is None
    assert late.overdue_by(now) > timedelta(days=3)
    assert (
        dataset(update_cycle="不定期", last_modified=now - timedelta(days=900)).overdue_by() is None
    )
    assert dataset(update_cycle="每月").overdue_by() is None  # never modified as far as we know


@pytest.mark.parametrize(
    ("old", "new", "widening"),
    [
        ("int32", "int64", True),
        ("int64", "int32", False),
        ("float", "double", True),
        ("decimal128(10, 2)", "decimal128(12, 2)", True),
        ("decimal128(10, 2)", "decimal128(10, 4)", False),
        ("string", "int64", False),
        ("uint16", "int32", True),
    ],
)
def test_widening(old, new, widening):
    assert is_widening(old, new) is widening


def test_column_changes_are_typed_and_marked_breaking():
    old = [
        Column(name="a", type="int32", nullable=False),
        Column(name="b", type="string"),
        Column(name="c", type="string"),
    ]
    new = [
        Column(name="a", type="int64", nullable=True),
        Column(name="c", type="int64"),
        Column(name="d", type="date32[day]"),
    ]
    changes = {
        (c.change, c.column): c.breaking for c in column_changes("s.m.t", old, new, now_utc())
    }
    assert changes == {
        ("added", "d"): False,
        ("removed", "b"): True,
        ("retyped", "a"): False,
        ("nullability", "a"): True,
        ("retyped", "c"): True,
    }
    assert fingerprint(old) != fingerprint(new)
    assert fingerprint(old) == fingerprint([Column(**c.model_dump()) for c in old])
