"""The ledger's operations: what the CLI, the HTTP service and scenario apps call.

Every write reads, validates and stores inside one exclusive store transaction, so two
processes describing the same dataset at once both land.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from .connectors import connector_class, kind_for_url, open_connector
from .crawl import CrawlReport, Progress, crawl_source
from .errors import ConflictError, InvalidInputError, NotFoundError, did_you_mean
from .models import Column, Contact, Dataset, DriftChange, Source, SourceKind, now_utc
from .store import CatalogStore, Txn
from .workspace import Workspace

DATASET_FIELDS = (
    "title",
    "owner",
    "description",
    "tags",
    "category",
    "update_cycle",
    "sharing_type",
    "sharing_condition",
    "legal_basis",
    "open_type",
    "open_condition",
    "grade",
)
COLUMN_FIELDS = ("description", "grade", "sensitivity")


def validation_error(exc: ValidationError, what: str) -> InvalidInputError:
    """Turn pydantic's report into one paragraph naming each field and its rule."""
    problems = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "value"
        msg = err["msg"].removeprefix("Value error, ")
        problems.append(f"{loc}: {msg}" if not msg.startswith(loc) else msg)
    return InvalidInputError(f"Invalid {what} — " + "; ".join(problems) + ".")


class Catalog:
    """The ledger of one workspace."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace

    @classmethod
    def open(cls, home: str | None = None) -> Catalog:
        return cls(Workspace.open(home))

    @property
    def store(self) -> CatalogStore:
        return self.workspace.store

    # -- sources ---------------------------------------------------------------------
    def add_source(
        self,
        name: str,
        url: str,
        *,
        password_env: str | None = None,
        password_file: str | None = None,
        department: str | None = None,
        department_code: str | None = None,
        contacts: Iterable[str] = (),
        description: str | None = None,
        options: dict[str, str] | None = None,
        check: bool = True,
        replace: bool = False,
    ) -> tuple[Source, str | None]:
        """Register a source after checking that it answers; returns it and what answered."""
        kind = kind_for_url(url)
        url = connector_class(kind).normalize_url(url)
        try:
            source = Source(
                name=name,
                kind=SourceKind(kind),
                url=url,
                password_env=password_env,
                password_file=password_file,
                department=department,
                department_code=department_code,
                contacts=[Contact.parse(c) for c in contacts],
                description=description,
                options=options or {},
                created_at=now_utc(),
                updated_at=now_utc(),
            )
        except ValidationError as exc:
            raise validation_error(exc, f"source '{name}'") from None
        with self.store.read() as txn:
            if txn.get_source(name) is not None and not replace:
                raise ConflictError(
                    f"A source named '{name}' is already registered.",
                    f"Choose another name, or remove it first with `guajie source remove {name}`.",
                )
        answered = None
        if check:
            with open_connector(source) as connector:
                answered = connector.check()
        with self.store.write() as txn:
            previous = txn.get_source(name)
            if previous is not None and not replace:
                raise ConflictError(f"A source named '{name}' was registered meanwhile.")
            if previous is not None:
                source.created_at = previous.created_at
            txn.put_source(source)
        return source, answered

    def sources(self) -> list[Source]:
        with self.store.read() as txn:
            return txn.list_sources()

    def source(self, name: str) -> Source:
        with self.store.read() as txn:
            return self._source(txn, name)

    def _source(self, txn: Txn, name: str) -> Source:
        source = txn.get_source(name)
        if source is None:
            names = [s.name for s in txn.list_sources()]
            raise NotFoundError(
                f"No source named '{name}'.",
                did_you_mean(name, names) or "List sources with `guajie source list`.",
            )
        return source

    def test_source(self, name: str) -> str:
        with open_connector(self.source(name)) as connector:
            return connector.check()

    def remove_source(self, name: str) -> int:
        with self.store.write() as txn:
            self._source(txn, name)
            return txn.delete_source(name)

    # -- crawling --------------------------------------------------------------------
    def crawl(
        self, names: Iterable[str] = (), *, sample: bool = True, progress: Progress | None = None
    ) -> list[CrawlReport]:
        wanted = list(names)
        sources = [self.source(n) for n in wanted] if wanted else self.sources()
        return [crawl_source(self.store, s, sample=sample, progress=progress) for s in sources]

    # -- datasets --------------------------------------------------------------------
    def datasets(self, source: str | None = None) -> list[Dataset]:
        with self.store.read() as txn:
            if source is not None:
                self._source(txn, source)
            return txn.list_datasets(source)

    def resolve(self, target: str) -> tuple[Dataset, Column | None]:
        """Find ``source.schema.table[.column]`` (or ``source.table[.column]``)."""
        with self.store.read() as txn:
            return self._resolve(txn, target)

    def dataset(self, target: str) -> Dataset:
        dataset, column = self.resolve(target)
        if column is not None:
            raise InvalidInputError(f"'{target}' names a column; give a dataset.")
        return dataset

    def _resolve(self, txn: Txn, target: str) -> tuple[Dataset, Column | None]:
        parts = target.split(".")
        if len(parts) < 2:
            raise InvalidInputError(
                f"'{target}' is not a qualified name.",
                "Write source.schema.table (or source.table when the source has one schema).",
            )
        source = self._source(txn, parts[0])
        candidates: list[tuple[str, str | None]] = []
        if len(parts) >= 3:
            candidates.append((".".join(parts[:3]), ".".join(parts[3:]) or None))
        in_source = txn.list_datasets(source.name)
        schemas = {d.schema_name for d in in_source}
        if len(schemas) == 1:
            (schema,) = schemas
            candidates.append((f"{parts[0]}.{schema}.{parts[1]}", ".".join(parts[2:]) or None))
        for qn, column_name in candidates:
            dataset = txn.get_dataset(qn)
            if dataset is None:
                continue
            if column_name is None:
                return dataset, None
            column = dataset.column(column_name)
            if column is None:
                raise NotFoundError(
                    f"Dataset {qn} has no column '{column_name}'.",
                    did_you_mean(column_name, [c.name for c in dataset.columns])
                    or f"See its columns with `guajie catalog show {qn}`.",
                )
            return dataset, column
        names = [d.qualified_name for d in in_source]
        hint = did_you_mean(target, names) or did_you_mean(parts[-1], [d.name for d in in_source])
        raise NotFoundError(
            f"No dataset '{target}' in source '{source.name}'.",
            hint
            or f"Crawl the source with `guajie crawl {source.name}`, or list what it "
            f"holds with `guajie catalog list --source {source.name}`.",
        )

    def update(self, target: str, **changes: Any) -> Dataset:
        """Change steward fields of a dataset or column, validated as one record."""
        with self.store.write() as txn:
            dataset, column = self._resolve(txn, target)
            updated = apply_changes(dataset, column.name if column else None, changes, target)
            txn.put_dataset(updated)
            return updated

    def tag(self, target: str, add: Iterable[str] = (), remove: Iterable[str] = ()) -> Dataset:
        with self.store.write() as txn:
            dataset, column = self._resolve(txn, target)
            if column is not None:
                raise InvalidInputError("Tags belong to datasets; give a dataset name.")
            tags = (set(dataset.tags) | set(add)) - set(remove)
            updated = apply_changes(dataset, None, {"tags": sorted(tags)}, target)
            txn.put_dataset(updated)
            return updated

    def search(self, text: str) -> list[Dataset]:
        """Datasets whose names, titles, descriptions, tags or columns mention ``text``."""
        needle = text.lower()

        def haystack(d: Dataset) -> str:
            cols = " ".join(f"{c.name} {c.description or ''}" for c in d.columns)
            return " ".join(
                [
                    d.qualified_name,
                    d.title or "",
                    d.description or "",
                    d.owner or "",
                    " ".join(d.tags),
                    d.resource_code,
                    cols,
                ]
            ).lower()

        return [d for d in self.datasets() if needle in haystack(d)]

    def stale(self, at: datetime | None = None) -> list[tuple[Dataset, Any]]:
        at = at or now_utc()
        overdue = [(d, d.overdue_by(at)) for d in self.datasets()]
        return sorted([(d, o) for d, o in overdue if o is not None], key=lambda p: -p[1])

    def drift(self, target: str | None = None, since: datetime | None = None) -> list[DriftChange]:
        with self.store.read() as txn:
            if target is None:
                return txn.list_drift(since=since)
            if "." not in target:
                self._source(txn, target)
                return txn.list_drift(source=target, since=since)
            try:
                dataset, _ = self._resolve(txn, target)
                qn = dataset.qualified_name
            except NotFoundError:
                qn = target  # a vanished dataset is only in the drift log
            return txn.list_drift(dataset=qn, since=since)

    def history(self, target: str) -> list[dict[str, Any]]:
        with self.store.read() as txn:
            dataset, _ = self._resolve(txn, target)
            return txn.schema_history(dataset.qualified_name)


def apply_changes(
    dataset: Dataset, column: str | None, changes: dict[str, Any], target: str
) -> Dataset:
    allowed = COLUMN_FIELDS if column else DATASET_FIELDS
    unknown = set(changes) - set(allowed) - {"sensitivity_source", "sensitivity_reason"}
    if unknown:
        raise InvalidInputError(
            f"Cannot set {', '.join(sorted(unknown))} on {target}.",
            f"Settable fields: {', '.join(allowed)}.",
        )
    doc = dataset.model_dump(by_alias=True)
    if column is None:
        doc.update(changes)
    else:
        for col in doc["columns"]:
            if col["name"] == column:
                confirming = (
                    col["sensitivity_source"] == "suggested"
                    and changes.get("sensitivity") == col["sensitivity"]
                )
                col.update(changes)
                if "sensitivity" in changes:
                    col["sensitivity_source"] = "steward"
                    col["sensitivity_reason"] = (
                        f"confirmed by steward ({col['sensitivity_reason']})"
                        if confirming
                        else "set by steward"
                    )
    try:
        return Dataset.model_validate(doc)
    except ValidationError as exc:
        raise validation_error(exc, target) from None
