"""The governance report: one self-contained HTML file that works opened from disk.

No script, no web font and no link to anything outside the file: CSS is inline and the
lineage graphs are SVG laid out in Python (:mod:`.layout`). Sections: summary, the lineage
graph by dataset and by column, impact of each input, usage and the data application
penetration rate (数据应用渗透率), personal-information flows, and recent runs.

SVG elements carry ``data-*`` attributes naming what they draw (``data-dataset``,
``data-from``/``data-to``, ``data-column``), so tests and tools can read the graph back.
"""

from __future__ import annotations

import hashlib
import html
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from guajie import __version__
from guajie.catalog.ledger import Catalog

from .governance import Governance
from .layout import Layout, layered, text_width
from .runs import Run

#: Datasets drawn at most; a larger graph is cut to the most connected ones.
MAX_GRAPH_NODES = 250
ROW = 22
HEADER = 30

_SUBTYPE_COLOURS = {
    "IDENTITY": "#2e7d32",
    "TRANSFORMATION": "#1565c0",
    "AGGREGATION": "#ef6c00",
    "CONDITIONAL": "#6a1b9a",
    "WINDOW": "#6a1b9a",
}
_PALETTE = ["#e3f2fd", "#e8f5e9", "#fff3e0", "#f3e5f5", "#e0f7fa", "#fce4ec", "#f1f8e9", "#ede7f6"]

_CSS = """
:root { --ink:#1d2433; --muted:#5f6b7a; --line:#d9dee5; --accent:#b71c1c; --bg:#f7f8fa; }
* { box-sizing: border-box; }
body { margin:0; font: 14px/1.5 "Noto Sans CJK SC","Noto Sans SC","PingFang SC","Microsoft YaHei",
  "Segoe UI",Roboto,Helvetica,Arial,sans-serif; color:var(--ink); background:var(--bg); }
header { background:#12263f; color:#fff; padding:18px 28px; }
header h1 { margin:0; font-size:22px; } header p { margin:4px 0 0; color:#c9d4e3; font-size:13px; }
nav { padding:8px 28px; background:#fff; border-bottom:1px solid var(--line); font-size:13px; }
nav a { margin-right:16px; color:#1565c0; text-decoration:none; }
main { padding:8px 28px 40px; }
section { background:#fff; border:1px solid var(--line); border-radius:8px; margin:18px 0;
  padding:16px 20px; }
h2 { margin:0 0 10px; font-size:18px; } h3 { margin:16px 0 6px; font-size:15px; }
.cards { display:flex; flex-wrap:wrap; gap:12px; }
.card { flex:1 1 150px; border:1px solid var(--line); border-radius:8px; padding:10px 14px; }
.card b { display:block; font-size:24px; } .card span { color:var(--muted); font-size:12px; }
table { border-collapse:collapse; width:100%; font-size:13px; }
th, td { text-align:left; padding:5px 8px; border-bottom:1px solid var(--line); vertical-align:top; }
th { background:#f0f3f7; font-weight:600; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
code { font: 12px/1.4 "Noto Sans Mono CJK SC", Menlo, Consolas, monospace; }
.muted { color:var(--muted); } .pill { display:inline-block; padding:0 7px; border-radius:9px;
  font-size:11px; margin:1px 2px; background:#eef1f5; }
.pi { background:#fdecea; color:var(--accent); } .ok { background:#e8f5e9; color:#1b5e20; }
.failed { background:#fdecea; color:var(--accent); } .running { background:#fff8e1; }
.bar { height:10px; background:#e3e8ef; border-radius:5px; overflow:hidden; min-width:120px; }
.bar i { display:block; height:100%; background:#1565c0; }
.graph { overflow:auto; border:1px solid var(--line); border-radius:6px; background:#fcfdfe; }
.legend span { margin-right:14px; font-size:12px; } .legend i { display:inline-block; width:18px;
  height:3px; vertical-align:middle; margin-right:4px; }
svg text { font-family: inherit; }
"""


def build_report(catalog: Catalog, *, runs: int = 50) -> str:
    """The report for ``catalog``'s workspace, as one HTML document."""
    gov = Governance(catalog)
    graph = gov.graph()
    usage = gov.usage()
    pii = gov.pii()
    recent = gov.runs(limit=runs)
    with catalog.store.read() as txn:
        sources = {s.name: s for s in txn.list_sources()}
        datasets = {q: d for q in graph["datasets"] if (d := txn.get_dataset(q)) is not None}
        counts = txn.db.execute("SELECT status, count(*) FROM runs GROUP BY status")
    run_counts = {status: int(n) for status, n in counts}
    impacts = [gov.impact(q, recent=0) for q in _roots(graph)]
    parts = [
        _head(catalog),
        _summary(usage, pii, graph, run_counts),
        _dataset_graph(graph, datasets, sources),
        _column_graph(graph, datasets),
        _impact_section(impacts),
        _usage_section(usage),
        _pii_section(pii),
        _runs_section(recent),
        "</main></body></html>",
    ]
    return "\n".join(parts)


def write_report(catalog: Catalog, path: str | Path, *, runs: int = 50) -> Path:
    """Write the report atomically to ``path``."""
    import os

    target = Path(path)
    text = build_report(catalog, runs=runs)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, target)
    return target


# -- sections ------------------------------------------------------------------------------


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _head(catalog: Catalog) -> str:
    at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    home = catalog.workspace.home
    links = [
        ("graph", "Lineage graph"),
        ("columns", "Column lineage"),
        ("impact", "Impact"),
        ("usage", "Usage"),
        ("pii", "Personal information"),
        ("runs", "Recent runs"),
    ]
    nav = "".join(f'<a href="#{a}">{t}</a>' for a, t in links)
    return (
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>guajie lineage report — {_e(home.name)}</title><style>{_CSS}</style></head>"
        f"<body><header><h1>数据血缘与治理报告 · Lineage and governance report</h1>"
        f"<p>Workspace {_e(home)} · generated {at} by guajie {__version__}</p></header>"
        f"<nav>{nav}</nav><main>"
    )


def _summary(
    usage: dict[str, Any], pii: dict[str, Any], graph: dict[str, Any], runs: dict[str, int]
) -> str:
    cards = [
        (usage["datasets"], "datasets in the catalog"),
        (usage["used"], "datasets used by a run"),
        (f"{usage['penetration'] * 100:.1f}%", "数据应用渗透率 penetration rate"),
        (len(graph["derived"]), "derived datasets in the pool (反哺)"),
        (sum(runs.values()), f"runs ({runs.get('failed', 0)} failed)"),
        (pii["pi_columns"], "personal-information columns"),
        (pii["exposed_runs"], "runs whose results carried PI values"),
    ]
    body = "".join(f'<div class="card"><b>{_e(v)}</b><span>{_e(t)}</span></div>' for v, t in cards)
    return f'<section id="summary"><h2>Summary</h2><div class="cards">{body}</div></section>'


def _colour(source: str) -> str:
    digest = int(hashlib.sha1(source.encode()).hexdigest(), 16)
    return _PALETTE[digest % len(_PALETTE)]


def _cut(graph: dict[str, Any]) -> tuple[list[str], list[tuple[str, str]], bool]:
    names: list[str] = graph["datasets"]
    edges = [(e["from"], e["to"]) for e in graph["edges"]]
    if len(names) <= MAX_GRAPH_NODES:
        return names, edges, False
    degree: dict[str, int] = defaultdict(int)
    for a, b in edges:
        degree[a] += 1
        degree[b] += 1
    keep = set(sorted(names, key=lambda n: (-degree[n], n))[:MAX_GRAPH_NODES])
    return (
        [n for n in names if n in keep],
        [(a, b) for a, b in edges if a in keep and b in keep],
        True,
    )


def _dataset_graph(graph: dict[str, Any], datasets: dict[str, Any], sources: dict[str, Any]) -> str:
    names, edges, cut = _cut(graph)
    if not names:
        return (
            '<section id="graph"><h2>Lineage graph</h2><p class="muted">No derived datasets '
            "yet: write a result back with <code>guajie query ... --into NAME</code>.</p></section>"
        )
    label = {n: n for n in names}
    layout = layered(names, edges, lambda n: max(150.0, text_width(label[n], 12) + 40))
    svg = [_svg_open(layout, "dataset-graph")]
    svg.append(_arrow_marker("dataset-graph"))
    scenario_of = {ds: (r.get("scenario") or "") for ds, r in graph["derived"].items()}
    for a, b in layout.edges:
        title = f"{a} → {b}" + (f" (scenario {scenario_of.get(b)})" if scenario_of.get(b) else "")
        svg.append(
            f'<path class="edge" data-from="{_e(a)}" data-to="{_e(b)}" d="{layout.path(a, b)}" '
            'fill="none" stroke="#7b8794" stroke-width="1.6" marker-end="url(#arrow-dataset-graph)">'
            f"<title>{_e(title)}</title></path>"
        )
    for n in names:
        p = layout.nodes[n]
        dataset = datasets.get(n)
        source = n.split(".", 1)[0]
        derived = n in graph["derived"]
        pi = bool(dataset and dataset.sensitive_columns)
        fill = "#fff8e1" if derived else _colour(source)
        stroke = "#b71c1c" if pi else ("#ef6c00" if derived else "#90a4ae")
        department = sources[source].department if source in sources else None
        sub = (
            f"scenario {scenario_of[n]}"
            if derived and scenario_of.get(n)
            else ("derived" if derived else (department or source))
        )
        svg.append(
            f'<g class="node" data-dataset="{_e(n)}" data-derived="{str(derived).lower()}" '
            f'data-pi="{str(pi).lower()}"><title>{_e(n)}</title>'
            f'<rect x="{p.x:.1f}" y="{p.y:.1f}" width="{p.width:.1f}" height="{p.height:.1f}" '
            f'rx="6" fill="{fill}" stroke="{stroke}" stroke-width="{2 if pi else 1.2}"/>'
            f'<text x="{p.x + 8:.1f}" y="{p.y + 13:.1f}" font-size="12" font-weight="600">'
            f"{_e(label[n])}</text>"
            f'<text x="{p.x + 8:.1f}" y="{p.y + 25:.1f}" font-size="10" fill="#5f6b7a">'
            f"{_e(sub)}{' · PI' if pi else ''}</text></g>"
        )
    svg.append("</svg>")
    note = f'<p class="muted">Showing the {len(names)} most connected datasets.</p>' if cut else ""
    legend = (
        '<p class="legend"><span><i style="background:#ffe0b2"></i>derived (in the pool)</span>'
        '<span><i style="background:#b71c1c"></i>holds personal information</span></p>'
    )
    return (
        '<section id="graph"><h2>Lineage graph · 数据集血缘</h2>'
        f'{legend}{note}<div class="graph">{"".join(svg)}</div></section>'
    )


def _column_graph(graph: dict[str, Any], datasets: dict[str, Any]) -> str:
    direct = [e for e in graph["column_edges"] if e["to_column"]]
    whole = [e for e in graph["column_edges"] if not e["to_column"]]
    if not graph["column_edges"]:
        return ""
    columns: dict[str, list[str]] = defaultdict(list)

    def add(ds: str, col: str) -> None:
        if col not in columns[ds]:
            columns[ds].append(col)

    for ds in graph["derived"]:
        dataset = datasets.get(ds)
        for c in dataset.columns if dataset else []:
            add(ds, c.name)
    for e in graph["column_edges"]:
        add(e["from_dataset"], e["from_column"])
        if e["to_column"]:
            add(e["to_dataset"], e["to_column"])
    names = sorted(columns)
    if len(names) > MAX_GRAPH_NODES:
        return (
            '<section id="columns"><h2>Column lineage</h2><p class="muted">Too many datasets to '
            "draw; see <code>guajie lineage show DATASET</code>.</p></section>"
        )
    edges = [(e["from_dataset"], e["to_dataset"]) for e in graph["column_edges"]]

    def width(ds: str) -> float:
        longest = max([text_width(ds, 12)] + [text_width(c, 11) for c in columns[ds]])
        return max(170.0, longest + 36)

    layout = layered(names, edges, width, height_of=lambda ds: HEADER + ROW * len(columns[ds]) + 6)

    def row_y(ds: str, col: str) -> float:
        return layout.nodes[ds].y + HEADER + ROW * columns[ds].index(col) + ROW / 2

    sensitive = {(ds, c.name) for ds, d in datasets.items() for c in d.sensitive_columns}
    svg = [_svg_open(layout, "column-graph")]
    for e in direct:
        a, b = e["from_dataset"], e["to_dataset"]
        x1 = layout.nodes[a].x + layout.nodes[a].width
        x2 = layout.nodes[b].x
        y1, y2 = row_y(a, e["from_column"]), row_y(b, e["to_column"])
        bend = max(30.0, abs(x2 - x1) / 2)
        colour = "#9e9e9e" if e["masking"] else _SUBTYPE_COLOURS.get(e["subtype"], "#607d8b")
        dash = ' stroke-dasharray="5 3"' if e["masking"] or e["type"] == "INDIRECT" else ""
        svg.append(
            f'<path class="col-edge" data-from="{_e(a)}.{_e(e["from_column"])}" '
            f'data-to="{_e(b)}.{_e(e["to_column"])}" data-subtype="{_e(e["subtype"])}" '
            f'data-masking="{str(e["masking"]).lower()}" '
            f'd="M{x1:.1f},{y1:.1f} C{x1 + bend:.1f},{y1:.1f} {x2 - bend:.1f},{y2:.1f} {x2:.1f},{y2:.1f}" '
            f'fill="none" stroke="{colour}" stroke-width="1.5"{dash}>'
            f"<title>{_e(e['from_dataset'])}.{_e(e['from_column'])} → {_e(b)}.{_e(e['to_column'])}: "
            f"{_e(e['subtype'].lower())}{' (masked)' if e['masking'] else ''}</title></path>"
        )
    for ds in names:
        p = layout.nodes[ds]
        derived = ds in graph["derived"]
        svg.append(
            f'<g class="table" data-dataset="{_e(ds)}"><rect x="{p.x:.1f}" y="{p.y:.1f}" '
            f'width="{p.width:.1f}" height="{p.height:.1f}" rx="6" '
            f'fill="{"#fffdf5" if derived else "#ffffff"}" '
            f'stroke="{"#ef6c00" if derived else "#90a4ae"}"/>'
            f'<rect x="{p.x:.1f}" y="{p.y:.1f}" width="{p.width:.1f}" height="{HEADER - 4}" rx="6" '
            f'fill="{"#ffe0b2" if derived else _colour(ds.split(".", 1)[0])}"/>'
            f'<text x="{p.x + 8:.1f}" y="{p.y + 17:.1f}" font-size="12" font-weight="600">'
            f"{_e(ds)}</text>"
        )
        for i, col in enumerate(columns[ds]):
            y = p.y + HEADER + ROW * i + ROW / 2 + 4
            pi = (ds, col) in sensitive
            svg.append(
                f'<text class="column" data-column="{_e(ds)}.{_e(col)}" x="{p.x + 10:.1f}" '
                f'y="{y:.1f}" font-size="11" fill="{"#b71c1c" if pi else "#1d2433"}">'
                f"{_e(col)}{' ●' if pi else ''}</text>"
            )
        svg.append("</g>")
    svg.append("</svg>")
    legend = "".join(
        f'<span><i style="background:{c}"></i>{s.lower()}</span>'
        for s, c in _SUBTYPE_COLOURS.items()
        if s not in ("WINDOW",)
    )
    legend += '<span><i style="background:#9e9e9e"></i>masked (count, sum, avg)</span>'
    legend += '<span style="color:#b71c1c">● personal information</span>'
    rows = defaultdict(list)
    for e in whole:
        rows[e["to_dataset"]].append(e)
    indirect = "".join(
        f"<tr><td><code>{_e(ds)}</code></td><td>"
        + " ".join(
            f'<span class="pill">{_e(e["subtype"].lower())}: {_e(e["from_dataset"])}.'
            f"{_e(e['from_column'])}</span>"
            for e in sorted(es, key=lambda e: (e["subtype"], e["from_dataset"], e["from_column"]))
        )
        + "</td></tr>"
        for ds, es in sorted(rows.items())
    )
    table = (
        "<h3>Columns that decide which rows appear (filters, joins, grouping, sorting)</h3>"
        f"<table><tr><th>derived dataset</th><th>indirect lineage</th></tr>{indirect}</table>"
        if indirect
        else ""
    )
    return (
        '<section id="columns"><h2>Column lineage · 字段级血缘</h2>'
        f'<p class="legend">{legend}</p><div class="graph">{"".join(svg)}</div>{table}</section>'
    )


def _impact_section(impacts: list[Any]) -> str:
    rows = []
    for impact in impacts:
        derived = " ".join(
            f'<span class="pill">{_e(d["dataset"])}'
            f"{'' if d['columns'] is None else ' (' + _e(', '.join(d['columns'])) + ')'}</span>"
            for d in impact.derived
        )
        scenarios = " ".join(
            f'<span class="pill">{_e(s["scenario"])} ×{s["runs"]}</span>' for s in impact.scenarios
        )
        rows.append(
            f'<tr data-impact="{_e(impact.target)}"><td><code>{_e(impact.target)}</code></td>'
            f"<td>{derived or '<span class=muted>none</span>'}</td><td>{scenarios}</td>"
            f'<td class="num">{impact.run_count}</td></tr>'
        )
    if not rows:
        return ""
    return (
        '<section id="impact"><h2>Impact · 影响分析</h2><p class="muted">What a change to each '
        "input would reach, transitively (<code>guajie lineage impact DATASET[.COLUMN]</code>)."
        "</p><table><tr><th>input</th><th>derived datasets downstream</th><th>scenarios</th>"
        f'<th class="num">runs</th></tr>{"".join(rows)}</table></section>'
    )


def _usage_section(usage: dict[str, Any]) -> str:
    sources = "".join(
        f'<tr><td>{_e(s["source"])}</td><td class="num">{s["used"]} / {s["datasets"]}</td>'
        f'<td><div class="bar"><i style="width:{s["penetration"] * 100:.1f}%"></i></div></td>'
        f'<td class="num">{s["penetration"] * 100:.1f}%</td></tr>'
        for s in usage["by_source"]
    )
    top = "".join(
        f"<tr><td><code>{_e(u['dataset'])}</code>{' <span class=pill>derived</span>' if u.get('derived') else ''}"
        f'</td><td class="num">{u["runs"]}</td><td>'
        + " ".join(f'<span class="pill">{_e(s)}</span>' for s in u.get("top_scenarios", []))
        + f"</td><td>{_e((u['last_used'] or '')[:19].replace('T', ' '))}</td></tr>"
        for u in usage["usage"][:50]
    )
    unused = " ".join(f'<span class="pill">{_e(n)}</span>' for n in usage["unused"][:300])
    more = len(usage["unused"]) - 300
    return (
        '<section id="usage"><h2>Usage · 数据应用渗透率</h2>'
        f"<p>Penetration rate: <b>{usage['penetration'] * 100:.1f}%</b> — {usage['used']} of "
        f"{usage['datasets']} datasets were read by at least one completed run.</p>"
        '<table><tr><th>source</th><th class="num">used / all</th><th></th>'
        f'<th class="num">rate</th></tr>{sources}</table>'
        '<h3>Most used datasets</h3><table><tr><th>dataset</th><th class="num">runs</th>'
        f"<th>scenarios</th><th>last use</th></tr>{top}</table>"
        f"<h3>Datasets nobody uses ({usage['unused_count']})</h3><p>{unused or 'none'}"
        f"{f' … and {more} more' if more > 0 else ''}</p></section>"
    )


def _pii_section(pii: dict[str, Any]) -> str:
    rows = []
    for c in pii["columns"]:
        flows = " ".join(
            f'<span class="pill pi">→ {_e(f["dataset"])}.{_e(f["column"])} ({_e(f["subtype"].lower())})</span>'
            for f in c["flows_to"]
        )
        masked = " ".join(
            f'<span class="pill ok">{_e(f["dataset"])}{"." + _e(f["column"]) if f["column"] else ""}'
            f" ({_e(f['subtype'].lower())})</span>"
            for f in c["used_without_values"]
        )
        scenarios = " ".join(
            f'<span class="pill">{_e(s["scenario"] or "ad hoc")} ×{s["runs"]}'
            f"{', values out ×' + str(s['exposed_runs']) if s['exposed_runs'] else ''}</span>"
            for s in c["scenarios"]
        )
        rows.append(
            f'<tr data-pi-column="{_e(c["dataset"])}.{_e(c["column"])}">'
            f"<td><code>{_e(c['dataset'])}.{_e(c['column'])}</code></td>"
            f'<td>{_e(c["label"])} <span class="muted">{_e(c["review"])}</span></td>'
            f"<td>{flows or '<span class=muted>—</span>'}</td><td>{masked}</td><td>{scenarios}</td>"
            f'<td class="num">{c["exposed_runs"]}</td></tr>'
        )
    return (
        '<section id="pii"><h2>Personal information flows · 个人信息流向</h2>'
        '<p class="muted">Values flow on through copies, transformations and MIN/MAX-like '
        "aggregates; counts, sums, averages, filters and joins use a column without letting "
        "its values out.</p>"
        "<table><tr><th>column</th><th>kind</th><th>values flow into</th><th>used without "
        'values in</th><th>scenarios (runs)</th><th class="num">runs with values out</th></tr>'
        f"{''.join(rows) or '<tr><td colspan=6>No personal information in the catalog.</td></tr>'}"
        "</table></section>"
    )


def _runs_section(runs: list[Run]) -> str:
    rows = "".join(
        f'<tr data-run="{_e(r.id)}"><td>{_e(r.started_at.strftime("%Y-%m-%d %H:%M:%S"))}</td>'
        f"<td>{_e(r.scenario or r.job)}</td><td>{_e(r.user)}</td>"
        f'<td><span class="pill {_e(r.status)}">{_e(r.status)}</span></td>'
        f'<td class="num">{"" if r.row_count is None else r.row_count}</td>'
        f'<td>{_e(r.output_dataset or "")}</td><td class="muted">{_e(r.error or "")}</td></tr>'
        for r in runs
    )
    return (
        '<section id="runs"><h2>Recent runs · 运行记录</h2><table><tr><th>started (UTC)</th>'
        '<th>scenario / job</th><th>user</th><th>status</th><th class="num">rows</th>'
        f"<th>written into</th><th>error</th></tr>{rows}</table></section>"
    )


def _svg_open(layout: Layout, kind: str) -> str:
    w, h = max(layout.width, 200), max(layout.height, 60)
    return (
        f'<svg class="{kind}" xmlns="http://www.w3.org/2000/svg" width="{w:.0f}" height="{h:.0f}" '
        f'viewBox="0 0 {w:.0f} {h:.0f}" role="img">'
    )


def _arrow_marker(kind: str) -> str:
    return (
        f'<defs><marker id="arrow-{kind}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#7b8794"/></marker></defs>'
    )


def _roots(graph: dict[str, Any]) -> list[str]:
    """The inputs worth an impact row: datasets something derives from."""
    return sorted({e["from"] for e in graph["edges"]})[:MAX_GRAPH_NODES]
