"""Governance questions over the run records and lineage: who uses what, and what depends on it.

* :meth:`Governance.show` — a dataset's lineage: where each column comes from, its recipe,
  what derives from it, who uses it.
* :meth:`Governance.impact` — everything downstream of a dataset or a column, transitively:
  derived datasets (and which of their columns), scenarios and runs.
* :meth:`Governance.usage` — runs, scenarios and last use per dataset, the datasets nobody
  uses, and the data application penetration rate (数据应用渗透率 = datasets used by at least
  one completed run / datasets in the catalog), overall and per source.
* :meth:`Governance.pii` — where personal information flows: into which derived columns,
  which scenarios read it, and how often its values left in a result.

Reads touch indexed lineage tables and the usage totals, never a scan of all runs, so they
stay fast with hundreds of thousands of runs (see ``benchmarks/lineage_scale.py``).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from guajie.catalog.errors import NotFoundError
from guajie.catalog.ledger import Catalog
from guajie.catalog.models import Dataset, PIKind
from guajie.catalog.store import Txn

from .pool import POOL_SOURCE
from .runs import Run, RunTables

#: How far impact follows derivations before stopping (a guard against cycles of appends).
MAX_DEPTH = 64
#: Parameters per IN list, below every backend's limit.
CHUNK = 500


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _marks(n: int) -> str:
    return ", ".join("?" * n)


@dataclass
class Target:
    dataset: str
    column: str | None = None

    def __str__(self) -> str:
        return f"{self.dataset}.{self.column}" if self.column else self.dataset


@dataclass
class Impact:
    target: Target
    derived: list[dict[str, Any]] = field(default_factory=list)
    scenarios: list[dict[str, Any]] = field(default_factory=list)
    run_count: int = 0
    recent_runs: list[Run] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": str(self.target),
            "derived": self.derived,
            "scenarios": self.scenarios,
            "runs": {"count": self.run_count, "recent": [r.to_dict() for r in self.recent_runs]},
        }


class Governance:
    """Read-only lineage and usage reports over one workspace."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    # -- names ---------------------------------------------------------------------------
    def resolve(self, target: str) -> Target:
        """``source.schema.table[.column]`` (or ``source.table[.column]``) to a target; a
        dataset that is gone from the catalog but still in lineage is accepted by full name."""
        try:
            dataset, column = self.catalog.resolve(target)
            return Target(dataset.qualified_name, column.name if column else None)
        except NotFoundError:
            with self.catalog.store.read() as txn:
                for name, column_name in _splits(target):
                    if _in_lineage(txn, name):
                        return Target(name, column_name)
            raise

    # -- runs ----------------------------------------------------------------------------
    def runs(self, **filters: Any) -> list[Run]:
        if filters.get("dataset"):
            filters["dataset"] = self.resolve(filters["dataset"]).dataset
        with self.catalog.store.read() as txn:
            return RunTables(txn).list_runs(**filters)

    def run(self, run_id: str) -> Run:
        with self.catalog.store.read() as txn:
            tables = RunTables(txn)
            run = tables.get_run(run_id)
            if run is None:
                matches = txn.db.execute(
                    "SELECT id FROM runs WHERE id LIKE ? LIMIT 2", (f"{run_id}%",)
                )
                if len(matches) == 1:
                    run = tables.get_run(matches[0][0])
        if run is None:
            raise NotFoundError(
                f"No run {run_id!r}.", "List recent runs with `guajie lineage runs`."
            )
        return run

    # -- show ----------------------------------------------------------------------------
    def show(self, target: str) -> dict[str, Any]:
        t = self.resolve(target)
        with self.catalog.store.read() as txn:
            db = txn.db
            lineage_rows = db.execute(
                "SELECT DISTINCT output_column, input_dataset, input_column, type, subtype, "
                "masking FROM column_lineage WHERE output_dataset = ? "
                "ORDER BY output_column, input_dataset, input_column, subtype",
                (t.dataset,),
            )
            columns: dict[str, list[dict[str, Any]]] = defaultdict(list)
            whole: list[dict[str, Any]] = []
            for out_col, ds, col, kind, subtype, masking in lineage_rows:
                edge = {
                    "dataset": ds,
                    "column": col,
                    "type": kind,
                    "subtype": subtype,
                    "masking": bool(masking),
                }
                (columns[out_col] if out_col else whole).append(edge)
            upstream = [
                r[0]
                for r in db.execute(
                    "SELECT input_dataset FROM dataset_lineage WHERE output_dataset = ? ORDER BY 1",
                    (t.dataset,),
                )
            ]
            downstream = [
                r[0]
                for r in db.execute(
                    "SELECT output_dataset FROM dataset_lineage WHERE input_dataset = ? ORDER BY 1",
                    (t.dataset,),
                )
            ]
            recipe = RunTables(txn).recipe(t.dataset)
            usage = _usage_of(txn, [t.dataset]).get(t.dataset, _empty_usage())
            dataset = txn.get_dataset(t.dataset)
        out: dict[str, Any] = {
            "dataset": t.dataset,
            "derived": recipe is not None,
            "upstream": upstream,
            "columns": dict(columns),
            "dataset_lineage": whole,
            "downstream": downstream,
            "usage": usage,
            "recipe": recipe,
        }
        if dataset is not None:
            out["sensitive_columns"] = [
                {
                    "column": c.name,
                    "kind": c.sensitivity.value if c.sensitivity else None,
                    "review": c.sensitivity_source,
                    "reason": c.sensitivity_reason,
                }
                for c in dataset.sensitive_columns
            ]
        if t.column is not None:
            out["column"] = t.column
            out["columns"] = {t.column: out["columns"].get(t.column, [])}
        return out

    # -- impact --------------------------------------------------------------------------
    def impact(self, target: str, *, recent: int = 20) -> Impact:
        """Everything downstream of a dataset or column, transitively."""
        t = self.resolve(target)
        with self.catalog.store.read() as txn:
            return _impact(txn, t, recent)

    # -- usage ---------------------------------------------------------------------------
    def usage(self, *, top: int = 50) -> dict[str, Any]:
        """Usage per dataset (the ``top`` most used also name their scenarios)."""
        with self.catalog.store.read() as txn:
            return _usage_report(txn, top)

    # -- personal information ------------------------------------------------------------
    def pii(self) -> dict[str, Any]:
        with self.catalog.store.read() as txn:
            return _pii_report(txn)

    # -- the graph -----------------------------------------------------------------------
    def graph(self) -> dict[str, Any]:
        """Datasets and derivations for drawing: every dataset in some lineage, its edges."""
        with self.catalog.store.read() as txn:
            return _graph(txn)


# -- helpers -------------------------------------------------------------------------------


def _splits(target: str) -> Iterable[tuple[str, str | None]]:
    parts = target.split(".")
    if len(parts) >= 3:
        yield ".".join(parts[:3]), ".".join(parts[3:]) or None


def _in_lineage(txn: Txn, dataset: str) -> bool:
    db = txn.db
    for sql in (
        "SELECT 1 FROM dataset_lineage WHERE input_dataset = ? LIMIT 1",
        "SELECT 1 FROM dataset_lineage WHERE output_dataset = ? LIMIT 1",
        "SELECT 1 FROM run_inputs WHERE dataset = ? LIMIT 1",
    ):
        if db.execute(sql, (dataset,)):
            return True
    return False


def _empty_usage() -> dict[str, Any]:
    return {"runs": 0, "scenarios": [], "last_used": None}


def _usage_of(txn: Txn, datasets: Sequence[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(list(datasets)):
        rows = txn.db.execute(
            "SELECT dataset, scenario, runs, last_used FROM dataset_usage "
            f"WHERE dataset IN ({_marks(len(chunk))})",
            tuple(chunk),
        )
        for ds, scenario, runs, last in rows:
            u = out.setdefault(ds, _empty_usage())
            u["runs"] += runs
            if scenario:
                u["scenarios"].append(scenario)
            u["last_used"] = max(u["last_used"] or "", last) or None
    for u in out.values():
        u["scenarios"].sort()
    return out


def _impact(txn: Txn, target: Target, recent: int) -> Impact:
    db = txn.db
    whole: dict[str, int] = {}  # dataset -> depth, impacted as a whole
    columns: dict[str, dict[str, int]] = defaultdict(dict)  # dataset -> column -> depth
    via: dict[str, set[str]] = defaultdict(set)
    if target.column is None:
        frontier_whole, frontier_cols = [target.dataset], []
    else:
        frontier_whole, frontier_cols = [], [(target.dataset, target.column)]
    seen_whole: set[str] = set(frontier_whole)
    seen_cols: set[tuple[str, str]] = set(frontier_cols)
    depth = 0
    while (frontier_whole or frontier_cols) and depth < MAX_DEPTH:
        depth += 1
        next_whole: list[str] = []
        next_cols: list[tuple[str, str]] = []
        for chunk in _chunks(frontier_whole):
            rows = db.execute(
                "SELECT input_dataset, output_dataset FROM dataset_lineage "
                f"WHERE input_dataset IN ({_marks(len(chunk))})",
                tuple(chunk),
            )
            for src, out in rows:
                via[out].add(src)
                if out not in seen_whole:
                    seen_whole.add(out)
                    whole.setdefault(out, depth)
                    next_whole.append(out)
        by_dataset: dict[str, list[str]] = defaultdict(list)
        for ds, col in frontier_cols:
            by_dataset[ds].append(col)
        for ds, cols in by_dataset.items():
            for chunk in _chunks(cols):
                rows = db.execute(
                    "SELECT DISTINCT input_column, output_dataset, output_column "
                    f"FROM column_lineage WHERE input_dataset = ? AND input_column IN "
                    f"({_marks(len(chunk))})",
                    (ds, *chunk),
                )
                for col, out, out_col in rows:
                    via[out].add(f"{ds}.{col}")
                    if out in seen_whole:
                        continue
                    if not out_col:  # a filter or join: the whole output depends on it
                        seen_whole.add(out)
                        whole.setdefault(out, depth)
                        next_whole.append(out)
                    elif (out, out_col) not in seen_cols:
                        seen_cols.add((out, out_col))
                        columns[out].setdefault(out_col, depth)
                        next_cols.append((out, out_col))
        frontier_whole, frontier_cols = next_whole, next_cols
    impact = Impact(target=target)
    names = sorted(set(whole) | set(columns))
    for ds in names:
        entry: dict[str, Any] = {
            "dataset": ds,
            "depth": whole.get(ds) or min(columns[ds].values()),
            "columns": None if ds in whole else sorted(columns[ds]),
            "via": sorted(via[ds]),
        }
        impact.derived.append(entry)
    impact.derived.sort(key=lambda e: (e["depth"], e["dataset"]))
    # Scenarios and runs: whatever reads the target or anything downstream of it.
    read_whole = [d for d in names if d in whole]
    read_cols = [(d, c) for d in names if d not in whole for c in columns[d]]
    if target.column is None:
        read_whole.insert(0, target.dataset)
    else:
        read_cols.insert(0, (target.dataset, target.column))
    impact.scenarios = _scenarios(txn, read_whole, read_cols)
    impact.run_count, impact.recent_runs = _runs_reading(txn, read_whole, read_cols, recent)
    return impact


def _scenarios(txn: Txn, datasets: list[str], cols: list[tuple[str, str]]) -> list[dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}

    def add(scenario: str, ds: str, runs: int, last: str) -> None:
        entry = found.setdefault(
            scenario, {"scenario": scenario, "runs": 0, "last_used": last, "datasets": set()}
        )
        entry["runs"] += runs
        entry["last_used"] = max(entry["last_used"], last)
        entry["datasets"].add(ds)

    for chunk in _chunks(datasets):
        for scenario, ds, runs, last in txn.db.execute(
            "SELECT scenario, dataset, runs, last_used FROM dataset_usage "
            f"WHERE scenario <> '' AND dataset IN ({_marks(len(chunk))})",
            tuple(chunk),
        ):
            add(scenario, ds, runs, last)
    for ds, col in cols:
        for scenario, runs, last in txn.db.execute(
            "SELECT scenario, runs, last_used FROM column_usage "
            "WHERE dataset = ? AND column_name = ? AND scenario <> ''",
            (ds, col),
        ):
            add(scenario, ds, runs, last)
    out = sorted(found.values(), key=lambda e: (-e["runs"], e["scenario"]))
    for e in out:
        e["datasets"] = sorted(e["datasets"])
    return out


def _runs_reading(
    txn: Txn, datasets: list[str], cols: list[tuple[str, str]], recent: int
) -> tuple[int, list[Run]]:
    """How many completed runs read any of these, and the newest ``recent`` of them."""
    db = txn.db
    parts: list[str] = []
    params: list[Any] = []
    for chunk in _chunks(datasets):
        parts.append(f"SELECT run_id FROM run_inputs WHERE dataset IN ({_marks(len(chunk))})")
        params.extend(chunk)
    for ds, col in cols:
        parts.append("SELECT run_id FROM run_input_columns WHERE dataset = ? AND column_name = ?")
        params.extend([ds, col])
    if not parts:
        return 0, []
    if len(parts) == 1 and len(datasets) <= 1:  # one index range: rows are distinct runs
        count = db.execute(parts[0].replace("SELECT run_id", "SELECT count(*)", 1), params)
    else:
        union = " UNION ALL ".join(parts)
        count = db.execute(f"SELECT count(DISTINCT run_id) FROM ({union}) AS reads", params)
    # The newest runs: the head of each index range, merged.
    newest: dict[str, str] = {}
    if recent > 0:
        for ds in datasets:
            for run_id, at in db.execute(
                "SELECT run_id, started_at FROM run_inputs WHERE dataset = ? "
                "ORDER BY started_at DESC LIMIT ?",
                (ds, recent),
            ):
                newest[run_id] = max(at, newest.get(run_id, at))
        for ds, col in cols:
            for run_id, at in db.execute(
                "SELECT run_id, started_at FROM run_input_columns WHERE dataset = ? AND "
                "column_name = ? ORDER BY started_at DESC LIMIT ?",
                (ds, col, recent),
            ):
                newest[run_id] = max(at, newest.get(run_id, at))
    ids = sorted(newest, key=lambda i: newest[i], reverse=True)[:recent]
    tables = RunTables(txn)
    runs = [r for i in ids if (r := tables.get_run(i)) is not None]
    return int(count[0][0]), runs


def _usage_report(txn: Txn, top: int) -> dict[str, Any]:
    db = txn.db
    all_datasets = db.execute("SELECT qualified_name, source FROM datasets ORDER BY 1")
    totals = {
        r[0]: {
            "dataset": r[0],
            "runs": int(r[1]),
            "scenarios": int(r[2]),
            "first_used": r[3],
            "last_used": r[4],
        }
        for r in db.execute(
            "SELECT dataset, runs, scenarios, first_used, last_used FROM dataset_totals"
        )
    }
    derived = {r[0] for r in db.execute("SELECT dataset FROM derived_datasets")}
    per_source: dict[str, dict[str, Any]] = {}
    unused: list[str] = []
    used_rows: list[dict[str, Any]] = []
    for ds, source in all_datasets:
        s = per_source.setdefault(source, {"source": source, "datasets": 0, "used": 0})
        s["datasets"] += 1
        row = totals.get(ds)
        if row is None:
            unused.append(ds)
            continue
        s["used"] += 1
        row["derived"] = ds in derived
        used_rows.append(row)
    for s in per_source.values():
        s["penetration"] = round(s["used"] / s["datasets"], 4) if s["datasets"] else 0.0
    used_rows.sort(key=lambda r: (-r["runs"], r["dataset"]))
    # Scenario names only for the datasets shown first: all of them would be O(runs).
    named = _usage_of(txn, [r["dataset"] for r in used_rows[:top]])
    for row in used_rows[:top]:
        row["top_scenarios"] = named.get(row["dataset"], _empty_usage())["scenarios"]
    scenarios = [
        {"scenario": r[0], "runs": int(r[1]), "datasets": int(r[2]), "last_used": r[3]}
        for r in db.execute(
            "SELECT scenario, runs, datasets, last_used FROM scenario_totals "
            "ORDER BY runs DESC, scenario"
        )
    ]
    total = len(all_datasets)
    used = total - len(unused)
    return {
        "datasets": total,
        "used": used,
        "unused_count": len(unused),
        "penetration": round(used / total, 4) if total else 0.0,
        "by_source": sorted(per_source.values(), key=lambda s: s["source"]),
        "usage": used_rows,
        "unused": unused,
        "scenarios": scenarios,
    }


def _pii_columns(txn: Txn) -> list[tuple[Dataset, Any]]:
    rows = txn.db.execute(
        "SELECT doc FROM datasets WHERE doc LIKE ? ORDER BY qualified_name", ('%"sensitivity":%',)
    )
    out: list[tuple[Dataset, Any]] = []
    for (doc,) in rows:
        dataset = Dataset.model_validate_json(doc)
        out.extend((dataset, c) for c in dataset.sensitive_columns)
    return out


def _pii_report(txn: Txn) -> dict[str, Any]:
    db = txn.db
    columns = _pii_columns(txn)
    names = sorted({d.qualified_name for d, _ in columns})
    wanted = {(d.qualified_name, c.name) for d, c in columns}
    column_names = sorted({c.name for _, c in columns})[:CHUNK]
    edges: dict[tuple[str, str], list[tuple[Any, ...]]] = defaultdict(list)
    usage: dict[tuple[str, str], list[tuple[Any, ...]]] = defaultdict(list)
    for chunk in _chunks(names, CHUNK // 2):
        marks = _marks(len(chunk))
        # Narrowed by column name too when the names are few (they usually are).
        narrow = f" AND {{}} IN ({_marks(len(column_names))})" if len(column_names) < CHUNK else ""
        extra = tuple(column_names) if narrow else ()
        for ds, col, out, out_col, ctype, subtype, masking in db.execute(
            "SELECT DISTINCT input_dataset, input_column, output_dataset, output_column, type, "
            f"subtype, masking FROM column_lineage WHERE input_dataset IN ({marks})"
            f"{narrow.format('input_column')} ORDER BY output_dataset, output_column",
            (*chunk, *extra),
        ):
            if (ds, col) in wanted:
                edges[(ds, col)].append((out, out_col, ctype, subtype, masking))
        for ds, col, scenario, runs, exposed, last in db.execute(
            "SELECT dataset, column_name, scenario, runs, exposed_runs, last_used FROM "
            f"column_usage WHERE dataset IN ({marks}){narrow.format('column_name')} "
            "ORDER BY runs DESC, scenario",
            (*chunk, *extra),
        ):
            if (ds, col) in wanted:
                usage[(ds, col)].append((scenario, runs, exposed, last))
    entries: list[dict[str, Any]] = []
    for dataset, column in columns:
        kind = column.sensitivity
        assert isinstance(kind, PIKind)
        key = (dataset.qualified_name, column.name)
        inherited = (column.sensitivity_reason or "").startswith("inherited through lineage")
        flows_to: list[dict[str, Any]] = []
        masked_in: list[dict[str, Any]] = []
        for out, out_col, ctype, subtype, masking in edges.get(key, []):
            edge = {"dataset": out, "column": out_col or None, "subtype": subtype}
            carries = ctype == "DIRECT" and not (subtype == "AGGREGATION" and masking)
            (flows_to if carries else masked_in).append(edge)
        scenarios = [
            {"scenario": s or None, "runs": runs, "exposed_runs": exposed, "last_used": last}
            for s, runs, exposed, last in usage.get(key, [])
        ]
        entries.append(
            {
                "dataset": dataset.qualified_name,
                "column": column.name,
                "kind": kind.value,
                "label": kind.label,
                "review": column.sensitivity_source,
                "reason": column.sensitivity_reason,
                "derived": dataset.source == POOL_SOURCE or inherited,
                "flows_to": flows_to,
                "used_without_values": masked_in,
                "scenarios": scenarios,
                "runs": sum(s["runs"] for s in scenarios),
                "exposed_runs": sum(s["exposed_runs"] for s in scenarios),
            }
        )
    return {
        "columns": entries,
        "pi_columns": len(entries),
        "flowing": sum(1 for e in entries if e["flows_to"]),
        "exposed_runs": sum(e["exposed_runs"] for e in entries),
    }


def _graph(txn: Txn) -> dict[str, Any]:
    db = txn.db
    edges = [
        {"from": a, "to": b}
        for a, b in db.execute(
            "SELECT input_dataset, output_dataset FROM dataset_lineage ORDER BY 1, 2"
        )
    ]
    recipes = {
        ds: {"scenario": scenario, "run_id": run_id, "inputs": json.loads(inputs)}
        for ds, scenario, run_id, inputs in db.execute(
            "SELECT dataset, scenario, run_id, inputs FROM derived_datasets"
        )
    }
    column_edges = [
        {
            "to_dataset": out,
            "to_column": out_col or None,
            "from_dataset": ds,
            "from_column": col,
            "type": ctype,
            "subtype": subtype,
            "masking": bool(masking),
        }
        for out, out_col, ds, col, ctype, subtype, masking in db.execute(
            "SELECT DISTINCT output_dataset, output_column, input_dataset, input_column, type, "
            "subtype, masking FROM column_lineage ORDER BY 1, 2, 3, 4, 6"
        )
    ]
    names = sorted({e["from"] for e in edges} | {e["to"] for e in edges})
    return {"datasets": names, "edges": edges, "derived": recipes, "column_edges": column_edges}
