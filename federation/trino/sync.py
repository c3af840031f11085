"""From the catalog to Trino: one Trino catalog per source, named after the source.

``source.schema.table`` therefore means the same on both engines. What each kind becomes:

* PostgreSQL -> ``connector.name=postgresql`` (``jdbc:postgresql://host:port/db``).
* MySQL / MariaDB -> ``connector.name=mariadb`` for MariaDB 10.10 and newer, ``mysql``
  otherwise: the server is asked for its version at sync time, or the source option
  ``trino_connector`` (``mariadb`` / ``mysql``) says so.
* Files (Parquet, CSV; local ``file://`` or ``s3://``) -> the Hive connector with a file
  metastore, one catalog per source, each dataset an external table in schema ``default``.
  Partitioned datasets are registered with ``system.sync_partition_metadata``. CSV tables
  must be all-VARCHAR in Trino: the raw table lives in schema ``guajie_csv`` and
  ``default.<name>`` is a view casting every column to the catalog's type, reading the
  values pyarrow reads as null (empty, ``NA``, ``NULL`` ...) as null too.

Passwords are never written: ``connection-password=${ENV:VAR}`` names the source's
``password_env`` (for a ``password_file`` source, ``GUAJIE_<SOURCE>_PASSWORD``; the report
lists the variables the Trino server needs). Sources Trino cannot serve (SQLite, DuckDB,
HTTP files, JSON lines, a file sharing its directory with other files) are listed with the
reason. Re-running changes nothing that is up to date; a removed source loses its catalog.

Catalog files go to ``catalog_dir`` (``<workspace>/trino/catalog`` by default), each marked
as written by guajie: deploy them to a static cluster's ``etc/catalog`` and restart it, or
let sync apply them with ``CREATE CATALOG`` where the cluster runs with
``catalog.management=dynamic`` (the single node of ``make trino`` does).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from guajie.catalog.errors import GuajieError
from guajie.catalog.models import Dataset, Source, SourceKind

from .client import TrinoClient
from .errors import TrinoCatalogError, TrinoConfigError, TrinoError
from .settings import TrinoSettings
from .types import hive_type_for, trino_type_for

MARKER = "# Written by `guajie trino sync`"
STATE_FILE = ".guajie-sync.json"
CSV_SCHEMA = "guajie_csv"
FILE_SCHEMA = "default"
COMMENT_PREFIX = "guajie:"
RESERVED_CATALOGS = {"system", "information_schema"}
#: The strings pyarrow's CSV reader takes for null (ConvertOptions().null_values).
CSV_NULLS = (
    "",
    "#N/A",
    "#N/A N/A",
    "#NA",
    "-1.#IND",
    "-1.#QNAN",
    "-NaN",
    "-nan",
    "1.#IND",
    "1.#QNAN",
    "N/A",
    "NA",
    "NULL",
    "NaN",
    "n/a",
    "nan",
    "null",
)
_HIVE_FORMATS = {"parquet": "PARQUET", "csv": "CSV"}


# --------------------------------------------------------------------------------------------
# What sync wants


@dataclass
class HiveTable:
    """One file dataset as a Hive external table (and, for CSV, a typed view)."""

    dataset: str
    name: str
    format: str  # PARQUET | CSV
    location: str  # as Trino addresses it: local:///data/<link>/<dir> or s3://bucket/prefix
    columns: list[tuple[str, str]]  # the Hive table's columns and types
    partitioned_by: list[str] = field(default_factory=list)
    csv_separator: str | None = None
    view: list[tuple[str, str]] = field(default_factory=list)  # CSV: column -> expression
    link: tuple[str, str] | None = None  # local files: (link name, target directory)

    @property
    def table_schema(self) -> str:
        return CSV_SCHEMA if self.format == "CSV" else FILE_SCHEMA

    @property
    def digest(self) -> str:
        doc = asdict(self)
        doc.pop("link")
        text = json.dumps(doc, sort_keys=True, ensure_ascii=False)
        return hashlib.sha1(text.encode()).hexdigest()[:16]

    @property
    def comment(self) -> str:
        return f"{COMMENT_PREFIX}{self.digest}"


@dataclass
class CatalogSpec:
    """The Trino catalog for one source."""

    name: str
    kind: str
    connector: str
    properties: dict[str, str]
    tables: list[HiveTable] = field(default_factory=list)
    unserved: dict[str, str] = field(default_factory=dict)  # dataset -> reason
    env: dict[str, str] = field(default_factory=dict)  # variable the server needs -> purpose

    def render(self) -> str:
        lines = [
            f"{MARKER} for source '{self.name}'; edits are overwritten.",
            *(f"{key}={_escape_property(value)}" for key, value in self.properties.items()),
        ]
        return "\n".join(lines) + "\n"


@dataclass
class Unserved:
    source: str
    kind: str
    reason: str


@dataclass
class SyncPlan:
    catalogs: list[CatalogSpec]
    unserved: list[Unserved]


def _escape_property(value: str) -> str:
    # Java properties: backslashes escape; keep ${ENV:VAR} readable.
    return value.replace("\\", "\\\\").replace("\n", "\\n")


# --------------------------------------------------------------------------------------------
# Planning (no Trino involved; files are listed, MySQL servers asked for their version)

MySQLProbe = Callable[[Source], str]
FileLister = Callable[[Source], "FileListing"]


@dataclass
class FileListing:
    """A file source's files: directory path -> names of the non-hidden files directly in it,
    plus every file's path below the source root (for nested layouts)."""

    root: str  # filesystem path of the source (for s3: bucket/prefix)
    files: list[str]  # filesystem paths of every non-hidden file below ``root``
    siblings: dict[str, list[str]] = field(default_factory=dict)  # dir -> file names in it


def plan_sync(
    sources: Iterable[Source],
    datasets: Iterable[Dataset],
    settings: TrinoSettings,
    *,
    mysql_probe: MySQLProbe | None = None,
    file_lister: FileLister | None = None,
) -> SyncPlan:
    probe = mysql_probe or probe_mysql
    lister = file_lister or list_file_source
    by_source: dict[str, list[Dataset]] = {}
    for d in datasets:
        by_source.setdefault(d.source, []).append(d)
    catalogs: list[CatalogSpec] = []
    unserved: list[Unserved] = []
    for source in sorted(sources, key=lambda s: s.name):
        kind = str(source.kind)
        if source.name in RESERVED_CATALOGS:
            unserved.append(
                Unserved(source.name, kind, f"'{source.name}' is the name of Trino's own catalog")
            )
            continue
        try:
            if source.kind is SourceKind.POSTGRESQL:
                catalogs.append(_postgres_catalog(source))
            elif source.kind is SourceKind.MYSQL:
                catalogs.append(_mysql_catalog(source, probe))
            elif source.kind is SourceKind.FILE:
                spec, reason = _file_catalog(
                    source, by_source.get(source.name, []), settings, lister
                )
                if spec is None:
                    unserved.append(Unserved(source.name, kind, reason))
                else:
                    catalogs.append(spec)
            elif source.kind is SourceKind.SQLITE:
                unserved.append(
                    Unserved(
                        source.name,
                        kind,
                        "Trino has no SQLite connector; query it with the embedded engine, "
                        "or move the tables to PostgreSQL, MySQL or Parquet files",
                    )
                )
            elif source.kind is SourceKind.DUCKDB:
                unserved.append(
                    Unserved(
                        source.name,
                        kind,
                        "Trino 476's DuckDB connector cannot read a DuckDB file another process "
                        "uses; query it with the embedded engine, or export it to Parquet",
                    )
                )
            else:
                unserved.append(Unserved(source.name, kind, "Trino has no connector for it"))
        except GuajieError as exc:
            unserved.append(Unserved(source.name, kind, str(exc)))
    return SyncPlan(catalogs, unserved)


def _password_reference(source: Source, spec: CatalogSpec) -> str | None:
    if source.password_env:
        spec.env[source.password_env] = f"password of source '{source.name}'"
        return f"${{ENV:{source.password_env}}}"
    if source.password_file:
        var = f"GUAJIE_{source.name.upper()}_PASSWORD"
        spec.env[var] = (
            f"password of source '{source.name}' (guajie reads it from {source.password_file}; "
            "Trino needs it in this variable)"
        )
        return f"${{ENV:{var}}}"
    return None


def _jdbc_common(spec: CatalogSpec, user: str | None, source: Source) -> None:
    if user:
        spec.properties["connection-user"] = user
    password = _password_reference(source, spec)
    if password:
        spec.properties["connection-password"] = password
    spec.properties["case-insensitive-name-matching"] = "true"
    spec.properties["unsupported-type-handling"] = "CONVERT_TO_VARCHAR"


def _postgres_catalog(source: Source) -> CatalogSpec:
    from guajie.catalog.connectors.postgres import parse_postgres_url

    target = parse_postgres_url(source.url)
    host = f"[{target.host}]" if ":" in target.host else target.host
    url = f"jdbc:postgresql://{host}:{target.port}/{target.database}"
    if target.sslmode:
        url += f"?sslmode={target.sslmode}"
    spec = CatalogSpec(
        source.name,
        str(source.kind),
        "postgresql",
        {"connector.name": "postgresql", "connection-url": url},
    )
    _jdbc_common(spec, target.user, source)
    # numeric without precision is decimal(38, 10) in the catalog; keep it visible and equal.
    spec.properties.update(
        {
            "decimal-mapping": "allow_overflow",
            "decimal-default-scale": "10",
            "decimal-rounding-mode": "HALF_UP",
            "postgresql.array-mapping": "AS_ARRAY",
        }
    )
    return spec


_MARIADB_SSL = {
    "disabled": "disable",
    "required": "trust",
    "verify_ca": "verify-ca",
    "verify_identity": "verify-full",
}
_MYSQL_SSL = {
    "disabled": "DISABLED",
    "required": "REQUIRED",
    "verify_ca": "VERIFY_CA",
    "verify_identity": "VERIFY_IDENTITY",
}


def _mysql_catalog(source: Source, probe: MySQLProbe) -> CatalogSpec:
    from guajie.catalog.connectors.mysql import parse_mysql_url

    target = parse_mysql_url(source.url)
    choice = (source.options.get("trino_connector") or "").strip().lower()
    if choice not in ("", "mariadb", "mysql"):
        raise TrinoConfigError(
            f"Source '{source.name}': option trino_connector is {choice!r}.",
            "Use trino_connector=mariadb or trino_connector=mysql.",
        )
    connector = choice or probe(source)
    host = f"[{target.host}]" if ":" in target.host else target.host
    url = f"jdbc:{connector}://{host}:{target.port}"
    if target.sslmode:
        table = _MARIADB_SSL if connector == "mariadb" else _MYSQL_SSL
        url += f"?sslMode={table[target.sslmode]}"
    spec = CatalogSpec(
        source.name,
        str(source.kind),
        connector,
        {"connector.name": connector, "connection-url": url},
    )
    _jdbc_common(spec, target.user, source)
    return spec


def probe_mysql(source: Source) -> str:
    """``mariadb`` for MariaDB 10.10+ (what Trino's MariaDB connector needs), else ``mysql``."""
    from guajie.catalog.connectors import open_connector

    try:
        with open_connector(source) as connector:
            answered = connector.check()
    except GuajieError as exc:
        raise TrinoCatalogError(
            source.name,
            f"cannot tell whether it is MySQL or MariaDB: {exc}",
            f"Make it answer, or set `--option trino_connector=mariadb` (or mysql) on "
            f"`guajie source add {source.name} ... --replace`.",
        ) from None
    m = re.match(r"MariaDB (\d+)\.(\d+)", answered)
    if m and (int(m.group(1)), int(m.group(2))) >= (10, 10):
        return "mariadb"
    return "mysql"


# -- files -----------------------------------------------------------------------------------


def list_file_source(source: Source) -> FileListing:
    """List a file source's files once (metadata only)."""
    from guajie.catalog.connectors.filesystems import IGNORED_PREFIXES, FileStore
    from guajie.catalog.secrets import resolve_password

    store = FileStore(source.url, source.options, resolve_password(source))
    try:
        is_dir, entry = store.stat(source.url)
        if is_dir:
            root = store.path_for(source.url).rstrip("/")
            files = [e.path for e in store.list_files(source.url)]
        else:
            root = entry.path.rsplit("/", 1)[0]
            files = [entry.path]
        siblings: dict[str, list[str]] = {}
        for path in files:
            parent = path.rsplit("/", 1)[0]
            if parent in siblings:
                continue
            names = []
            for info in store.fs.ls(parent, detail=True):
                name = str(info["name"]).rstrip("/").rsplit("/", 1)[-1]
                if info.get("type") != "directory" and not name.startswith(IGNORED_PREFIXES):
                    names.append(name)
            siblings[parent] = sorted(names)
    except Exception as exc:
        problem = store.explain(exc, source.url)
        raise TrinoCatalogError(source.name, problem.message, problem.hint) from None
    return FileListing(root, files, siblings)


def _file_catalog(
    source: Source, datasets: list[Dataset], settings: TrinoSettings, lister: FileLister
) -> tuple[CatalogSpec | None, str]:
    scheme = source.url.split("://", 1)[0]
    if scheme not in ("file", "s3"):
        return None, (
            "Trino reads files from local disks and S3, not over HTTP; copy them to S3 or a "
            "directory the Trino server can read"
        )
    if settings.hive_dir is None:
        raise TrinoConfigError("No trino.hive_dir is set for the Hive metastore of file sources.")
    root = Path(settings.hive_dir).expanduser().resolve() / source.name
    props = {
        "connector.name": "hive",
        "hive.metastore": "file",
        "hive.metastore.catalog.dir": "local:///metastore",
        "fs.native-local.enabled": "true",
        "local.location": str(root),
        "hive.timestamp-precision": "MICROSECONDS",
        "hive.non-managed-table-writes-enabled": "false",
        "hive.recursive-directories": "false",
    }
    spec = CatalogSpec(source.name, str(source.kind), "hive", props)
    if scheme == "s3":
        _s3_properties(source, spec)
    listing = lister(source)
    for dataset in sorted(datasets, key=lambda d: d.name):
        try:
            spec.tables.append(_hive_table(source, dataset, listing))
        except _NotServed as why:
            spec.unserved[dataset.qualified_name] = str(why)
    return spec, ""


def _s3_properties(source: Source, spec: CatalogSpec) -> None:
    opts = source.options
    props = spec.properties
    props["fs.native-s3.enabled"] = "true"
    endpoint = opts.get("endpoint_url")
    if endpoint:
        props["s3.endpoint"] = endpoint
        props["s3.path-style-access"] = "true"
    props["s3.region"] = opts.get("region") or os.environ.get("AWS_REGION") or "us-east-1"
    if source.password_env or source.password_file:
        key_id = opts.get("access_key_id")
        if not key_id:
            raise TrinoConfigError(
                f"Source '{source.name}': its password is the S3 secret key but it has no "
                "access_key_id option."
            )
        props["s3.aws-access-key"] = key_id
        secret = _password_reference(source, spec)
        assert secret is not None
        props["s3.aws-secret-key"] = secret
    else:
        spec.env.setdefault(
            "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY",
            f"S3 credentials for source '{source.name}' (the default AWS chain)",
        )


class _NotServed(Exception):
    pass


def _hive_table(source: Source, dataset: Dataset, listing: FileListing) -> HiveTable:
    from guajie.catalog.connectors.filesystems import FileName

    fmt = (dataset.format or "").strip().lower()
    hive_format = _HIVE_FORMATS.get(fmt)
    if hive_format is None:
        raise _NotServed(
            f"{dataset.format or 'unknown'} files are not served through Trino (Parquet and CSV are)"
        )
    if not dataset.location:
        raise _NotServed("the catalog has no location for it; crawl the source again")
    if fmt == "csv" and (source.options.get("encoding") or "utf-8").lower().replace(
        "_", "-"
    ) not in (
        "utf-8",
        "utf8",
    ):
        raise _NotServed("Trino reads CSV as UTF-8 only, and this source is not UTF-8")
    scheme, _, rest = dataset.location.partition("://")
    path = rest.rstrip("/")
    partitions = list(dataset.partitioning)
    if dataset.kind == "file":
        directory = path.rsplit("/", 1)[0]
        name = path.rsplit("/", 1)[-1]
        others = [n for n in listing.siblings.get(directory, []) if n != name]
        if others:
            shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
            raise _NotServed(
                f"{name} shares its directory with {len(others)} other file(s) ({shown}), and "
                "Trino's Hive connector reads every file of a directory; move it into a "
                "directory of its own and crawl again"
            )
    else:
        directory = path
        prefix = directory + "/"
        for file_path in (p for p in listing.files if p.startswith(prefix)):
            parts = [unquote(p) for p in file_path[len(prefix) :].split("/")]
            dirs, leaf = parts[:-1], parts[-1]
            keys = [d.split("=", 1)[0] for d in dirs]
            if (
                keys != partitions[: len(keys)]
                or len(dirs) != len(partitions)
                or not all("=" in d for d in dirs)
            ):
                raise _NotServed(
                    f"{'/'.join(parts)} lies in a subdirectory that is not a partition, which "
                    "Trino's Hive connector does not read"
                )
            if FileName.parse(leaf).format != fmt:
                raise _NotServed(
                    f"{'/'.join(parts)} is not {dataset.format} and Trino would read it as data"
                )
    columns: list[tuple[str, str]] = []
    view: list[tuple[str, str]] = []
    data_columns = [c for c in dataset.columns if c.name not in partitions]
    part_columns = {c.name: c for c in dataset.columns if c.name in partitions}
    if set(part_columns) != set(partitions):
        raise _NotServed("its partition columns are missing from the catalog; crawl again")
    for column in data_columns:
        hive = hive_type_for(column.type)
        if hive is None:
            raise _NotServed(f"column {column.name} has type {column.type}, which Hive tables lack")
        if hive_format == "CSV":
            columns.append((column.name, "varchar"))
            view.append((column.name, _csv_cast(column.name, column.type)))
        else:
            columns.append((column.name, hive))
    for key in partitions:
        column = part_columns[key]
        hive = hive_type_for(column.type)
        if hive is None or hive.startswith(("array", "decimal", "timestamp", "varbinary")):
            raise _NotServed(f"partition column {key} has type {column.type}")
        columns.append((key, hive))
        if hive_format == "CSV":
            view.append((key, _quote(key)))
    separator = None
    if hive_format == "CSV":
        separator = source.options.get("delimiter") or (
            "\t"
            if source.options.get("format", "").lower() == "tsv"
            or (dataset.location or "").lower().endswith((".tsv", ".tsv.gz"))
            else ","
        )
        if separator.lower() in ("tab", "\\t"):
            separator = "\t"
    if scheme == "file":
        parent, _, base = directory.rpartition("/")
        if not parent or not base:
            raise _NotServed("it lies at the root of the filesystem")
        location = f"local:///data/{dataset.name}/{base}"
        link: tuple[str, str] | None = (dataset.name, parent)
    else:
        location = f"s3://{directory}"
        link = None
    return HiveTable(
        dataset=dataset.qualified_name,
        name=dataset.name,
        format=hive_format,
        location=location,
        columns=columns,
        partitioned_by=partitions,
        csv_separator=separator,
        view=view,
        link=link,
    )


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _csv_cast(name: str, arrow_type: str) -> str:
    """The view expression giving a CSV column the catalog's type, pyarrow's nulls included."""
    nulls = ", ".join(_literal(v) for v in CSV_NULLS)
    value = f"CASE WHEN {_quote(name)} IN ({nulls}) THEN NULL ELSE {_quote(name)} END"
    target = trino_type_for(arrow_type) or "varchar"
    if target == "varchar":
        return value
    if target.startswith("timestamp(") and "with time zone" in target:
        return f"CAST(from_iso8601_timestamp(replace({value}, ' ', 'T')) AS {target})"
    if target.startswith("timestamp("):
        return f"CAST(replace({value}, 'T', ' ') AS {target})"
    return f"CAST({value} AS {target})"


# --------------------------------------------------------------------------------------------
# Applying


@dataclass
class SourceResult:
    source: str
    kind: str
    connector: str | None = None
    # created | updated | unchanged | removed | written | failed | skipped
    action: str = "unchanged"
    tables: int = 0
    changed_tables: list[str] = field(default_factory=list)
    unserved: dict[str, str] = field(default_factory=dict)
    reason: str | None = None
    env: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, [], {})}


@dataclass
class SyncReport:
    catalog_dir: str
    mode: str  # dynamic | files
    results: list[SourceResult] = field(default_factory=list)
    restart_needed: bool = False
    url: str | None = None

    @property
    def server_env(self) -> dict[str, str]:
        env: dict[str, str] = {}
        for r in self.results:
            env.update(r.env)
        return env

    @property
    def ok(self) -> bool:
        return not any(r.action == "failed" for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        return {
            "catalog_dir": self.catalog_dir,
            "mode": self.mode,
            "url": self.url,
            "restart_needed": self.restart_needed,
            "server_env": self.server_env,
            "sources": [r.to_dict() for r in self.results],
        }


def sync_catalogs(
    catalog: Any,
    settings: TrinoSettings,
    *,
    apply: bool = True,
    force: bool = False,
    mysql_probe: MySQLProbe | None = None,
    file_lister: FileLister | None = None,
) -> SyncReport:
    """Write (and, with ``apply``, load into Trino) a catalog for every source Trino serves."""
    plan = plan_sync(
        catalog.sources(),
        catalog.datasets(),
        settings,
        mysql_probe=mysql_probe,
        file_lister=file_lister,
    )
    return apply_plan(plan, settings, apply=apply, force=force)


def apply_plan(
    plan: SyncPlan, settings: TrinoSettings, *, apply: bool = True, force: bool = False
) -> SyncReport:
    if settings.catalog_dir is None:
        raise TrinoConfigError("No trino.catalog_dir is set for the catalog files.")
    directory = Path(settings.catalog_dir).expanduser()
    directory.mkdir(parents=True, exist_ok=True)
    mode = "files" if not apply or settings.catalogs == "files" else settings.catalogs
    report = SyncReport(str(directory), mode, url=settings.url if apply else None)
    client = TrinoClient(settings, [c.name for c in plan.catalogs]) if apply else None
    existing: set[str] = set()
    if client is not None:
        client.ping()
        existing = {r[0] for r in client.rows("SELECT catalog_name FROM system.metadata.catalogs")}

    wanted = {c.name for c in plan.catalogs}
    for spec in plan.catalogs:
        result = SourceResult(spec.name, spec.kind, spec.connector, unserved=dict(spec.unserved))
        result.env = dict(spec.env)
        report.results.append(result)
        try:
            _apply_catalog(spec, directory, settings, client, existing, report, result, force)
        except GuajieError as exc:
            result.action = "failed"
            result.reason = str(exc)
    for item in plan.unserved:
        report.results.append(
            SourceResult(item.source, item.kind, action="skipped", reason=item.reason)
        )
    _remove_stale(directory, wanted, settings, client, existing, report)
    if report.mode == "auto":
        report.mode = "dynamic"
    _write_state(directory, plan, report)
    return report


def _apply_catalog(
    spec: CatalogSpec,
    directory: Path,
    settings: TrinoSettings,
    client: TrinoClient | None,
    existing: set[str],
    report: SyncReport,
    result: SourceResult,
    force: bool,
) -> None:
    path = directory / f"{spec.name}.properties"
    text = spec.render()
    previous = path.read_text() if path.exists() else None
    ours = previous is None or previous.startswith(MARKER)
    if not ours and not force:
        raise TrinoCatalogError(
            spec.name,
            f"{path} exists and was not written by guajie.",
            "Rename the source, move the file away, or run sync with --force to replace it.",
        )
    if spec.connector == "hive":
        _prepare_hive_dir(spec, settings)
    changed = previous != text
    if client is None:
        if changed:
            _atomic_write(path, text)
            report.restart_needed = True
        result.action = "written" if changed else "unchanged"
        return
    loaded = spec.name in existing
    if report.mode in ("auto", "dynamic") and (changed or not loaded):
        if loaded and previous is None and not force:
            raise TrinoCatalogError(
                spec.name,
                "Trino already has a catalog of this name, and this workspace has no record "
                f"of creating it (no {path.name} in {directory}).",
                "Rename the source, drop that catalog in Trino, or run sync with --force to "
                "replace it.",
            )
        try:
            if loaded:
                client.execute(f"DROP CATALOG IF EXISTS {_quote(spec.name)}")
            client.execute(_create_catalog_sql(spec), sources=[spec.name])
            existing.add(spec.name)
            if report.mode == "auto":
                report.mode = "dynamic"
        except TrinoError as exc:
            if not (_static_cluster(exc) and report.mode == "auto"):
                raise TrinoCatalogError(
                    spec.name,
                    f"Trino rejected its catalog: {exc.message}",
                    "Check the source's URL and that the variables "
                    f"{', '.join(spec.env) or '(none)'} are set in the Trino server's "
                    f"environment; the properties sync wanted are:\n{text}",
                ) from None
            report.mode = "files"
        else:
            result.action = "updated" if loaded else "created"
    if changed:
        _atomic_write(path, text)
    if report.mode == "files" and (changed or not loaded):
        result.action = "written"
        report.restart_needed = True
        return
    if spec.connector == "hive":
        _register_tables(spec, client, result)
        result.tables = len(spec.tables)
    else:
        _check_catalog(spec, client)


def _static_cluster(exc: TrinoError) -> bool:
    text = str(exc).lower()
    return ("not supported" in text and "catalog" in text) or "catalog management" in text


def _create_catalog_sql(spec: CatalogSpec) -> str:
    props = {k: v for k, v in spec.properties.items() if k != "connector.name"}
    body = ", ".join(f"{_quote(k)} = {_literal(v)}" for k, v in props.items())
    return f"CREATE CATALOG {_quote(spec.name)} USING {spec.connector} WITH ({body})"


def _check_catalog(spec: CatalogSpec, client: TrinoClient) -> None:
    """A JDBC catalog connects lazily: list its schemas so a wrong host or password shows now."""
    try:
        client.rows(f"SHOW SCHEMAS FROM {_quote(spec.name)}", sources=[spec.name])
    except TrinoError as exc:
        raise TrinoCatalogError(
            spec.name,
            f"Trino has its catalog but cannot reach the source: {exc.message}",
            "Check that the Trino server reaches the source's host and port and has "
            f"{', '.join(spec.env) or 'its credentials'} in its environment.",
        ) from None


def _prepare_hive_dir(spec: CatalogSpec, settings: TrinoSettings) -> None:
    root = Path(spec.properties["local.location"])
    (root / "metastore").mkdir(parents=True, exist_ok=True)
    data = root / "data"
    data.mkdir(exist_ok=True)
    wanted = {t.link[0]: t.link[1] for t in spec.tables if t.link}
    for entry in data.iterdir():
        if entry.is_symlink() and entry.name not in wanted:
            entry.unlink()
    for name, target in wanted.items():
        link = data / name
        if link.is_symlink() and os.readlink(link) == target:
            continue
        if link.is_symlink():
            link.unlink()
        elif link.exists():
            raise TrinoConfigError(f"{link} exists and is not a link guajie made.")
        link.symlink_to(target, target_is_directory=True)


def _register_tables(spec: CatalogSpec, client: TrinoClient | None, result: SourceResult) -> None:
    assert client is not None
    cat = _quote(spec.name)
    sources = [spec.name]
    client.execute(f"CREATE SCHEMA IF NOT EXISTS {cat}.{_quote(FILE_SCHEMA)}", sources=sources)
    if any(t.format == "CSV" for t in spec.tables):
        client.execute(f"CREATE SCHEMA IF NOT EXISTS {cat}.{_quote(CSV_SCHEMA)}", sources=sources)
    rows = client.rows(
        "SELECT t.table_schema, t.table_name, t.table_type, c.comment "
        f"FROM {cat}.information_schema.tables t LEFT JOIN system.metadata.table_comments c "
        f"ON c.catalog_name = {_literal(spec.name)} AND c.schema_name = t.table_schema "
        "AND c.table_name = t.table_name "
        f"WHERE t.table_schema IN ({_literal(FILE_SCHEMA)}, {_literal(CSV_SCHEMA)})",
        sources=sources,
    )
    present = {(r[0], r[1]): (r[2], r[3]) for r in rows}
    wanted: set[tuple[str, str]] = set()
    for table in spec.tables:
        key = (table.table_schema, table.name)
        wanted.add(key)
        view_key = (FILE_SCHEMA, table.name) if table.format == "CSV" else None
        if view_key:
            wanted.add(view_key)
        current = present.get(key)
        up_to_date = current is not None and current[1] == table.comment
        if view_key is not None:
            view = present.get(view_key)
            up_to_date = up_to_date and view is not None and view[1] == table.comment
        if not up_to_date:
            for k in (key, view_key):
                if k is not None and k in present:
                    _drop(client, spec.name, k, present[k], sources)
            client.execute(_create_table_sql(spec.name, table), sources=sources)
            if view_key is not None:
                client.execute(_create_view_sql(spec.name, table), sources=sources)
            result.changed_tables.append(table.name)
        if table.partitioned_by:
            client.execute(
                f"CALL {cat}.system.sync_partition_metadata("
                f"{_literal(table.table_schema)}, {_literal(table.name)}, 'FULL')",
                sources=sources,
            )
    for key, (kind, comment) in present.items():
        if key not in wanted and (comment or "").startswith(COMMENT_PREFIX):
            _drop(client, spec.name, key, (kind, comment), sources)
            result.changed_tables.append(f"-{key[1]}")


def _drop(
    client: TrinoClient,
    catalog: str,
    key: tuple[str, str],
    state: tuple[str, str | None],
    sources: list[str],
) -> None:
    kind, comment = state
    name = f"{_quote(catalog)}.{_quote(key[0])}.{_quote(key[1])}"
    if not (comment or "").startswith(COMMENT_PREFIX):
        raise TrinoCatalogError(
            catalog,
            f"Trino's catalog has a table {key[0]}.{key[1]} that guajie did not create.",
            "Drop or rename it in Trino; guajie only replaces tables it registered.",
        )
    # External tables: dropping removes metadata only, never the files.
    what = "VIEW" if kind == "VIEW" else "TABLE"
    client.execute(f"DROP {what} IF EXISTS {name}", sources=sources)


def _create_table_sql(catalog: str, table: HiveTable) -> str:
    cols = ", ".join(f"{_quote(n)} {t}" for n, t in table.columns)
    props = [
        f"external_location = {_literal(table.location)}",
        f"format = {_literal(table.format)}",
    ]
    if table.partitioned_by:
        props.append(
            "partitioned_by = ARRAY[" + ", ".join(_literal(p) for p in table.partitioned_by) + "]"
        )
    if table.format == "CSV":
        props.append("skip_header_line_count = 1")
        if table.csv_separator and table.csv_separator != ",":
            props.append(f"csv_separator = {_literal(table.csv_separator)}")
    name = f"{_quote(catalog)}.{_quote(table.table_schema)}.{_quote(table.name)}"
    return (
        f"CREATE TABLE {name} ({cols}) COMMENT {_literal(table.comment)} WITH ({', '.join(props)})"
    )


def _create_view_sql(catalog: str, table: HiveTable) -> str:
    select = ", ".join(f"{expr} AS {_quote(name)}" for name, expr in table.view)
    raw = f"{_quote(catalog)}.{_quote(CSV_SCHEMA)}.{_quote(table.name)}"
    name = f"{_quote(catalog)}.{_quote(FILE_SCHEMA)}.{_quote(table.name)}"
    return (
        f"CREATE OR REPLACE VIEW {name} COMMENT {_literal(table.comment)} "
        f"SECURITY INVOKER AS SELECT {select} FROM {raw}"
    )


def _remove_stale(
    directory: Path,
    wanted: set[str],
    settings: TrinoSettings,
    client: TrinoClient | None,
    existing: set[str],
    report: SyncReport,
) -> None:
    for path in sorted(directory.glob("*.properties")):
        name = path.stem
        if name in wanted:
            continue
        with contextlib.suppress(OSError):
            if not path.read_text().startswith(MARKER):
                continue
        result = SourceResult(name, "", action="removed")
        report.results.append(result)
        if client is not None and name in existing and report.mode != "files":
            try:
                client.execute(f"DROP CATALOG IF EXISTS {_quote(name)}")
            except TrinoError as exc:
                if not _static_cluster(exc):
                    result.action = "failed"
                    result.reason = f"Trino did not drop its catalog: {exc.message}"
                    continue
                report.restart_needed = True
        elif client is None or report.mode == "files":
            report.restart_needed = True
        path.unlink(missing_ok=True)
        if settings.hive_dir is not None:
            hive_root = Path(settings.hive_dir).expanduser().resolve() / name
            # Only links and metastore files are there: rmtree unlinks links, never follows them.
            if hive_root.is_dir() and not hive_root.is_symlink():
                shutil.rmtree(hive_root, ignore_errors=True)


def _write_state(directory: Path, plan: SyncPlan, report: SyncReport) -> None:
    state = {
        "unserved_sources": {u.source: u.reason for u in plan.unserved},
        "unserved_datasets": {k: v for c in plan.catalogs for k, v in c.unserved.items()},
        "catalogs": {c.name: c.connector for c in plan.catalogs},
        "server_env": report.server_env,
    }
    _atomic_write(directory / STATE_FILE, json.dumps(state, indent=1, ensure_ascii=False) + "\n")


def read_state(settings: TrinoSettings) -> dict[str, Any]:
    if settings.catalog_dir is None:
        return {}
    path = Path(settings.catalog_dir).expanduser() / STATE_FILE
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, Mapping) else {}  # type: ignore[return-value]


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
