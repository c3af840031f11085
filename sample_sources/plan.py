"""How big the sample city is and how its random streams are laid out.

The city is cut into blocks of 500 enterprises. Every department derives its rows for block
``k`` from its own stream seeded by ``(seed, department, k)``, so:

* output is byte-identical for the same seed and scale, whatever the consumer;
* a table can be regenerated on its own (for loading into one server) without replaying the
  others, and memory stays bounded by one block at any scale;
* cross-department keys line up, because each department re-derives block ``k``'s
  enterprises from the same enterprise stream.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from random import Random

from .identifiers import MAX_ENTERPRISES

DEFAULT_SEED = 20240601
BLOCK_SIZE = 500

ENTERPRISES_PER_SCALE = 2_000
RECIPIENTS_PER_SCALE = 2_000
LOTS_PER_SCALE = 50
EVENTS_PER_SCALE = 20_000
MAX_SCALE = MAX_ENTERPRISES / ENTERPRISES_PER_SCALE


@dataclass(frozen=True)
class CityPlan:
    """Row budgets for one ``(scale, seed)`` and the block layout that realises them."""

    scale: float
    seed: int
    enterprises: int
    recipients: int
    lots: int
    events: int  # expected parking events; the realised count varies around it

    @classmethod
    def create(cls, scale: float = 1.0, seed: int = DEFAULT_SEED) -> CityPlan:
        if not (isinstance(scale, int | float) and 0 < scale <= MAX_SCALE):
            raise ValueError(f"scale must be in (0, {MAX_SCALE:g}], got {scale!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError("seed must be an int")
        return cls(
            scale=float(scale),
            seed=seed,
            enterprises=max(1, round(ENTERPRISES_PER_SCALE * scale)),
            recipients=max(1, round(RECIPIENTS_PER_SCALE * scale)),
            lots=max(1, round(LOTS_PER_SCALE * scale)),
            events=round(EVENTS_PER_SCALE * scale),
        )

    @property
    def blocks(self) -> int:
        return math.ceil(self.enterprises / BLOCK_SIZE)

    def block_ids(self) -> Iterator[int]:
        return iter(range(self.blocks))

    def enterprise_range(self, block: int) -> range:
        return range(block * BLOCK_SIZE, min((block + 1) * BLOCK_SIZE, self.enterprises))

    def recipient_range(self, block: int) -> range:
        return self._share(self.recipients, block)

    def lot_range(self, block: int) -> range:
        return self._share(self.lots, block)

    def _share(self, total: int, block: int) -> range:
        n = self.blocks
        return range(total * block // n, total * (block + 1) // n)

    def rng(self, stream: str, block: int) -> Random:
        """The random stream of one department for one block (string seeds hash stably)."""
        return Random(f"{self.seed}/{stream}/{block}")
