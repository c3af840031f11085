"""A bounded pool of sessions: a Session is not thread-safe, so each request borrows one.

Every session holds its own catalog-store connection; the pool's size bounds how many
queries run at once, the rest wait for a free session (up to the query time limit).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from guajie.api import Session
from guajie.catalog.errors import GuajieError
from guajie.catalog.ledger import Catalog


class Busy(GuajieError):
    """No session became free in time (HTTP 503)."""


class SessionPool:
    def __init__(self, home: str, size: int, **options: Any) -> None:
        self.home = home
        self.size = size
        self.options = options
        self._idle: queue.LifoQueue[Session] = queue.LifoQueue()
        self._lock = threading.Lock()
        self._opened = 0
        self._closed = False

    @contextmanager
    def session(self, wait: float | None = None) -> Iterator[Session]:
        session = self._take(wait)
        healthy = True
        try:
            yield session
        except GuajieError:
            raise
        except BaseException:
            # After an unexpected failure (a lost store connection, say) the session is
            # closed rather than handed out again.
            healthy = False
            raise
        finally:
            self._give_back(session, healthy)

    def _take(self, wait: float | None) -> Session:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            if self._opened < self.size:
                self._opened += 1
                try:
                    return Session(Catalog.open(self.home), client="http", **self.options)
                except BaseException:
                    self._opened -= 1
                    raise
        try:
            return self._idle.get(timeout=wait)
        except queue.Empty:
            raise Busy(
                f"All {self.size} query sessions stayed busy for {wait:g} s.",
                "Try again later, or start the service with more --sessions.",
            ) from None

    def _give_back(self, session: Session, healthy: bool) -> None:
        if healthy and not self._closed:
            self._idle.put(session)
            return
        with self._lock:
            self._opened -= 1
        session.close()

    def close(self) -> None:
        self._closed = True
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return
