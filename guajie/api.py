"""The Python API for scenario apps: one session per workspace.

>>> import guajie
>>> session = guajie.connect("/srv/city/.guajie")  # doctest: +SKIP
>>> table = session.query("SELECT district, count(*) FROM market.enterprise GROUP BY 1")  # doctest: +SKIP
>>> for batch in session.stream("SELECT * FROM tax.filings"):  # doctest: +SKIP
...     ...
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from guajie.catalog.connectors import Connector, open_connector
from guajie.catalog.errors import InvalidInputError
from guajie.catalog.ledger import Catalog

if TYPE_CHECKING:
    import pyarrow as pa

    from guajie.federation import Plan, QueryResult
    from guajie.federation.policy import Policy
    from guajie.federation.trino import TrinoEngine, TrinoResult
    from guajie.lineage.recorder import RunOutcome


class Session:
    """Federated queries over one workspace's catalog."""

    def __init__(
        self,
        catalog: Catalog,
        *,
        max_workers: int = 4,
        timeout: float | None = None,
        dialect: str = "trino",
        engine: str = "embedded",
        trino: dict[str, Any] | None = None,
        client: str = "python",
    ) -> None:
        """``engine="trino"`` runs queries on a Trino cluster; ``trino`` overrides the
        workspace's ``trino:`` settings (``url``, ``user``, ``password_env``, ``verify``,
        ``transfer``, ...). ``client`` names the caller in the audit log (``python``,
        ``cli`` or ``http``)."""
        if engine not in ("embedded", "trino"):
            raise InvalidInputError(f"engine is {engine!r}; use 'embedded' or 'trino'.")
        self.catalog = catalog
        self.max_workers = max_workers
        self.timeout = timeout
        self.dialect = dialect
        self.engine = engine
        self._trino_options = dict(trino or {})
        self._trino: TrinoEngine | None = None
        self.client = client

    def trino(self) -> TrinoEngine:
        """The Trino engine over this workspace's catalog (see guajie.federation.trino)."""
        if self._trino is None:
            from guajie.federation.trino import TrinoEngine

            self._trino = TrinoEngine.for_catalog(self.catalog, **self._trino_options)
        return self._trino

    def policy(self, scenario: str | None = None) -> Policy:
        """What ``scenario`` may read (the workspace's default policy without one)."""
        from guajie.federation.access import policy_for

        return policy_for(self.catalog, scenario)

    def plan(self, sql: str, *, dialect: str | None = None, scenario: str | None = None) -> Plan:
        """The pushdown plan for ``sql`` under ``scenario``'s policy, touching no source."""
        return self._plan(sql, dialect=dialect, scenario=scenario)

    def _plan(
        self,
        sql: str,
        *,
        dialect: str | None = None,
        scenario: str | None = None,
        shared: bool = False,
    ) -> Plan:
        from guajie.federation import plan_query
        from guajie.federation.catalog_view import LedgerView

        return plan_query(
            sql,
            LedgerView(self.catalog.store),
            dialect=dialect or self.dialect,
            policy=self.policy(scenario),
            shared=shared,
        )

    def execute(
        self,
        sql: str,
        *,
        dialect: str | None = None,
        scenario: str | None = None,
        user: str | None = None,
        engine: str | None = None,
    ) -> QueryResult | TrinoResult:
        """Plan and start running ``sql``; the result streams from ``.reader``.

        The run is recorded in the catalog (``guajie lineage runs``) when the stream ends,
        and so is its audit entry (``guajie audit search``); a refusal is audited at once.
        """
        from guajie.lineage.audit import audited
        from guajie.lineage.recorder import execute

        engine = engine or self.engine
        with audited(self, sql, dialect=dialect, scenario=scenario, user=user, engine=engine) as a:
            return a.track(
                execute(self, sql, dialect=dialect, scenario=scenario, user=user, engine=engine)
            )

    def execute_unrecorded(
        self,
        sql: str,
        *,
        dialect: str | None = None,
        scenario: str | None = None,
        engine: str | None = None,
    ) -> QueryResult | TrinoResult:
        """Plan and run ``sql`` without a run record (what recording builds on)."""
        if (engine or self.engine) == "trino":
            return self.trino().execute(
                sql,
                dialect=dialect or self.dialect,
                timeout=self.timeout,
                policy=self.policy(scenario),
            )
        from guajie.federation import Executor

        # The executor only reads the plan: the cached one serves, its SQL made once.
        plan = self._plan(sql, dialect=dialect, scenario=scenario, shared=True)
        sources = {s.name: s for s in self.catalog.sources()}

        def open_source(name: str) -> Connector:
            return open_connector(sources[name])

        executor = Executor(open_source, max_workers=self.max_workers, timeout=self.timeout)
        return executor.run(plan)

    def query(
        self,
        sql: str,
        *,
        dialect: str | None = None,
        scenario: str | None = None,
        user: str | None = None,
        engine: str | None = None,
    ) -> pa.Table:
        """Run ``sql`` and return the whole answer as a ``pyarrow.Table``."""
        return self.execute(
            sql, dialect=dialect, scenario=scenario, user=user, engine=engine
        ).read_all()

    def stream(
        self,
        sql: str,
        *,
        dialect: str | None = None,
        scenario: str | None = None,
        user: str | None = None,
        engine: str | None = None,
    ) -> pa.RecordBatchReader:
        """Run ``sql`` and stream the answer as a ``pyarrow.RecordBatchReader``."""
        return self.execute(
            sql, dialect=dialect, scenario=scenario, user=user, engine=engine
        ).reader

    def write_back(
        self,
        sql: str,
        into: str,
        *,
        mode: str = "fail",
        scenario: str | None = None,
        user: str | None = None,
        dialect: str | None = None,
        engine: str | None = None,
    ) -> RunOutcome:
        """Run ``sql`` and write the answer into the pool as ``pool.default.<into>`` (反哺).

        ``mode``: ``fail`` if the dataset exists (default), ``replace`` or ``append``. The
        dataset is registered with its lineage, producing run and inherited sensitivity,
        and is queryable at once.
        """
        from guajie.lineage.audit import audited
        from guajie.lineage.recorder import run_query

        engine = engine or self.engine
        with audited(self, sql, dialect=dialect, scenario=scenario, user=user, engine=engine) as a:
            return a.finish(
                run_query(
                    self,
                    sql,
                    into=into,
                    mode=mode,
                    scenario=scenario,
                    user=user,
                    dialect=dialect,
                    engine=engine,
                )
            )

    def rerun(
        self, dataset: str, *, user: str | None = None, engine: str | None = None
    ) -> list[RunOutcome]:
        """Rebuild a dataset written back into the pool from its recorded SQL."""
        from guajie.lineage.audit import audited
        from guajie.lineage.recorder import rerun

        engine = engine or self.engine
        with audited(
            self, f"RERUN {dataset}", dialect=None, scenario=None, user=user, engine=engine
        ) as a:
            return a.finish_each(rerun(self, dataset, user=user, engine=engine))

    def close(self) -> None:
        self.catalog.workspace.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(home: str | None = None, **options: object) -> Session:
    """Open a session on a workspace (``home``, ``$GUAJIE_HOME`` or ``./.guajie``)."""
    return Session(Catalog.open(home), **options)  # type: ignore[arg-type]
