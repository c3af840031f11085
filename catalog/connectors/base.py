"""The one interface every source kind implements.

A connector answers four questions about a departmental system, without copying its data:
does it answer (:meth:`check`), what does it hold (:meth:`crawl`: schemas and the statistics
the source already keeps), what SQL can it run (:meth:`capabilities`), and run a pushed-down
fragment as Arrow (:meth:`fetch`). Adding a source kind is one module with one subclass.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from ..errors import SourceError
from ..models import ColumnStats, Source

if TYPE_CHECKING:
    import pyarrow as pa

# Schema metadata of a fetch_table() result the server sent packed, not row by row
# (``explain --analyze`` says so).
PACKED_KEY = b"guajie.packed"


def arrow_data_type(name: str) -> pa.DataType:
    """The pyarrow type for an Arrow type string as the catalog records it."""
    import re

    import pyarrow as pa

    if name.startswith("list<item: ") and name.endswith(">"):
        return pa.list_(arrow_data_type(name[len("list<item: ") : -1]))
    if m := re.fullmatch(r"decimal(128|256)\((\d+), (-?\d+)\)", name):
        make = pa.decimal128 if m.group(1) == "128" else pa.decimal256
        return make(int(m.group(2)), int(m.group(3)))
    if name == "timestamp[us, tz=UTC]":
        return pa.timestamp("us", tz="UTC")
    return pa.type_for_alias(name)


@dataclass
class CrawledColumn:
    name: str
    type: str  # an Arrow type as pyarrow prints it: "int64", "decimal128(18, 2)", ...
    nullable: bool = True
    description: str | None = None
    stats: ColumnStats | None = None
    # Values the source hands out for free (e.g. pg_stats' common values); used only to
    # suggest sensitivity and never stored.
    samples: list[str] | None = None


@dataclass
class CrawledDataset:
    schema: str
    name: str
    columns: list[CrawledColumn]
    kind: str = "table"  # table | view | files
    description: str | None = None
    row_count: int | None = None
    size_bytes: int | None = None
    last_modified: datetime | None = None
    # A counter that moves whenever rows change (e.g. PostgreSQL's n_tup_ins+upd+del), for
    # sources that keep no modification time: the crawler turns a moved counter into one.
    change_counter: int | None = None
    location: str | None = None
    format: str | None = None
    partitioning: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str]:
        return (self.schema, self.name)


@dataclass(frozen=True)
class Capabilities:
    """What a source can run itself; the federation planner pushes down only these."""

    dialect: str | None  # sqlglot dialect of pushed-down SQL; None when the source runs no SQL
    joins: bool = False
    aggregates: bool = False
    window_functions: bool = False
    limit: bool = True
    projection: bool = True
    filters: bool = True


class Connector(ABC):
    kind: ClassVar[str]
    #: The format recorded as the catalog's 格式 for datasets of this kind.
    format_label: ClassVar[str] = "数据库"

    def __init__(self, source: Source, password: str | None = None) -> None:
        self.source = source
        self.password = password

    def __enter__(self) -> Connector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @classmethod
    def normalize_url(cls, url: str) -> str:
        """Validate a URL for this kind at registration; return it in canonical form."""
        return url

    @abstractmethod
    def check(self) -> str:
        """Connect and return a one-line description of what answered; raise SourceError."""

    @abstractmethod
    def crawl(self) -> Iterator[CrawledDataset]:
        """Yield every dataset's schema and cheap statistics. Never reads table data."""

    @abstractmethod
    def capabilities(self) -> Capabilities: ...

    def sample(
        self, dataset: CrawledDataset, columns: list[str], limit: int = 100
    ) -> dict[str, list[str]]:
        """A bounded sample of values for sensitivity detection (never stored)."""
        return {}

    def fetch(self, sql: str) -> pa.RecordBatchReader:
        """Run one pushed-down fragment in the source's own dialect and stream Arrow."""
        raise SourceError(self.source.name, f"{self.kind} sources do not run SQL fragments.")

    def fetch_table(
        self,
        sql: str,
        *,
        types: Mapping[str, str] | None = None,
        not_null: Collection[str] = (),
        expected_rows: int | None = None,
        sliced: bool = False,
    ) -> pa.Table:
        """The whole result of one fragment at once, for a caller that needs its rows in no
        particular order. ``types`` are the result's columns and Arrow types as the catalog
        has them (all of them, or None), ``not_null`` the columns it says hold no NULL,
        ``expected_rows`` the planner's estimate, and ``sliced`` says other slices of the
        same fragment are fetched at the same time: a connector may fetch another way given
        them, and returns the same table as :meth:`fetch` would."""
        return self.fetch(sql).read_all()

    def reads_in_slices(self) -> bool:
        """Whether the server reads a slice of a table's storage without scanning the rest
        (the planner's slice conditions then divide the work; elsewhere they would repeat
        it). Checked once per server and process."""
        return False

    def close(self) -> None:  # noqa: B027 - most connectors hold nothing open
        """Release connections."""

    def error(self, message: str, hint: str | None = None) -> SourceError:
        from ..errors import redact

        return SourceError(self.source.name, redact(message, self.password), hint)
