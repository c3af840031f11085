"""Time lineage queries with 100,000 recorded runs over 10,000 datasets.

Builds a fresh workspace and fills its catalog store with a synthetic city: departmental
datasets (with personal-information columns), derived datasets in the pool built from them
in three layers (so impact has chains to follow), and runs whose inputs follow a skewed
popularity (a few datasets are read by thousands of runs, many by none), across scenarios
and users. Rows go in with ``executemany``, straight into the tables the recorder writes.

It then times, each the median of several repeats in this process:

* ``impact`` of the most used departmental dataset and of one of its columns (transitive);
* ``usage`` (per-dataset totals, unused datasets, penetration rate by source);
* ``runs`` (the 20 newest runs that touched a dataset);
* ``show`` of a derived dataset, and ``pii`` (personal-information flows);
* recording one more completed run at this scale (the write path, per run).

    python benchmarks/lineage_scale.py                        # 100,000 runs, 10,000 datasets
    python benchmarks/lineage_scale.py --runs 20000 --datasets 2000 --repeat 3
    python benchmarks/lineage_scale.py --store postgresql://user@host/db --password-env VAR
    python benchmarks/lineage_scale.py --json .bench/lineage.json
    python benchmarks/lineage_scale.py --home .bench/lineage-ws   # built once, then reused
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SOURCES = 40
COLUMNS = 8
SCENARIOS = 200
USERS = 60
DERIVED_SHARE = 0.1  # of all datasets, in the pool
SEED = 20240601


@dataclass
class City:
    """What was generated, for choosing what to time."""

    departmental: list[str] = field(default_factory=list)
    derived: list[str] = field(default_factory=list)
    columns: dict[str, list[str]] = field(default_factory=dict)
    popular: str = ""
    runs: int = 0
    rows: dict[str, int] = field(default_factory=dict)


def _columns(i: int) -> list[dict[str, Any]]:
    kinds = [None, None, "name", None, "phone", None, None, "id_number"]
    cols = []
    for c in range(COLUMNS):
        col: dict[str, Any] = {"name": f"c{c}", "type": "string" if c % 3 else "int64"}
        kind = kinds[c] if i % 4 == 0 else None
        if kind:
            col.update(sensitivity=kind, sensitivity_source="suggested", sensitivity_reason="bench")
        cols.append(col)
    return cols


def build(catalog: Any, runs: int, datasets: int, seed: int = SEED) -> City:
    """Fill ``catalog``'s store with ``datasets`` datasets and ``runs`` runs."""
    from guajie.catalog.models import Dataset, Source, SourceKind
    from guajie.lineage.runs import stamp

    rng = random.Random(seed)
    city = City(runs=runs)
    n_derived = max(3, int(datasets * DERIVED_SHARE))
    n_departmental = datasets - n_derived
    store = catalog.store
    docs: list[Dataset] = []
    sources = [
        Source(name=f"dept{s:02d}", kind=SourceKind.SQLITE, url=f"sqlite:////data/dept{s:02d}.db")
        for s in range(SOURCES)
    ]
    sources.append(Source(name="pool", kind=SourceKind.FILE, url="file:///srv/pool"))
    for i in range(n_departmental):
        src = f"dept{i % SOURCES:02d}"
        qn = f"{src}.main.t{i:05d}"
        city.departmental.append(qn)
        docs.append(
            Dataset.model_validate(
                {
                    "source": src,
                    "schema": "main",
                    "name": f"t{i:05d}",
                    "resource_code": f"B-{i:06d}",
                    "columns": _columns(i),
                }
            )
        )
    for i in range(n_derived):
        qn = f"pool.default.d{i:05d}"
        city.derived.append(qn)
        docs.append(
            Dataset.model_validate(
                {
                    "source": "pool",
                    "schema": "default",
                    "name": f"d{i:05d}",
                    "resource_code": f"P-{i:06d}",
                    "columns": [{"name": f"o{c}", "type": "string"} for c in range(6)],
                    "tags": ["derived"],
                }
            )
        )
    for d in docs:
        city.columns[d.qualified_name] = [c.name for c in d.columns]

    # Popularity: a Zipf-like weight, so that some datasets are hot and many are never read.
    everything = city.departmental + city.derived
    order = everything[:]
    rng.shuffle(order)
    weights = [1.0 / (rank + 1) ** 1.1 for rank in range(len(order))]
    readable = order[: int(len(order) * 0.7)]  # the rest are never read
    readable_weights = weights[: len(readable)]
    city.popular = next(q for q in order if q in set(city.departmental))

    # Derived datasets in three layers, each from 1-3 inputs of earlier layers.
    layers = [
        city.derived[: int(n_derived * 0.7)],
        city.derived[int(n_derived * 0.7) : int(n_derived * 0.95)],
        city.derived[int(n_derived * 0.95) :],
    ]
    recipe: dict[str, list[str]] = {}
    pool = list(city.departmental)
    hot = order[:200]
    for layer in layers:
        for d in layer:
            picks = {
                rng.choice(hot) if rng.random() < 0.5 else rng.choice(pool)
                for _ in range(rng.randint(1, 3))
            }
            picks.discard(d)
            recipe[d] = sorted(picks)
        pool = pool + layer
        hot = hot + layer[:50]
    recipe[city.derived[0]] = sorted({city.popular, *recipe[city.derived[0]]})

    start = datetime(2024, 1, 1, tzinfo=UTC)
    run_rows: list[tuple[Any, ...]] = []
    input_rows: list[tuple[Any, ...]] = []
    column_rows: list[tuple[Any, ...]] = []
    output_rows: list[tuple[Any, ...]] = []
    usage: dict[tuple[str, str], list[Any]] = {}
    col_usage: dict[tuple[str, str, str], list[Any]] = {}
    last_writer: dict[str, str] = {}
    scenario_names = [f"scenario_{s:03d}" for s in range(SCENARIOS)]
    for r in range(runs):
        run_id = f"00000000-0000-7000-8000-{r:012d}"
        at = start + timedelta(seconds=r * 30)
        started = stamp(at)
        ended = stamp(at + timedelta(seconds=2))
        scenario = rng.choice(scenario_names) if rng.random() < 0.8 else None
        status = "completed" if rng.random() < 0.95 else rng.choice(["failed", "aborted"])
        writes = rng.random() < 0.1
        if writes:
            output = rng.choice(city.derived)
            inputs = recipe[output]
        else:
            output = None
            inputs = sorted(
                set(rng.choices(readable, weights=readable_weights, k=rng.randint(1, 4)))
            )
        run_rows.append(
            (
                run_id,
                scenario or (output or f"query.{r % 997:012x}"),
                scenario,
                f"user{rng.randrange(USERS):02d}",
                "embedded",
                f"SELECT /* run {r} */ * FROM {inputs[0]}",
                f"{r:016x}",
                "trino",
                started,
                ended,
                status,
                None if status == "completed" else "Source 'dept01': the query failed.",
                rng.randint(0, 100_000),
                output,
                "replace" if output else None,
                json.dumps(inputs),
                json.dumps({q.split(".")[0]: {"rows": 100, "bytes": 4096} for q in inputs}),
            )
        )
        if status != "completed":
            continue
        sc = scenario or ""
        for q in inputs:
            input_rows.append((run_id, q, started))
            u = usage.setdefault((q, sc), [0, ended, ended])
            u[0] += 1
            u[2] = ended
            for col in rng.sample(city.columns[q], 3):
                exposed = int(rng.random() < 0.6)
                column_rows.append(
                    (run_id, q, col, "IDENTITY" if exposed else "FILTER", exposed, started)
                )
                cu = col_usage.setdefault((q, col, sc), [0, 0, ended])
                cu[0] += 1
                cu[1] += exposed
                cu[2] = ended
        if output:
            last_writer[output] = run_id
            output_rows.append(
                (run_id, output, "replace", 1000, 65536, f"file:///srv/pool/{output}", 0, started)
            )

    lineage_rows: list[tuple[Any, ...]] = []
    dataset_edges: list[tuple[str, str]] = []
    derived_rows: list[tuple[Any, ...]] = []
    for d in city.derived:
        run_id = last_writer.get(d, f"00000000-0000-7000-9000-{city.derived.index(d):012d}")
        for q in recipe[d]:
            dataset_edges.append((q, d))
        for o in range(6):
            q = recipe[d][o % len(recipe[d])]
            col = city.columns[q][(o * 3) % len(city.columns[q])]
            subtype = ("IDENTITY", "TRANSFORMATION", "AGGREGATION")[o % 3]
            lineage_rows.append(
                (
                    d,
                    f"o{o}",
                    q,
                    col,
                    "DIRECT",
                    subtype,
                    int(subtype == "AGGREGATION" and o % 2 == 1),
                    run_id,
                )
            )
        for q in recipe[d]:
            lineage_rows.append((d, "", q, city.columns[q][1], "INDIRECT", "FILTER", 0, run_id))
            lineage_rows.append((d, "", q, city.columns[q][0], "INDIRECT", "JOIN", 0, run_id))
        derived_rows.append(
            (
                d,
                run_id,
                None,
                f"SELECT * FROM {recipe[d][0]}",
                "trino",
                json.dumps(recipe[d]),
                stamp(start),
                stamp(start),
            )
        )
    current = {(rid, d) for d, rid in last_writer.items()}
    output_rows = [(*row[:6], int((row[0], row[1]) in current), row[7]) for row in output_rows]

    with store.write() as txn:
        for s in sources:
            txn.put_source(s)
        txn.put_datasets(docs)
        db = txn.db
        db.executemany(
            "INSERT INTO runs (id, job, scenario, user_name, engine, sql, sql_hash, dialect, "
            "started_at, ended_at, status, error, row_count, output_dataset, mode, inputs, "
            "fetched) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            run_rows,
        )
        db.executemany(
            "INSERT INTO run_inputs (run_id, dataset, started_at) VALUES (?, ?, ?)", input_rows
        )
        db.executemany(
            "INSERT INTO run_input_columns (run_id, dataset, column_name, how, exposed, started_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            column_rows,
        )
        db.executemany(
            "INSERT INTO run_outputs (run_id, dataset, mode, row_count, size_bytes, location, "
            "is_current, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            output_rows,
        )
        db.executemany(
            "INSERT INTO column_lineage (output_dataset, output_column, input_dataset, "
            "input_column, type, subtype, masking, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            lineage_rows,
        )
        db.executemany(
            "INSERT INTO dataset_lineage (input_dataset, output_dataset) VALUES (?, ?)",
            sorted(set(dataset_edges)),
        )
        db.executemany(
            "INSERT INTO derived_datasets (dataset, run_id, scenario, sql, dialect, inputs, "
            "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            derived_rows,
        )
        db.executemany(
            "INSERT INTO dataset_usage (dataset, scenario, runs, first_used, last_used) "
            "VALUES (?, ?, ?, ?, ?)",
            [(q, sc, u[0], u[1], u[2]) for (q, sc), u in usage.items()],
        )
        db.executemany(
            "INSERT INTO column_usage (dataset, column_name, scenario, runs, exposed_runs, "
            "last_used) VALUES (?, ?, ?, ?, ?, ?)",
            [(q, c, sc, u[0], u[1], u[2]) for (q, c, sc), u in col_usage.items()],
        )
        totals: dict[str, list[Any]] = {}
        per_scenario: dict[str, list[Any]] = {}
        for (q, sc), u in usage.items():
            tot = totals.setdefault(q, [0, 0, u[1], u[2]])
            tot[0] += u[0]
            tot[1] += int(bool(sc))
            tot[2], tot[3] = min(tot[2], u[1]), max(tot[3], u[2])
            if sc:
                s = per_scenario.setdefault(sc, [0, 0, u[1], u[2]])
                s[1] += 1
                s[2], s[3] = min(s[2], u[1]), max(s[3], u[2])
        for row in run_rows:
            if row[2] and row[10] == "completed":
                per_scenario[row[2]][0] += 1
        db.executemany(
            "INSERT INTO dataset_totals (dataset, runs, scenarios, first_used, last_used) "
            "VALUES (?, ?, ?, ?, ?)",
            [(q, *v) for q, v in totals.items()],
        )
        db.executemany(
            "INSERT INTO scenario_totals (scenario, runs, datasets, first_used, last_used) "
            "VALUES (?, ?, ?, ?, ?)",
            [(sc, *v) for sc, v in per_scenario.items()],
        )
    city.rows = {
        "runs": len(run_rows),
        "run_inputs": len(input_rows),
        "run_input_columns": len(column_rows),
        "run_outputs": len(output_rows),
        "column_lineage": len(lineage_rows),
        "dataset_lineage": len(set(dataset_edges)),
        "dataset_usage": len(usage),
        "column_usage": len(col_usage),
    }
    return city


def _time(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times = []
    result = None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def _record_one(catalog: Any, city: City) -> None:
    """One more completed run through the recorder's own write path."""
    from guajie.lineage.columns import InputField, QueryLineage, Transformation
    from guajie.lineage.runs import COMPLETED, Run, RunTables, now

    q = city.popular
    lineage = QueryLineage(
        sql=f"SELECT c2 FROM {q}",
        inputs=[q],
        output_columns=["c2"],
        columns={"c2": [InputField(q, "c2", Transformation("DIRECT", "IDENTITY"))]},
        dataset=[InputField(q, "c1", Transformation("INDIRECT", "FILTER"))],
    )
    import uuid

    run = Run(
        id=str(uuid.uuid4()),
        job="bench",
        sql=lineage.sql,
        dialect="trino",
        engine="embedded",
        user="bench",
        started_at=now(),
        scenario="scenario_000",
        inputs=[q],
    )
    with catalog.store.write() as txn:
        RunTables(txn).insert_run(run)
    run.status, run.ended_at, run.row_count = COMPLETED, now(), 1
    with catalog.store.write() as txn:
        RunTables(txn).record_completion(run, lineage)


def measure(catalog: Any, city: City, repeat: int) -> dict[str, Any]:
    from guajie.lineage.governance import Governance

    gov = Governance(catalog)
    column = f"{city.popular}.{city.columns[city.popular][3]}"  # copied into derived data
    figures: dict[str, Any] = {}
    t, impact = _time(lambda: gov.impact(city.popular), repeat)
    figures["impact dataset"] = {
        "seconds": t,
        "target": city.popular,
        "derived": len(impact.derived),
        "max_depth": max((d["depth"] for d in impact.derived), default=0),
        "scenarios": len(impact.scenarios),
        "runs": impact.run_count,
    }
    t, impact = _time(lambda: gov.impact(column), repeat)
    figures["impact column"] = {
        "seconds": t,
        "target": column,
        "derived": len(impact.derived),
        "scenarios": len(impact.scenarios),
        "runs": impact.run_count,
    }
    t, usage = _time(gov.usage, repeat)
    figures["usage"] = {
        "seconds": t,
        "datasets": usage["datasets"],
        "used": usage["used"],
        "unused": usage["unused_count"],
        "penetration": usage["penetration"],
    }
    t, runs = _time(lambda: gov.runs(limit=20, dataset=city.popular), repeat)
    figures["runs of a dataset"] = {"seconds": t, "listed": len(runs)}
    t, _ = _time(lambda: gov.show(city.derived[0]), repeat)
    figures["show derived"] = {"seconds": t}
    t, pii = _time(gov.pii, max(1, repeat // 2))
    figures["pii"] = {"seconds": t, "pi_columns": pii["pi_columns"]}
    t, _ = _time(lambda: _record_one(catalog, city), repeat)
    figures["record a run"] = {"seconds": t}
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--datasets", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--home", help="Workspace directory (default: a fresh temporary one).")
    parser.add_argument("--store", help="A PostgreSQL store URL instead of the embedded SQLite.")
    parser.add_argument("--password-env", help="Variable holding the PostgreSQL store password.")
    parser.add_argument("--json", dest="json_path", help="Also write the figures here as JSON.")
    args = parser.parse_args(argv)

    from guajie.catalog.ledger import Catalog
    from guajie.catalog.workspace import Workspace

    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="guajie-lineage-")) / "ws"
    saved = home / "lineage-bench.json"
    where = args.store or f"SQLite {home / 'catalog.db'}"
    if saved.exists():  # a workspace built by an earlier run: measure again
        catalog = Catalog.open(str(home))
        city = City(**json.loads(saved.read_text()))
        built = 0.0
        print(f"Reusing {city.runs:,} runs in {home} ({where}).")
    else:
        Workspace.init(home, store=args.store, store_password_env=args.password_env)
        catalog = Catalog.open(str(home))
        t = time.perf_counter()
        city = build(catalog, args.runs, args.datasets)
        built = time.perf_counter() - t
        saved.write_text(json.dumps(city.__dict__))
        print(
            f"Built {args.runs:,} runs over {args.datasets:,} datasets in {built:.1f} s ({where})."
        )
    print("Rows: " + ", ".join(f"{k} {v:,}" for k, v in city.rows.items()))
    figures = measure(catalog, city, args.repeat)
    print(f"\n{'query':<20} {'median':>10}  details")
    for name, f in figures.items():
        details = ", ".join(f"{k}={v}" for k, v in f.items() if k != "seconds")
        print(f"{name:<20} {f['seconds'] * 1000:>8.1f} ms  {details}")
    if args.json_path:
        out = Path(args.json_path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(
            json.dumps(
                {
                    "runs": args.runs,
                    "datasets": args.datasets,
                    "store": where,
                    "build_seconds": built,
                    "rows": city.rows,
                    "figures": figures,
                },
                indent=2,
            )
        )
    catalog.workspace.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
