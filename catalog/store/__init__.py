"""The catalog store: an embedded SQLite file by default, PostgreSQL for shared deployments.

Records are kept as validated JSON documents keyed by name, so both backends share every
statement; only connection set-up, placeholders and write locking differ
(:mod:`.backends`). Every write runs in one exclusive transaction, so two processes
writing at once serialize instead of losing each other's changes.
"""

from .backends import open_backend
from .store import CatalogStore, Txn

__all__ = ["CatalogStore", "Txn", "open_backend"]
