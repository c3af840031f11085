"""The ledger's records, following the government resource catalog profile.

政务信息资源目录 fields map as: 信息资源名称 -> ``title``, 信息资源代码 -> ``resource_code``,
提供方 / 提供方代码 -> source ``department`` / ``department_code``, 分类 -> ``category``,
摘要 -> ``description``, 格式 -> ``format``, 信息项 -> ``columns``, 共享属性 ->
``sharing_type`` (+ ``sharing_condition`` / ``legal_basis``), 开放属性 -> ``open_type``,
更新周期 -> ``update_cycle``, 发布日期 -> ``published_at``.

Enumerations accept the Chinese label stewards know as well as the English token the
files and ``--json`` output use, e.g. ``有条件共享`` and ``conditional`` are the same value.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class LabelledEnum(StrEnum):
    """A StrEnum whose members also carry the Chinese label used in catalog forms."""

    @property
    def label(self) -> str:
        return self._label_map().get(self.value, self.value)

    @classmethod
    def parse(cls, value: Any) -> Any:
        if value is None or isinstance(value, cls):
            return value
        text = str(value).strip()
        labels = cls._label_map()
        for member in cls:
            if text.lower() == member.value or text == labels.get(member.value):
                return member
        for alias, member_value in cls._aliases().items():
            if text.lower() == alias:
                return cls(member_value)
        choices = ", ".join(f"{m.value} ({labels.get(m.value, '')})" for m in cls)
        raise ValueError(f"{text!r} is not one of: {choices}")

    @classmethod
    def _label_map(cls) -> dict[str, str]:
        return {}

    @classmethod
    def _aliases(cls) -> dict[str, str]:
        return {}


class SourceKind(StrEnum):
    POSTGRESQL = "postgresql"
    MYSQL = "mysql"
    SQLITE = "sqlite"
    DUCKDB = "duckdb"
    FILE = "file"


class UpdateCycle(LabelledEnum):
    REALTIME = "real-time"
    HOURLY = "hourly"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    HALF_YEARLY = "half-yearly"
    YEARLY = "yearly"
    IRREGULAR = "irregular"

    @classmethod
    def _label_map(cls) -> dict[str, str]:
        return {
            "real-time": "实时",
            "hourly": "每小时",
            "daily": "每日",
            "weekly": "每周",
            "monthly": "每月",
            "quarterly": "每季度",
            "half-yearly": "每半年",
            "yearly": "每年",
            "irregular": "不定期",
        }

    @classmethod
    def _aliases(cls) -> dict[str, str]:
        return {
            "realtime": "real-time",
            "annual": "yearly",
            "annually": "yearly",
            "semiannual": "half-yearly",
        }

    @property
    def interval(self) -> timedelta | None:
        """How old data may be before it is overdue; None when no promise is made."""
        return {
            "real-time": timedelta(hours=1),
            "hourly": timedelta(hours=2),
            "daily": timedelta(days=1, hours=12),
            "weekly": timedelta(days=8),
            "monthly": timedelta(days=32),
            "quarterly": timedelta(days=93),
            "half-yearly": timedelta(days=184),
            "yearly": timedelta(days=367),
        }.get(self.value)


class SharingType(LabelledEnum):
    UNCONDITIONAL = "unconditional"
    CONDITIONAL = "conditional"
    NOT_SHARED = "not-shared"

    @classmethod
    def _label_map(cls) -> dict[str, str]:
        return {
            "unconditional": "无条件共享",
            "conditional": "有条件共享",
            "not-shared": "不予共享",
        }

    @classmethod
    def _aliases(cls) -> dict[str, str]:
        return {"not_shared": "not-shared", "none": "not-shared"}


class OpenType(LabelledEnum):
    OPEN = "open"
    CONDITIONAL = "conditional"
    NOT_OPEN = "not-open"

    @classmethod
    def _label_map(cls) -> dict[str, str]:
        return {"open": "无条件开放", "conditional": "有条件开放", "not-open": "不予开放"}

    @classmethod
    def _aliases(cls) -> dict[str, str]:
        return {"not_open": "not-open", "closed": "not-open"}


class Grade(LabelledEnum):
    """Data grade per GB/T 43697-2024; members compare by severity."""

    GENERAL = "general"
    IMPORTANT = "important"
    CORE = "core"

    @classmethod
    def _label_map(cls) -> dict[str, str]:
        return {"general": "一般", "important": "重要", "core": "核心"}

    @property
    def rank(self) -> int:
        return ("general", "important", "core").index(self.value)


class PIKind(LabelledEnum):
    """Kinds of personal information a column can hold (个人信息)."""

    NAME = "name"
    ID_NUMBER = "id_number"
    PHONE = "phone"
    ADDRESS = "address"
    BANK_CARD = "bank_card"
    EMAIL = "email"
    PLATE_NUMBER = "plate_number"
    BIRTH_DATE = "birth_date"

    @classmethod
    def _label_map(cls) -> dict[str, str]:
        return {
            "name": "姓名",
            "id_number": "身份证号",
            "phone": "手机号码",
            "address": "住址",
            "bank_card": "银行卡号",
            "email": "电子邮箱",
            "plate_number": "车牌号",
            "birth_date": "出生日期",
        }

    @classmethod
    def _aliases(cls) -> dict[str, str]:
        return {"id": "id_number", "mobile": "phone", "plate": "plate_number", "card": "bank_card"}


def _enum(cls: type[LabelledEnum]) -> BeforeValidator:
    return BeforeValidator(cls.parse)


UpdateCycleField = Annotated[UpdateCycle | None, _enum(UpdateCycle)]
SharingTypeField = Annotated[SharingType | None, _enum(SharingType)]
OpenTypeField = Annotated[OpenType | None, _enum(OpenType)]
GradeField = Annotated[Grade | None, _enum(Grade)]
PIKindField = Annotated[PIKind | None, _enum(PIKind)]


def highest_grade(grades: list[Grade | None]) -> Grade | None:
    """就高从严: the strictest grade wins."""
    present = [g for g in grades if g is not None]
    return max(present, key=lambda g: g.rank) if present else None


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, populate_by_name=True)


class Contact(Record):
    name: str
    email: str | None = None
    phone: str | None = None

    @classmethod
    def parse(cls, text: str) -> Contact:
        """Parse ``"张伟 <zhangwei@example.gov.cn> 0591-87654321"`` style contacts."""
        email = re.search(r"<([^>]+)>", text)
        rest = re.sub(r"<[^>]+>", " ", text).split()
        phone = next((p for p in rest if re.fullmatch(r"[+\d][\d-]{5,}", p)), None)
        name = " ".join(p for p in rest if p != phone) or (email.group(1) if email else text)
        return cls(name=name, email=email.group(1) if email else None, phone=phone)


class Source(Record):
    """A departmental system mounted into the ledger (数据挂接), never copied."""

    name: str
    kind: SourceKind
    url: str
    password_env: str | None = None
    password_file: str | None = None
    department: str | None = None
    department_code: str | None = None
    contacts: list[Contact] = Field(default_factory=list)
    description: str | None = None
    options: dict[str, str] = Field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @field_validator("name")
    @classmethod
    def _name_is_identifier(cls, v: str) -> str:
        if not NAME_RE.match(v):
            raise ValueError(
                "must start with a lowercase letter and use only lowercase letters, digits "
                "and _ (it becomes the first part of qualified names, like a Trino catalog)"
            )
        return v

    @field_validator("url")
    @classmethod
    def _url_has_no_secret(cls, v: str) -> str:
        if re.match(r"^[a-z0-9+]+://[^/@]*:[^/@]*@", v):
            raise ValueError(
                "contains a password; remove it from the URL and pass the name of an "
                "environment variable with --password-env (or a file with --password-file)"
            )
        return v

    @field_validator("password_env")
    @classmethod
    def _env_name(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", v):
            raise ValueError("must be the NAME of an environment variable, not its value")
        return v


class ColumnStats(Record):
    null_fraction: float | None = None
    distinct_count: int | None = None
    min: str | None = None
    max: str | None = None


class Column(Record):
    """One 信息项."""

    name: str
    type: str
    nullable: bool = True
    description: str | None = None
    grade: GradeField = None
    sensitivity: PIKindField = None
    # "suggested" (by the detector, awaiting review) or "steward" (confirmed or overridden).
    sensitivity_source: str | None = None
    sensitivity_reason: str | None = None
    stats: ColumnStats | None = None

    @field_validator("sensitivity_source")
    @classmethod
    def _known_source(cls, v: str | None) -> str | None:
        if v not in (None, "suggested", "steward"):
            raise ValueError("must be 'suggested' or 'steward'")
        return v


def resource_code_for(qualified_name: str, department_code: str | None) -> str:
    """A stable 信息资源代码: provider code + a digest of the qualified name.

    Derived rather than sequential so that two workspaces applying the same catalog file
    agree on every code.
    """
    digest = hashlib.sha1(qualified_name.encode()).hexdigest()[:10].upper()
    return f"{department_code or 'GJ'}-{digest}"


class Dataset(Record):
    """A 信息资源: one table, view, file, or directory of files."""

    source: str
    schema_name: str = Field(alias="schema")
    name: str
    resource_code: str
    kind: str = "table"
    title: str | None = None
    owner: str | None = None
    description: str | None = None
    tags: list[str] = Field(default_factory=list)
    category: str | None = None
    format: str | None = None
    location: str | None = None
    update_cycle: UpdateCycleField = None
    sharing_type: SharingTypeField = None
    sharing_condition: str | None = None
    legal_basis: str | None = None
    open_type: OpenTypeField = None
    open_condition: str | None = None
    grade: GradeField = None
    row_count: int | None = None
    size_bytes: int | None = None
    last_modified: datetime | None = None
    published_at: datetime | None = None
    crawled_at: datetime | None = None
    fingerprint: str | None = None
    # Sources that keep no modification time expose a counter of changed rows instead;
    # the crawler records when it last saw the counter move.
    change_counter: int | None = None
    partitioning: list[str] = Field(default_factory=list)
    columns: list[Column] = Field(default_factory=list)

    @property
    def qualified_name(self) -> str:
        return f"{self.source}.{self.schema_name}.{self.name}"

    @property
    def effective_grade(self) -> Grade | None:
        return highest_grade([self.grade, *(c.grade for c in self.columns)])

    @property
    def sensitive_columns(self) -> list[Column]:
        return [c for c in self.columns if c.sensitivity is not None]

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    @field_validator("tags")
    @classmethod
    def _tags_unique(cls, v: list[str]) -> list[str]:
        return sorted({t.strip() for t in v if t.strip()})

    @model_validator(mode="after")
    def _terms_are_complete(self) -> Dataset:
        if self.sharing_type is SharingType.CONDITIONAL and not self.sharing_condition:
            raise ValueError(
                "sharing_type 有条件共享 (conditional) requires sharing_condition: "
                "state the 共享条件 users must meet"
            )
        if self.sharing_type is SharingType.NOT_SHARED and not self.legal_basis:
            raise ValueError(
                "sharing_type 不予共享 (not-shared) requires legal_basis: "
                "cite the law or regulation that forbids sharing"
            )
        if self.open_type is OpenType.CONDITIONAL and not self.open_condition:
            raise ValueError("open_type 有条件开放 (conditional) requires open_condition")
        if self.sharing_type is SharingType.NOT_SHARED and self.open_type in (
            OpenType.OPEN,
            OpenType.CONDITIONAL,
        ):
            raise ValueError(
                "open_type: a dataset that is 不予共享 (not-shared) cannot be opened to the public"
            )
        return self

    def overdue_by(self, at: datetime | None = None) -> timedelta | None:
        """How far past its update cycle the data is, or None if it is fresh or unknowable."""
        if self.update_cycle is None or self.last_modified is None:
            return None
        interval = self.update_cycle.interval
        if interval is None:
            return None
        age = (at or now_utc()) - self.last_modified
        return age - interval if age > interval else None


class DriftChange(Record):
    """One typed schema change found by a re-crawl."""

    dataset: str
    change: str  # added | removed | retyped | nullability | dataset_added | dataset_vanished
    column: str | None = None
    old: str | None = None
    new: str | None = None
    breaking: bool
    detected_at: datetime

    def describe(self) -> str:
        what = {
            "added": f"column {self.column} added ({self.new})",
            "removed": f"column {self.column} removed (was {self.old})",
            "retyped": f"column {self.column} retyped {self.old} -> {self.new}",
            "nullability": f"column {self.column} nullability {self.old} -> {self.new}",
            "dataset_added": "dataset appeared",
            "dataset_vanished": "dataset vanished from the source",
        }
        return what.get(self.change, self.change)
