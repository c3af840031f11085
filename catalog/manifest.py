"""Metadata as code: the ledger as a YAML file stewards review and apply.

``export`` writes sources (secrets referenced only by variable name) and every dataset's
steward-owned fields plus its column list. ``apply`` makes the ledger match the file in one
transaction and reports what changed; applying the same file twice changes nothing. Facts
only a crawl knows (statistics, row counts, modification times) are not in the file and
are left as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .connectors import connector_class
from .errors import InvalidInputError
from .ledger import DATASET_FIELDS, validation_error
from .models import Dataset, Source, now_utc, resource_code_for
from .store import CatalogStore

FORMAT_VERSION = 1
SOURCE_FIELDS = (
    "name",
    "kind",
    "url",
    "password_env",
    "password_file",
    "department",
    "department_code",
    "contacts",
    "description",
    "options",
)
COLUMN_KEYS = (
    "name",
    "type",
    "nullable",
    "description",
    "grade",
    "sensitivity",
    "sensitivity_source",
)


class DatasetEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="qualified name source.schema.table")
    resource_code: str | None = None
    kind: str | None = None
    columns: list[dict[str, Any]] | None = None
    # Steward fields are checked by the Dataset model itself once merged.
    fields: dict[str, Any] = Field(default_factory=dict)


class ManifestFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = FORMAT_VERSION
    sources: list[dict[str, Any]] = Field(default_factory=list)
    datasets: list[dict[str, Any]] = Field(default_factory=list)


def export_manifest(store: CatalogStore) -> dict[str, Any]:
    with store.read() as txn:
        sources = txn.list_sources()
        datasets = txn.list_datasets()
    return {
        "version": FORMAT_VERSION,
        "sources": [_source_entry(s) for s in sources],
        "datasets": [_dataset_entry(d) for d in datasets],
    }


def dump_yaml(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)


def _source_entry(source: Source) -> dict[str, Any]:
    doc = source.model_dump(mode="json", exclude_none=True)
    return {k: doc[k] for k in SOURCE_FIELDS if doc.get(k) not in (None, [], {})}


def _dataset_entry(dataset: Dataset) -> dict[str, Any]:
    doc = dataset.model_dump(mode="json", by_alias=True)
    entry: dict[str, Any] = {
        "name": dataset.qualified_name,
        "resource_code": dataset.resource_code,
        "kind": dataset.kind,
    }
    entry.update({k: doc[k] for k in DATASET_FIELDS if doc.get(k) not in (None, [])})
    entry["columns"] = [
        {k: col[k] for k in COLUMN_KEYS if col.get(k) is not None} for col in doc["columns"]
    ]
    return entry


@dataclass
class ApplyResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0

    @property
    def changed(self) -> int:
        return len(self.created) + len(self.updated)


def parse_yaml(text: str, origin: str) -> Any:
    """YAML text as data; a syntax error names the line and column of ``origin``."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InvalidInputError(
            f"{origin} is not valid YAML{where}: {problem}.",
            "Fix the file (check indentation and quoting) and apply it again.",
        ) from None


def load_manifest(path: Path) -> ManifestFile:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(f"Cannot read {path}: {exc.strerror}.") from None
    data = parse_yaml(text, str(path)) or {}
    if not isinstance(data, dict):
        raise InvalidInputError(f"{path} must hold a mapping with 'sources' and 'datasets'.")
    try:
        manifest = ManifestFile.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, f"catalog file {path}") from None
    if manifest.version > FORMAT_VERSION:
        raise InvalidInputError(
            f"{path} has format version {manifest.version}; this guajie "
            f"reads up to {FORMAT_VERSION}.",
            "Upgrade guajie.",
        )
    return manifest


def apply_manifest(
    store: CatalogStore, manifest: ManifestFile, *, dry_run: bool = False
) -> ApplyResult:
    result = ApplyResult()
    sources = [_parse_source(entry) for entry in manifest.sources]
    with store.write() as txn:
        known_sources = {s.name: s for s in txn.list_sources()}
        for source in sources:
            old = known_sources.get(source.name)
            if old is not None:
                source.created_at, source.updated_at = old.created_at, old.updated_at
                if old == source:
                    result.unchanged += 1
                    continue
                source.updated_at = now_utc()
                result.updated.append(f"source {source.name}")
            else:
                source.created_at = source.updated_at = now_utc()
                result.created.append(f"source {source.name}")
            known_sources[source.name] = source
            if not dry_run:
                txn.put_source(source)
        changed: list[Dataset] = []
        for entry in manifest.datasets:
            qn = str(entry.get("name", ""))
            parts = qn.split(".")
            if len(parts) != 3:
                raise InvalidInputError(
                    f"Dataset name {qn!r} in the catalog file must be source.schema.table."
                )
            if parts[0] not in known_sources:
                raise InvalidInputError(
                    f"Dataset {qn} belongs to source '{parts[0]}', which is neither registered "
                    "nor listed under 'sources' in the file.",
                    "Add the source to the file or register it with `guajie source add`.",
                )
            old_ds = txn.get_dataset(qn)
            new_ds = _merge_entry(entry, old_ds, known_sources[parts[0]])
            if old_ds is not None and old_ds == new_ds:
                result.unchanged += 1
                continue
            (result.updated if old_ds else result.created).append(qn)
            changed.append(new_ds)
        if not dry_run:
            txn.put_datasets(changed)
    return result


def _parse_source(entry: dict[str, Any]) -> Source:
    unknown = set(entry) - set(SOURCE_FIELDS)
    if unknown:
        raise InvalidInputError(
            f"Source entry {entry.get('name')!r} has unknown keys: {', '.join(sorted(unknown))}."
        )
    data = dict(entry)
    if "url" in data and "kind" not in data:
        from .connectors import kind_for_url

        data["kind"] = kind_for_url(str(data["url"]))
    try:
        source = Source.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, f"source {entry.get('name')!r} in the catalog file") from None
    source.url = connector_class(source.kind).normalize_url(source.url)
    return source


def _merge_entry(entry: dict[str, Any], old: Dataset | None, source: Source) -> Dataset:
    qn = str(entry["name"])
    allowed = {"name", "resource_code", "kind", "columns", *DATASET_FIELDS}
    unknown = set(entry) - allowed
    if unknown:
        raise InvalidInputError(
            f"Dataset {qn} in the catalog file has unknown keys: {', '.join(sorted(unknown))}.",
            f"Known keys: {', '.join(sorted(allowed))}.",
        )
    src, schema, name = qn.split(".")
    doc: dict[str, Any] = (
        old.model_dump(by_alias=True)
        if old
        else {
            "source": src,
            "schema": schema,
            "name": name,
            "resource_code": resource_code_for(qn, source.department_code),
            "published_at": now_utc(),
        }
    )
    for key in DATASET_FIELDS:
        doc[key] = entry.get(key, [] if key == "tags" else None)
    if entry.get("resource_code"):
        doc["resource_code"] = entry["resource_code"]
    if entry.get("kind"):
        doc["kind"] = entry["kind"]
    if entry.get("columns") is not None:
        doc["columns"] = _merge_columns(qn, entry["columns"], doc.get("columns", []))
    try:
        return Dataset.model_validate(doc)
    except ValidationError as exc:
        raise validation_error(exc, f"dataset {qn} in the catalog file") from None


def _merge_columns(
    qn: str, entries: list[Any], existing: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    by_name = {c["name"]: c for c in existing}
    if not existing:  # no crawl yet: the file describes the columns
        out = []
        for e in entries:
            if not isinstance(e, dict) or "name" not in e or "type" not in e:
                raise InvalidInputError(f"Each column of {qn} needs at least 'name' and 'type'.")
            out.append({k: e.get(k) for k in COLUMN_KEYS if k in e})
        return out
    for e in entries:
        if not isinstance(e, dict) or "name" not in e:
            raise InvalidInputError(f"Each column entry of {qn} needs a 'name'.")
        col = by_name.get(e["name"])
        if col is None:
            continue  # the crawl owns which columns exist
        for key in ("description", "grade", "sensitivity"):
            col[key] = e.get(key)
        col["sensitivity_source"] = e.get("sensitivity_source") or (
            "steward" if e.get("sensitivity") else col.get("sensitivity_source")
        )
        if col["sensitivity"] is None and e.get("sensitivity_source") is None:
            col["sensitivity_source"] = None
    return existing
