"""Choosing between a plan and its pulled alternative by what runs measured.

Whether a source should join and aggregate its own tables, or send them (sliced, in
parallel) for the local engine to combine, depends on its link and its load, which no
catalog statistic tells. The planner makes both plans (see ``Plan.pulled``); this module
keeps, per process, what fetches and runs measured and picks:

- the pushed plan until it has run once;
- the pulled one twice, where its estimated bytes over the source's observed fetch rate
  take less time than the pushed run did (on a slow link it never runs);
- from then on the faster of the two, by their recent runs.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

from guajie.catalog.lru import LruCache

from .plan import Plan

# Fetches smaller than this say more about round trips than about the link.
RATE_MIN_BYTES = 1_000_000
RECENT = 3  # runs remembered per plan variant
# Large fetches remembered per source. A fetch's time includes the source's own work, so
# one that waited on a busy source understates the link: the fastest of a longer memory
# is steadier. A link that really became slower costs at most a few exploring runs.
LINK_MEMORY = 8
RECHECK_AFTER = 20  # runs of one variant in a row before the other is measured again
# Runs of the pulled variant before the two are compared: its first run also opens
# connections and warms caches that the pushed runs had already warmed.
EXPLORE_RUNS = 2


class LinkRates:
    """Bytes per second that large fetches from each source reached (a lower bound of
    what its link carries: the source's own work is in the time too)."""

    def __init__(self) -> None:
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def observe(self, source: str, nbytes: int, seconds: float) -> None:
        if nbytes < RATE_MIN_BYTES or seconds <= 0:
            return
        with self._lock:
            self._seen.setdefault(source, deque(maxlen=LINK_MEMORY)).append(nbytes / seconds)

    def rate(self, source: str) -> float | None:
        with self._lock:
            seen = self._seen.get(source)
            return max(seen) if seen else None


@dataclass
class _Runs:
    pushed: deque[float] = field(default_factory=lambda: deque(maxlen=RECENT))
    pulled: deque[float] = field(default_factory=lambda: deque(maxlen=RECENT))
    last: str = ""  # the variant that ran last
    in_a_row: int = 0  # its runs since the other one ran


class PlanChoices:
    """Recent run times of each plan's two variants, and the choice they lead to."""

    def __init__(self, links: LinkRates, size: int = 256) -> None:
        self.links = links
        self._runs: LruCache[tuple[object, ...], _Runs] = LruCache(size)
        self._lock = threading.Lock()

    def choose(self, plan: Plan) -> Plan:
        if plan.pulled is None:
            return plan
        with self._lock:  # runs of the same plan may be recorded meanwhile
            return self._choose(plan, plan.pulled)

    def _choose(self, plan: Plan, pulled: Plan) -> Plan:
        runs = self._runs.get(_key(plan))
        if runs is None or not runs.pushed:
            return plan
        if len(runs.pulled) < EXPLORE_RUNS:
            far_slower = runs.pulled and min(runs.pulled) > 2 * min(runs.pushed)
            if far_slower and runs.in_a_row < RECHECK_AFTER:
                return plan  # far slower at once: not worth a second look soon
            return pulled if self._affordable(plan, pulled, min(runs.pushed)) else plan
        faster_pulled = min(runs.pulled) < min(runs.pushed)
        if runs.in_a_row >= RECHECK_AFTER and (
            faster_pulled or self._affordable(plan, pulled, min(runs.pushed))
        ):
            # Loads and links change: now and then the other variant is measured again.
            faster_pulled = not faster_pulled
        return pulled if faster_pulled else plan

    def record(self, plan: Plan, ran: Plan, seconds: float) -> None:
        """``ran`` (``plan`` or its pulled alternative) answered in ``seconds``."""
        if plan.pulled is None:
            return
        key = _key(plan)
        with self._lock:
            runs = self._runs.get(key)
            if runs is None:
                runs = _Runs()
                self._runs.put(key, runs)
            variant = "pulled" if ran is plan.pulled else "pushed"
            (runs.pulled if variant == "pulled" else runs.pushed).append(seconds)
            runs.in_a_row = runs.in_a_row + 1 if variant == runs.last else 1
            runs.last = variant

    def _affordable(self, plan: Plan, pulled: Plan, pushed_seconds: float) -> bool:
        """Whether the SQL fetches only the pulled plan makes could take less time than
        the pushed run took."""
        seconds = 0.0
        for source, nbytes in pulled.estimated_bytes_by_source(unlike=plan).items():
            rate = self.links.rate(source)
            if rate is None:
                return False  # a link never measured may be slow: move the few rows
            seconds += nbytes / rate
        return seconds < pushed_seconds


def _key(plan: Plan) -> tuple[object, ...]:
    return (plan.sql, tuple(plan.datasets))


LINKS = LinkRates()
CHOICES = PlanChoices(LINKS)
