"""Trino as a second engine: catalogs synced from the ledger, the same SQL, Arrow answers.

* :mod:`.sync` — one Trino catalog per source (``guajie trino sync``).
* :mod:`.engine` — :class:`TrinoEngine`: the embedded engine's front end, then Trino.
* :mod:`.settings` — where the cluster is (``trino:`` in ``guajie.yaml``).
* :mod:`.errors` — failures that name the server or the source and say what to do.
"""

from .engine import TrinoEngine, TrinoExplain, TrinoQuery, TrinoResult
from .errors import (
    NotServedError,
    TrinoAuthError,
    TrinoCatalogError,
    TrinoConfigError,
    TrinoError,
    TrinoQueryError,
    TrinoUnreachableError,
)
from .settings import TrinoSettings, load_settings
from .sync import SyncReport, plan_sync, sync_catalogs

__all__ = [
    "NotServedError",
    "SyncReport",
    "TrinoAuthError",
    "TrinoCatalogError",
    "TrinoConfigError",
    "TrinoEngine",
    "TrinoError",
    "TrinoExplain",
    "TrinoQuery",
    "TrinoQueryError",
    "TrinoResult",
    "TrinoSettings",
    "TrinoUnreachableError",
    "load_settings",
    "plan_sync",
    "sync_catalogs",
]
