"""Scenarios (场景): who reads what, under which approvals, and what they write back.

A scenario is a YAML manifest applied with ``guajie scenario apply -f``::

    name: policy-direct
    title: 政策直达
    owner_department: 福州市发展和改革委员会
    purpose: 惠企政策精准推送
    data_list:                       # 数据清单: datasets and the access per column
      - dataset: market.enterprise
        columns: {credit_code: raw, name: raw, district: raw, legal_person_id: masked}
        row_filter: "district = '鼓楼区'"
      - dataset: tax.filings
        columns: all                 # every column; personal information masked
      - dataset: hrss.social_insurance_monthly
        columns: {credit_code: raw, headcount: aggregate}
    approvals:                       # for 有条件共享 datasets
      - dataset: market.enterprise
        approved_by: 福州市市场监督管理局
        until: 2027-06-30
    queries:
      - name: eligible
        sql: SELECT ...
    outputs:
      - query: eligible
        into: policy_direct_eligible
        mode: replace

Access per column: ``raw``, ``masked`` (the mask for its kind of personal information) or
``aggregate`` (only inside SUM/AVG/COUNT, small groups suppressed). A column listed by
name only, or ``columns: all``, gets ``raw`` unless it holds personal information, then
``masked``.
"""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import InvalidInputError, NotFoundError, did_you_mean
from .ledger import validation_error
from .manifest import parse_yaml
from .models import now_utc
from .store import CatalogStore

Access = Literal["raw", "masked", "aggregate"]
_NAME = re.compile(r"^[\w\u4e00-\u9fff][\w\u4e00-\u9fff-]{0,63}$")


class DataListEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dataset: str
    columns: dict[str, Access | None] | Literal["all"] = "all"
    # The access for columns listed without one (None: raw, or masked if personal).
    access: Access | None = None
    row_filter: str | None = None

    @field_validator("columns", mode="before")
    @classmethod
    def _list_form(cls, value: Any) -> Any:
        if isinstance(value, list):
            return {str(name): None for name in value}
        return value


class Approval(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dataset: str
    approved_by: str
    until: date
    reference: str | None = None


class NamedQuery(BaseModel):
    """A query by name; ``file`` (relative to the manifest) is read into ``sql`` on load."""

    model_config = ConfigDict(extra="forbid")

    name: str
    sql: str | None = None
    file: str | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _one_text(self) -> NamedQuery:
        if (self.sql is None) == (self.file is None):
            raise ValueError(f"query '{self.name}' needs exactly one of sql and file")
        return self

    @property
    def text(self) -> str:
        assert self.sql is not None, "files are read when the manifest is loaded"
        return self.sql


class Output(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str
    into: str
    mode: Literal["fail", "replace", "append"] = "replace"


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    title: str | None = None
    owner_department: str
    purpose: str
    data_list: list[DataListEntry] = Field(min_length=1)
    approvals: list[Approval] = Field(default_factory=list)
    queries: list[NamedQuery] = Field(default_factory=list)
    outputs: list[Output] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                "use letters, digits, '_' or '-' (Chinese characters are fine), at most 64"
            )
        return value

    def entry(self, qualified_name: str) -> DataListEntry | None:
        for entry in self.data_list:
            if entry.dataset == qualified_name:
                return entry
        return None

    def approval(self, qualified_name: str) -> Approval | None:
        """The approval that lasts longest for a dataset, if any."""
        found = [a for a in self.approvals if a.dataset == qualified_name]
        return max(found, key=lambda a: a.until) if found else None

    def query(self, name: str) -> NamedQuery:
        for q in self.queries:
            if q.name == name:
                return q
        raise NotFoundError(
            f"Scenario {self.name} has no query '{name}'.",
            did_you_mean(name, [q.name for q in self.queries])
            or f"Its queries: {', '.join(q.name for q in self.queries) or 'none'}.",
        )


def load_manifest(text: str, origin: str = "the manifest", base: Path | None = None) -> Scenario:
    """Parse and validate a manifest's shape (the catalog is checked on apply).

    Query files are read relative to ``base`` (the manifest's directory).
    """
    data = parse_yaml(text, origin)
    if not isinstance(data, dict):
        raise InvalidInputError(
            f"{origin} must be a mapping with name, owner_department, purpose and data_list.",
            "See `guajie scenario apply --help` for an example manifest.",
        )
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, f"scenario manifest {origin}") from None
    for query in scenario.queries:
        if query.file is None:
            continue
        path = (base or Path.cwd()) / query.file
        try:
            query.sql = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInputError(
                f"{origin}: query '{query.name}' reads {path}, which cannot be read "
                f"({exc.strerror}).",
                "Paths in a manifest are relative to the manifest's directory.",
            ) from None
        query.file = None
    return scenario


# -- the store ------------------------------------------------------------------------


def put_scenario(store: CatalogStore, scenario: Scenario) -> bool:
    """Store ``scenario``; returns False when the same manifest was already applied."""
    doc = scenario.model_dump_json(exclude_none=True)
    with store.write() as txn:
        rows = txn.db.execute("SELECT doc FROM scenarios WHERE name = ?", (scenario.name,))
        if rows and json.loads(rows[0][0]) == json.loads(doc):
            return False
        txn.db.execute(
            "INSERT INTO scenarios (name, doc, applied_at) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET doc = excluded.doc, applied_at = excluded.applied_at",
            (scenario.name, doc, now_utc().isoformat()),
        )
    return True


def get_scenario(store: CatalogStore, name: str) -> Scenario:
    with store.read() as txn:
        rows = txn.db.execute("SELECT doc FROM scenarios WHERE name = ?", (name,))
        if rows:
            return Scenario.model_validate_json(rows[0][0])
        names = [r[0] for r in txn.db.execute("SELECT name FROM scenarios ORDER BY name")]
    raise NotFoundError(
        f"Unknown scenario '{name}'.",
        did_you_mean(name, names)
        or "List scenarios with `guajie scenario list`; add one with `guajie scenario apply -f`.",
    )


def list_scenarios(store: CatalogStore) -> list[tuple[Scenario, str]]:
    with store.read() as txn:
        rows = txn.db.execute("SELECT doc, applied_at FROM scenarios ORDER BY name")
    return [(Scenario.model_validate_json(doc), at) for doc, at in rows]


def remove_scenario(store: CatalogStore, name: str) -> None:
    get_scenario(store, name)
    with store.write() as txn:
        txn.db.execute("DELETE FROM scenarios WHERE name = ?", (name,))
