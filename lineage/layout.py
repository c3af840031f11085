"""A layered layout for lineage graphs, computed in Python so the report needs no script.

Nodes go into layers by their longest path from a source (inputs on the left, what derives
from them to the right); within a layer they are ordered by the barycentre of their
neighbours, sweeping left-to-right and back a few times to reduce crossings. Cycles (a
dataset appended from itself) are broken by ignoring the edges that close them.

>>> placed = layered(["a", "b", "c"], [("a", "c"), ("b", "c")], lambda n: 60)
>>> [placed.nodes[n].layer for n in "abc"]
[0, 0, 1]
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

NODE_HEIGHT = 30
LAYER_GAP = 90
ROW_GAP = 14
MARGIN = 16


@dataclass
class Placed:
    name: str
    layer: int
    x: float = 0.0
    y: float = 0.0
    width: float = 0.0
    height: float = NODE_HEIGHT

    @property
    def right(self) -> tuple[float, float]:
        return self.x + self.width, self.y + self.height / 2

    @property
    def left(self) -> tuple[float, float]:
        return self.x, self.y + self.height / 2


@dataclass
class Layout:
    nodes: dict[str, Placed] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)
    width: float = 0.0
    height: float = 0.0

    def path(self, a: str, b: str) -> str:
        """An SVG path from ``a``'s right side to ``b``'s left side (a smooth S-curve)."""
        x1, y1 = self.nodes[a].right
        x2, y2 = self.nodes[b].left
        if x2 <= x1:  # a back edge (a cycle): loop under the nodes
            low = max(self.nodes[a].y, self.nodes[b].y) + NODE_HEIGHT + 12
            return f"M{x1:.1f},{y1:.1f} C{x1 + 40:.1f},{low:.1f} {x2 - 40:.1f},{low:.1f} {x2:.1f},{y2:.1f}"
        bend = (x2 - x1) / 2
        return f"M{x1:.1f},{y1:.1f} C{x1 + bend:.1f},{y1:.1f} {x2 - bend:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"


def text_width(text: str, size: float = 12.0) -> float:
    """Rough rendered width: wide (CJK) characters take a full em, others about 0.6 em."""
    units = sum(1.0 if unicodedata.east_asian_width(ch) in "WF" else 0.6 for ch in text)
    return units * size


def layered(
    names: Sequence[str],
    edges: Sequence[tuple[str, str]],
    width_of: Callable[[str], float],
    *,
    height_of: Callable[[str], float] | None = None,
    sweeps: int = 4,
) -> Layout:
    """Place ``names`` in layers so every edge points right (except cycle-closing ones)."""
    order = list(dict.fromkeys(names))
    present = set(order)
    succ: dict[str, list[str]] = defaultdict(list)
    pred: dict[str, list[str]] = defaultdict(list)
    kept: list[tuple[str, str]] = []
    for a, b in dict.fromkeys(edges):
        if a in present and b in present and a != b:
            kept.append((a, b))
    forward = _acyclic(order, kept)
    for a, b in forward:
        succ[a].append(b)
        pred[b].append(a)
    layer: dict[str, int] = {}
    for name in _topological(order, succ, pred):
        layer[name] = max((layer[p] + 1 for p in pred[name]), default=0)
    layers: dict[int, list[str]] = defaultdict(list)
    for name in order:
        layers[layer[name]].append(name)
    count = max(layers) + 1 if layers else 0
    # Barycentre sweeps.
    position = {n: float(i) for rank in layers.values() for i, n in enumerate(rank)}
    for sweep in range(sweeps):
        ranks = range(1, count) if sweep % 2 == 0 else range(count - 2, -1, -1)
        for r in ranks:
            neighbours = pred if sweep % 2 == 0 else succ

            def centre(n: str, nb: dict[str, list[str]] = neighbours) -> float:
                around = [position[m] for m in nb[n]]
                return sum(around) / len(around) if around else position[n]

            layers[r].sort(key=lambda n: (centre(n), position[n]))
            for i, n in enumerate(layers[r]):
                position[n] = float(i)

    # Coordinates: columns as wide as their widest node, layers centred on the tallest.
    def height(n: str) -> float:
        return height_of(n) if height_of is not None else NODE_HEIGHT

    out = Layout(edges=kept)
    spans = {r: sum(height(n) for n in layers[r]) + ROW_GAP * (len(layers[r]) - 1) for r in layers}
    full = max(spans.values(), default=0.0)
    x = float(MARGIN)
    for r in range(count):
        rank = layers[r]
        column_width = max(width_of(n) for n in rank)
        y = MARGIN + (full - spans[r]) / 2
        for n in rank:
            out.nodes[n] = Placed(n, r, x, y, column_width, height(n))
            y += height(n) + ROW_GAP
        x += column_width + LAYER_GAP
    out.width = x - LAYER_GAP + MARGIN if count else 2 * MARGIN
    # Room below for the loops of cycle-closing edges.
    out.height = full + 2 * MARGIN + (NODE_HEIGHT if len(kept) > len(forward) else 0)
    return out


def _acyclic(order: list[str], edges: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The edges minus those that close a cycle (found by depth-first search)."""
    succ: dict[str, list[str]] = defaultdict(list)
    for a, b in edges:
        succ[a].append(b)
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    back: set[tuple[str, str]] = set()
    for root in order:
        if root in state:
            continue
        stack = [(root, iter(succ[root]))]
        state[root] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
            elif state.get(child) == 1:
                back.add((node, child))
            elif child not in state:
                state[child] = 1
                stack.append((child, iter(succ[child])))
    return [e for e in edges if e not in back]


def _topological(
    order: list[str], succ: dict[str, list[str]], pred: dict[str, list[str]]
) -> list[str]:
    remaining = {n: len(pred[n]) for n in order}
    ready = [n for n in order if remaining[n] == 0]
    out: list[str] = []
    while ready:
        n = ready.pop(0)
        out.append(n)
        for m in succ[n]:
            remaining[m] -= 1
            if remaining[m] == 0:
                ready.append(m)
    return out
