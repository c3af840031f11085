"""A process that exits while a fetch thread is still busy stops that thread first.

Fetch threads are daemons (a source that never answers must not hold the process open),
but one stopped by the interpreter's exit inside a driver's native code aborts the
process. Exiting cancels the streams and waits for their threads.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from guajie.api import Session
from guajie.catalog.ledger import Catalog
from guajie.federation import executor

ROWS = 1_200_000  # more than the stream's queue holds, so its thread waits on the reader


def test_exiting_stops_a_stream_its_reader_left_half_read(tmp_path: Path) -> None:
    path = tmp_path / "numbers.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE numbers (n INTEGER NOT NULL)")
        conn.execute(
            "INSERT INTO numbers WITH RECURSIVE c(n) AS "
            f"(SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < {ROWS}) SELECT n FROM c"
        )
    catalog = Catalog.open(str(tmp_path / "ws"))
    catalog.add_source("lite", f"sqlite://{path}")
    catalog.crawl(sample=False)
    result = Session(catalog).execute_unrecorded("SELECT n FROM lite.numbers")
    assert result.plan.residual is None  # one fragment, streamed by its own thread
    first = result.reader.read_next_batch()
    assert 0 < first.num_rows < ROWS
    busy = [s.thread for s in executor._STREAMS if s.thread.is_alive()]
    assert busy

    executor._stop_streams()

    assert not any(thread.is_alive() for thread in busy)
