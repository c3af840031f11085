"""OpenLineage RunEvents for every run, sent through the official ``openlineage-python`` client.

``guajie.yaml`` chooses where they go; without an ``openlineage`` key nothing is sent::

    openlineage:
      transport: file            # file | console | http
      path: lineage/events.jsonl # file: one JSON event per line (relative to the workspace)
      url: http://marquez:5000   # http: a Marquez-compatible endpoint
      endpoint: api/v1/lineage   # http (default)
      api_key_env: MARQUEZ_KEY   # http: the NAME of a variable holding the API key
      timeout: 5                 # http, seconds
      namespace: guajie          # the jobs' namespace

A run sends START when it begins, then COMPLETE, FAIL or ABORT (a stream closed, or
dropped by its reader, before its end), on either engine. Events carry the ``schema``, ``dataSource``, ``symlinks`` (the guajie name) and, for
outputs, ``columnLineage``, ``lifecycleStateChange`` and ``outputStatistics`` dataset facets,
the ``sql`` and ``jobType`` job facets, and ``processing_engine`` (and ``errorMessage`` on
failure) run facets.

Datasets are named by OpenLineage's conventions:

============  ==============================  ===============================
kind          namespace                       name
============  ==============================  ===============================
PostgreSQL    ``postgres://host:port``        ``database.schema.table``
MySQL         ``mysql://host:port``           ``database.table``
SQLite        ``sqlite:///abs/path.db``       ``schema.table``
DuckDB        ``duckdb:///abs/path.duckdb``   ``schema.table``
local files   ``file``                        the absolute path
S3            ``s3://bucket``                 the object key (prefix)
HTTP(S)       ``https://host``                the path
============  ==============================  ===============================

A dataset in the pool is named by its directory, not by the version it currently points
at, so every version of it is one node in a lineage graph. Emitting never fails a run: a
transport error is logged as a warning.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, ValidationError

from guajie import __version__
from guajie.catalog.errors import InvalidInputError
from guajie.catalog.models import Dataset, Source
from guajie.catalog.workspace import Workspace

from .columns import QueryLineage
from .runs import ABORTED, COMPLETED, FAILED, Run

log = logging.getLogger("guajie.lineage")

PRODUCER = f"https://pypi.org/project/guajie/{__version__}"
_DEFAULT_PORTS = {"postgresql": 5432, "postgres": 5432, "mysql": 3306}


class OpenLineageSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    transport: Literal["file", "console", "http"]
    path: str | None = None
    url: str | None = None
    endpoint: str = "api/v1/lineage"
    api_key_env: str | None = None
    timeout: float = 5.0
    namespace: str = "guajie"


def settings_of(workspace: Workspace) -> OpenLineageSettings | None:
    raw = (workspace.config.model_extra or {}).get("openlineage")
    if raw is None:
        return None
    try:
        settings = OpenLineageSettings.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'openlineage'}: {e['msg']}"
            for e in exc.errors()
        )
        raise InvalidInputError(
            f"The openlineage settings in guajie.yaml are not valid — {problems}.",
            "Use transport: file (with path), console, or http (with url).",
        ) from None
    if settings.transport == "file" and not settings.path:
        raise InvalidInputError(
            "openlineage.transport is file but no path is given in guajie.yaml.",
            "Add `path: lineage/events.jsonl` (relative to the workspace) or an absolute path.",
        )
    if settings.transport == "http" and not settings.url:
        raise InvalidInputError(
            "openlineage.transport is http but no url is given in guajie.yaml.",
            "Add `url: http://marquez-host:5000` (a Marquez-compatible endpoint).",
        )
    return settings


class Emitter:
    """Sends events through the official client; a no-op when nothing is configured."""

    def __init__(self, settings: OpenLineageSettings | None, home: Path) -> None:
        self.settings = settings
        self.home = home
        self.namespace = settings.namespace if settings else "guajie"
        self._client: Any = None
        self.sent: int = 0

    @classmethod
    def of(cls, workspace: Workspace) -> Emitter:
        return cls(settings_of(workspace), workspace.home)

    @property
    def enabled(self) -> bool:
        return self.settings is not None

    def _make_client(self) -> Any:
        from openlineage.client import OpenLineageClient

        assert self.settings is not None
        return OpenLineageClient(transport=self._transport(self.settings))

    def _transport(self, s: OpenLineageSettings) -> Any:
        if s.transport == "file":
            from openlineage.client.transport.file import FileConfig, FileTransport

            path = Path(s.path or "").expanduser()
            path = path if path.is_absolute() else self.home / path
            path.parent.mkdir(parents=True, exist_ok=True)
            return FileTransport(FileConfig(log_file_path=str(path), append=True))
        if s.transport == "console":
            from openlineage.client.transport.console import ConsoleConfig, ConsoleTransport

            _show_console_events()
            return ConsoleTransport(ConsoleConfig())
        from openlineage.client.transport.http import HttpConfig, HttpTransport

        params: dict[str, Any] = {
            "url": s.url,
            "endpoint": s.endpoint,
            "timeout": s.timeout,
            "retry": {"total": 2, "connect": 2, "read": 2, "backoff_factor": 0.2},
        }
        if s.api_key_env:
            key = os.environ.get(s.api_key_env)
            if not key:
                raise InvalidInputError(
                    f"openlineage.api_key_env names {s.api_key_env}, which is not set.",
                    f"Export {s.api_key_env} with the endpoint's API key.",
                )
            params["auth"] = {"type": "api_key", "apiKey": key}
        return HttpTransport(HttpConfig.from_dict(params))

    def prepare(self) -> None:
        """Build the client now: settings that cannot work raise InvalidInputError here."""
        if self.settings is not None and self._client is None:
            self._client = self._make_client()

    def emit(self, event: Any) -> None:
        """Send ``event``, or the event that ``event()`` builds when it is a function: with
        nothing configured, an event is never built (that costs more than a small query)."""
        if self.settings is None:
            return
        try:
            self.prepare()
            if callable(event):
                event = event()
            self._client.emit(event)
            self.sent += 1
        except InvalidInputError:
            raise
        except Exception as exc:  # lineage must never fail the run it describes
            log.warning(
                "guajie: could not send the OpenLineage %s event (%s transport): %s",
                getattr(getattr(event, "eventType", None), "value", "?"),
                self.settings.transport,
                str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
            )

    def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):  # best effort on shutdown
                self._client.close(timeout=5)
            self._client = None


def _show_console_events() -> None:
    """The console transport logs each event at INFO; make sure it reaches stderr."""
    logger = logging.getLogger("openlineage.client.transport.console")
    if not any(getattr(h, "_guajie", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler._guajie = True  # type: ignore[attr-defined]
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


# -- naming ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetName:
    namespace: str
    name: str


def dataset_name(source: Source, dataset: Dataset, location: str | None = None) -> DatasetName:
    """The OpenLineage namespace and name of a catalog dataset (see the module docstring)."""
    kind = str(source.kind)
    if kind in ("postgresql", "mysql"):
        parts = urlsplit(source.url)
        port = parts.port or _DEFAULT_PORTS[kind]
        host = parts.hostname or "localhost"
        if kind == "postgresql":
            database = parts.path.strip("/") or "postgres"
            return DatasetName(
                f"postgres://{host}:{port}", f"{database}.{dataset.schema_name}.{dataset.name}"
            )
        return DatasetName(f"mysql://{host}:{port}", f"{dataset.schema_name}.{dataset.name}")
    if kind in ("sqlite", "duckdb"):
        return DatasetName(source.url, f"{dataset.schema_name}.{dataset.name}")
    return location_name(location or dataset.location or source.url)


def location_name(url: str) -> DatasetName:
    scheme, _, rest = url.partition("://")
    if scheme == "file":
        return DatasetName("file", rest or "/")
    if scheme == "s3":
        bucket, _, key = rest.partition("/")
        return DatasetName(f"s3://{bucket}", key or "/")
    parts = urlsplit(url)
    return DatasetName(f"{parts.scheme}://{parts.netloc}", parts.path or "/")


# -- events ------------------------------------------------------------------------------


class EventBuilder:
    """Builds RunEvents from run records, the catalog and the query's lineage."""

    def __init__(
        self,
        namespace: str,
        sources: dict[str, Source],
        datasets: dict[str, Dataset],
        pool_url: str | None = None,
    ) -> None:
        self.namespace = namespace
        self.sources = sources
        self.datasets = datasets
        self.pool_url = pool_url

    def name_of(self, qualified: str, location: str | None = None) -> DatasetName:
        dataset = self.datasets.get(qualified)
        source = self.sources.get(qualified.split(".", 1)[0])
        if dataset is None or source is None:
            return DatasetName(self.namespace, qualified)
        return dataset_name(source, dataset, location)

    def event(
        self,
        run: Run,
        lineage: QueryLineage | None,
        *,
        output: Dataset | None = None,
        output_location: str | None = None,
        output_stats: tuple[int, int] | None = None,
        created: bool = False,
    ) -> Any:
        from openlineage.client.event_v2 import Job, RunEvent, RunState
        from openlineage.client.event_v2 import Run as OLRun
        from openlineage.client.facet_v2 import (
            error_message_run,
            job_type_job,
            processing_engine_run,
            sql_job,
        )

        state = {
            COMPLETED: RunState.COMPLETE,
            FAILED: RunState.FAIL,
            ABORTED: RunState.ABORT,
        }.get(run.status, RunState.START)
        run_facets: dict[str, Any] = {
            "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
                version=__version__,
                name="guajie",
                openlineageAdapterVersion=_client_version(),
                producer=PRODUCER,
            )
        }
        if run.status == FAILED and run.error:
            run_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
                message=run.error, programmingLanguage="python", producer=PRODUCER
            )
        job_facets: dict[str, Any] = {
            "sql": sql_job.SQLJobFacet(query=run.sql, dialect="trino", producer=PRODUCER),
            "jobType": job_type_job.JobTypeJobFacet(
                processingType="BATCH", integration="GUAJIE", jobType="QUERY", producer=PRODUCER
            ),
        }
        inputs = [self._input(q) for q in run.inputs]
        outputs = []
        if run.output_dataset is not None:
            outputs.append(
                self._output(
                    run.output_dataset,
                    output,
                    output_location,
                    lineage if run.status == COMPLETED else None,
                    output_stats,
                    created,
                )
            )
        when = run.ended_at if run.status != "running" and run.ended_at else run.started_at
        return RunEvent(
            eventType=state,
            eventTime=_iso(when),
            run=OLRun(runId=run.id, facets=run_facets),
            job=Job(namespace=self.namespace, name=run.job, facets=job_facets),
            inputs=inputs,
            outputs=outputs,
            producer=PRODUCER,
        )

    def _facets(
        self, qualified: str, dataset: Dataset | None, location: str | None
    ) -> dict[str, Any]:
        from openlineage.client.facet_v2 import datasource_dataset, schema_dataset, symlinks_dataset

        facets: dict[str, Any] = {
            "symlinks": symlinks_dataset.SymlinksDatasetFacet(
                identifiers=[
                    symlinks_dataset.Identifier(
                        namespace=self.namespace, name=qualified, type="TABLE"
                    )
                ],
                producer=PRODUCER,
            )
        }
        source = self.sources.get(qualified.split(".", 1)[0])
        if source is not None:
            name = self.name_of(qualified, location) if dataset else None
            facets["dataSource"] = datasource_dataset.DatasourceDatasetFacet(
                name=source.name,
                uri=name.namespace if name else _without_user(source.url),
                producer=PRODUCER,
            )
        if dataset is not None and dataset.columns:
            facets["schema"] = schema_dataset.SchemaDatasetFacet(
                fields=[
                    schema_dataset.SchemaDatasetFacetFields(
                        name=c.name,
                        type=c.type,
                        description=c.description,
                        ordinal_position=i,
                    )
                    for i, c in enumerate(dataset.columns, 1)
                ],
                producer=PRODUCER,
            )
        return facets

    def _input(self, qualified: str) -> Any:
        from openlineage.client.event_v2 import InputDataset

        name = self.name_of(qualified)
        dataset = self.datasets.get(qualified)
        return InputDataset(
            namespace=name.namespace,
            name=name.name,
            facets=self._facets(qualified, dataset, None),
        )

    def _output(
        self,
        qualified: str,
        dataset: Dataset | None,
        location: str | None,
        lineage: QueryLineage | None,
        stats: tuple[int, int] | None,
        created: bool,
    ) -> Any:
        from openlineage.client.event_v2 import OutputDataset
        from openlineage.client.facet_v2 import (
            lifecycle_state_change_dataset,
            output_statistics_output_dataset,
        )

        known = dataset or self.datasets.get(qualified)
        name = self._pool_name(qualified, location)
        facets = self._facets(qualified, known, location)
        if lineage is not None:
            facets["columnLineage"] = self._column_lineage(lineage)
            state = lifecycle_state_change_dataset.LifecycleStateChange
            facets["lifecycleStateChange"] = (
                lifecycle_state_change_dataset.LifecycleStateChangeDatasetFacet(
                    lifecycleStateChange=state.CREATE if created else state.OVERWRITE,
                    producer=PRODUCER,
                )
            )
        output_facets: dict[str, Any] = {}
        if stats is not None:
            output_facets["outputStatistics"] = (
                output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                    rowCount=stats[0], size=stats[1], producer=PRODUCER
                )
            )
        return OutputDataset(
            namespace=name.namespace, name=name.name, facets=facets, outputFacets=output_facets
        )

    def _pool_name(self, qualified: str, location: str | None) -> DatasetName:
        """Pool datasets are named by their directory, whatever version is current."""
        source_name, _, rest = qualified.partition(".")
        source = self.sources.get(source_name)
        root = source.url if source is not None else self.pool_url
        if root is None:
            return DatasetName(self.namespace, qualified)
        table = rest.rsplit(".", 1)[-1]
        return location_name(f"{root.rstrip('/')}/{table}")

    def _column_lineage(self, lineage: QueryLineage) -> Any:
        from openlineage.client.facet_v2 import column_lineage_dataset as cl

        def field(f: Any) -> Any:
            name = self.name_of(f.dataset)
            return cl.InputField(
                namespace=name.namespace,
                name=name.name,
                field=f.column,
                transformations=[
                    cl.Transformation(
                        type=f.transformation.type,
                        subtype=f.transformation.subtype,
                        description="",
                        masking=f.transformation.masking,
                    )
                ],
            )

        return cl.ColumnLineageDatasetFacet(
            fields={
                column: cl.Fields(inputFields=[field(f) for f in lineage.columns.get(column, [])])
                for column in lineage.output_columns
            },
            dataset=[field(f) for f in lineage.dataset],
            producer=PRODUCER,
        )


def to_json(event: Any) -> str:
    from openlineage.client.serde import Serde

    return str(Serde.to_json(event))


def _iso(at: datetime) -> str:
    return at.isoformat()


def _without_user(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None:
        return url
    return parts._replace(netloc=parts.netloc.split("@", 1)[1]).geturl()


@functools.cache
def _client_version() -> str:
    # Reading a package's metadata costs about a millisecond: once per process.
    try:
        from importlib.metadata import version

        return version("openlineage-python")
    except Exception:
        return "unknown"
