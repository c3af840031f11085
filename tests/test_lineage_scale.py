"""The running totals that keep governance reports fast agree with the raw run records.

Uses the scale benchmark's generator (``benchmarks/lineage_scale.py``) at a small size, so the
benchmark keeps working, and checks the recorder's own bookkeeping on real runs.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from guajie.api import Session
from guajie.catalog.ledger import Catalog
from guajie.lineage.governance import Governance
from guajie.lineage.recorder import execute, run_query
from tests.lineage_support import register_city
from tests.support.policies import open_scenario

ROOT = Path(__file__).parents[1]


def _benchmark():
    spec = importlib.util.spec_from_file_location(
        "lineage_scale", ROOT / "benchmarks" / "lineage_scale.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["lineage_scale"] = module
    spec.loader.exec_module(module)
    return module


def _brute_force(catalog: Catalog) -> tuple[dict[str, tuple[int, int]], dict[str, tuple[int, int]]]:
    """Per dataset and per scenario: (runs, distinct scenarios / datasets), from raw rows."""
    with catalog.store.read() as txn:
        datasets = {
            r[0]: (int(r[1]), int(r[2]))
            for r in txn.db.execute(
                "SELECT i.dataset, count(*), count(DISTINCT NULLIF(r.scenario, '')) "
                "FROM run_inputs i JOIN runs r ON r.id = i.run_id GROUP BY i.dataset"
            )
        }
        scenarios = {
            r[0]: (int(r[1]), int(r[2]))
            for r in txn.db.execute(
                "SELECT r.scenario, count(DISTINCT r.id), count(DISTINCT i.dataset) "
                "FROM runs r JOIN run_inputs i ON i.run_id = r.id "
                "WHERE r.status = 'completed' AND r.scenario IS NOT NULL GROUP BY r.scenario"
            )
        }
    return datasets, scenarios


def _totals(catalog: Catalog) -> tuple[dict[str, tuple[int, int]], dict[str, tuple[int, int]]]:
    usage = Governance(catalog).usage()
    return (
        {u["dataset"]: (u["runs"], u["scenarios"]) for u in usage["usage"]},
        {s["scenario"]: (s["runs"], s["datasets"]) for s in usage["scenarios"]},
    )


def test_the_benchmark_builds_and_its_totals_match_the_runs(tmp_path):
    bench = _benchmark()
    catalog = Catalog.open(str(tmp_path / "ws"))
    city = bench.build(catalog, runs=3000, datasets=400)
    assert city.rows["runs"] == 3000
    assert _totals(catalog) == _brute_force(catalog)
    figures = bench.measure(catalog, city, repeat=1)
    assert figures["usage"]["datasets"] == 400
    assert 0 < figures["usage"]["penetration"] < 1
    assert figures["impact dataset"]["runs"] > 0 and figures["impact dataset"]["derived"] > 0
    with catalog.store.read() as txn:
        reads = txn.db.execute(
            "SELECT count(*) FROM run_inputs WHERE dataset = ?", (city.popular,)
        )[0][0]
    assert Governance(catalog).impact(city.popular).run_count >= reads
    catalog.workspace.close()


@pytest.fixture
def session(city_dir: Path, tmp_path: Path):
    register_city(tmp_path / "ws", city_dir)
    s = Session(Catalog.open(str(tmp_path / "ws")))
    yield s
    s.close()


def test_recorded_runs_keep_the_totals_exact(session):
    sql = "SELECT district, count(*) AS n FROM market.enterprise GROUP BY district"
    open_scenario(session.catalog, "a")
    open_scenario(session.catalog, "b")
    execute(session, sql, scenario="a").read_all()
    execute(session, sql, scenario="a").read_all()
    execute(session, sql, scenario="b").read_all()
    execute(session, sql).read_all()
    run_query(session, "SELECT name FROM market.district", into="d", scenario="a")
    open_scenario(session.catalog, "c")
    open_scenario(session.catalog, "z")
    run_query(session, "SELECT * FROM pool.d", into="e", scenario="c")
    failed = execute(session, "SELECT * FROM market.enterprise", scenario="z")
    failed.close()  # aborted: not a use
    assert _totals(session.catalog) == _brute_force(session.catalog)
    datasets, scenarios = _totals(session.catalog)
    assert datasets["market.main.enterprise"] == (4, 2)
    assert scenarios["a"] == (3, 2) and "z" not in scenarios
