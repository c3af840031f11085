"""Schema fingerprints and typed drift between two versions of a dataset's columns."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from .models import DriftChange


class ColumnShape(Protocol):
    name: str
    type: str
    nullable: bool


def fingerprint(columns: Sequence[ColumnShape]) -> str:
    payload = json.dumps([[c.name, c.type, c.nullable] for c in columns], ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


_INT_WIDTH = {"int8": 1, "int16": 2, "int32": 3, "int64": 4}
_UINT_WIDTH = {"uint8": 1, "uint16": 2, "uint32": 3, "uint64": 4}
_DECIMAL = re.compile(r"decimal(?:128|256)\((\d+), (\d+)\)")


def is_widening(old: str, new: str) -> bool:
    """True when every value of ``old`` fits ``new`` unchanged, so readers keep working."""
    if old in _INT_WIDTH and new in _INT_WIDTH:
        return _INT_WIDTH[new] >= _INT_WIDTH[old]
    if old in _UINT_WIDTH and new in _UINT_WIDTH:
        return _UINT_WIDTH[new] >= _UINT_WIDTH[old]
    if old in _UINT_WIDTH and new in _INT_WIDTH:
        return _INT_WIDTH[new] > _UINT_WIDTH[old]
    if (old, new) in {("float", "double"), ("string", "large_string"), ("binary", "large_binary")}:
        return True
    if (m_old := _DECIMAL.fullmatch(old)) and (m_new := _DECIMAL.fullmatch(new)):
        p_old, s_old = map(int, m_old.groups())
        p_new, s_new = map(int, m_new.groups())
        return s_new >= s_old and p_new - s_new >= p_old - s_old
    return False


def column_changes(
    dataset: str, old: Sequence[ColumnShape], new: Sequence[ColumnShape], at: datetime
) -> list[DriftChange]:
    before = {c.name: c for c in old}
    after = {c.name: c for c in new}
    changes: list[DriftChange] = []
    for name, col in after.items():
        if name not in before:
            changes.append(
                DriftChange(
                    dataset=dataset,
                    change="added",
                    column=name,
                    new=col.type,
                    breaking=False,
                    detected_at=at,
                )
            )
    for name, col in before.items():
        if name not in after:
            changes.append(
                DriftChange(
                    dataset=dataset,
                    change="removed",
                    column=name,
                    old=col.type,
                    breaking=True,
                    detected_at=at,
                )
            )
            continue
        now = after[name]
        if now.type != col.type:
            changes.append(
                DriftChange(
                    dataset=dataset,
                    change="retyped",
                    column=name,
                    old=col.type,
                    new=now.type,
                    breaking=not is_widening(col.type, now.type),
                    detected_at=at,
                )
            )
        if now.nullable != col.nullable:
            # A column that starts admitting NULLs breaks readers that relied on it not to.
            changes.append(
                DriftChange(
                    dataset=dataset,
                    change="nullability",
                    column=name,
                    old="nullable" if col.nullable else "not null",
                    new="nullable" if now.nullable else "not null",
                    breaking=now.nullable,
                    detected_at=at,
                )
            )
    return changes
