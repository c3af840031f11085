"""guajie (挂接): a data catalog and logical-aggregation federation layer for city data.

>>> import guajie
>>> catalog = guajie.open_catalog("/tmp/ws")  # doctest: +SKIP
>>> [s.name for s in catalog.sources()]  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    from guajie.api import Session
    from guajie.catalog.ledger import Catalog


def open_catalog(home: str | None = None) -> Catalog:
    """Open the ledger of a workspace (``--home``, ``GUAJIE_HOME`` or ``./.guajie``)."""
    from guajie.catalog.ledger import Catalog

    return Catalog.open(home)


def connect(home: str | None = None, **options: object) -> Session:
    """A session for federated SQL over a workspace's catalog (see :mod:`guajie.api`)."""
    from guajie.api import connect as _connect

    return _connect(home, **options)
