"""Concurrent clients against a running `guajie serve`, each answer checked.

Every call carries one scenario's token and a query whose expected answer was computed
beforehand through :class:`guajie.api.Session` as that scenario. A client whose answer differs
from its own scenario's expectation (another request's answer, say) counts as a failure.
"""

from __future__ import annotations

import http.client
import json
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from tests.support.guajie_server import GuajieServer, request

SCENARIOS = Path(__file__).parents[2] / "sample_sources" / "scenarios"

#: Sent by every scenario: once scenarios differ in what they may see (masks, row filters),
#: its answer differs by scenario, and a response crossing to another request shows.
SHARED = (
    "SELECT credit_code, name, legal_rep_name, district FROM market.enterprise "
    "ORDER BY credit_code LIMIT 50"
)

#: Per scenario: its sample query file, a lighter query of its own and the shared one.
WORKLOAD: dict[str, list[str]] = {
    "policy_direct": [
        (SCENARIOS / "policy_direct.sql").read_text(encoding="utf-8"),
        "SELECT district, count(*) AS n, sum(registered_capital) AS capital "
        "FROM market.enterprise GROUP BY district ORDER BY district",
        SHARED,
    ],
    "smart_parking": [
        (SCENARIOS / "smart_parking.sql").read_text(encoding="utf-8"),
        "SELECT lot_id, count(*) AS visits FROM transport.parking_events "
        "GROUP BY lot_id ORDER BY lot_id",
        SHARED,
    ],
    "subsidy_check": [
        (SCENARIOS / "subsidy_check.sql").read_text(encoding="utf-8"),
        "SELECT subsidy_type, count(*) AS n FROM civil.subsidy_recipient "
        "GROUP BY subsidy_type ORDER BY subsidy_type",
        SHARED,
    ],
}


@dataclass
class Call:
    scenario: str
    token: str
    sql: str
    fmt: str
    expected: pa.Table

    def body(self) -> dict[str, Any]:
        return {"sql": self.sql, "format": self.fmt}

    def check(self, status: int, data: bytes) -> str | None:
        """None when the answer is the expected one, else what is wrong."""
        if status != 200:
            return f"{self.scenario}: HTTP {status}: {data[:300]!r}"
        if self.fmt == "arrow":
            got = pa.ipc.open_stream(data).read_all()
            if not got.equals(self.expected):
                return f"{self.scenario}: a different Arrow answer ({got.num_rows} rows)"
            return None
        doc = json.loads(data)
        if doc["rows"] != expected_json_rows(self.expected):
            return f"{self.scenario}: a different JSON answer ({doc.get('row_count')} rows)"
        return None


def expected_json_rows(table: pa.Table) -> list[list[Any]]:
    from guajie.server.app import _jsonable

    return json.loads(json.dumps([list(r.values()) for r in table.to_pylist()], default=_jsonable))


def apply_scenarios(catalog: Any) -> None:
    """The workload's scenarios see the city differently: policy_direct everything raw,
    smart_parking with personal information masked, subsidy_check masked and 鼓楼区 only."""
    from tests.support.policies import open_scenario

    open_scenario(catalog, "policy_direct")
    open_scenario(catalog, "smart_parking", access=None)
    open_scenario(
        catalog,
        "subsidy_check",
        access=None,
        row_filters={"market.main.enterprise": "district_code = '350102'"},
    )


def prepare(home: Path, tokens: dict[str, str]) -> list[Call]:
    """The calls of the workload, answers computed through a Session per scenario."""
    from guajie.api import Session
    from guajie.catalog.ledger import Catalog

    calls = []
    with Session(Catalog.open(str(home))) as session:
        for scenario, queries in WORKLOAD.items():
            for sql in queries:
                expected = session.query(sql, scenario=scenario, user="load-expectation")
                for fmt in ("arrow", "json"):
                    calls.append(Call(scenario, tokens[scenario], sql, fmt, expected))
    return calls


@dataclass
class LoadResult:
    seconds: float
    latencies: list[float] = field(default_factory=list)
    by_scenario: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return len(self.latencies) + len(self.failures)

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

    def summary(self) -> str:
        return (
            f"{self.requests} requests in {self.seconds:.1f} s: "
            f"{self.requests / self.seconds:.1f} requests/s, "
            f"p50 {self.percentile(50) * 1000:.0f} ms, p95 {self.percentile(95) * 1000:.0f} ms, "
            f"p99 {self.percentile(99) * 1000:.0f} ms, "
            f"mean {statistics.fmean(self.latencies) * 1000 if self.latencies else float('nan'):.0f} ms, "
            f"{len(self.failures)} failed"
        )


def run_load(server: GuajieServer, calls: list[Call], clients: int, seconds: float) -> LoadResult:
    """``clients`` threads, each with a keep-alive connection, sending calls until the time is
    up (a request started before then is finished and counted)."""
    result = LoadResult(seconds=seconds)
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def client(index: int) -> None:
        conn = http.client.HTTPConnection(server.host, server.port, timeout=120)
        latencies: list[float] = []
        failures: list[str] = []
        counts: dict[str, int] = {}
        i = index
        start.wait()
        try:
            while time.monotonic() < stop_at[0]:
                call = calls[i % len(calls)]
                i += 7  # clients walk the calls in different orders
                began = time.perf_counter()
                try:
                    status, _, data = request(
                        server,
                        "POST",
                        "/v1/query",
                        body=call.body(),
                        token=call.token,
                        connection=conn,
                    )
                    problem = call.check(status, data)
                except Exception as exc:
                    problem = f"{call.scenario}: {type(exc).__name__}: {exc}"
                    conn.close()
                    conn = http.client.HTTPConnection(server.host, server.port, timeout=120)
                if problem is None:
                    latencies.append(time.perf_counter() - began)
                    counts[call.scenario] = counts.get(call.scenario, 0) + 1
                else:
                    failures.append(problem)
        finally:
            conn.close()
            with lock:
                result.latencies.extend(latencies)
                result.failures.extend(failures)
                for scenario, n in counts.items():
                    result.by_scenario[scenario] = result.by_scenario.get(scenario, 0) + n

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    began = time.monotonic()
    stop_at[0] = began + seconds
    start.wait()
    for t in threads:
        t.join()
    result.seconds = time.monotonic() - began
    return result
