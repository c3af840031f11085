"""Fetch Trino from Maven Central and run a single node for manual work.

    python scripts/trino.py fetch              # into ~/.cache/guajie/trino-<version> (once)
    python scripts/trino.py start              # a free loopback port; runs until Ctrl-C
    python scripts/trino.py start --port 8080 --heap 4G --env-file .trino.env
    python scripts/trino.py info               # version, cache, Java

The release is pinned in ``tests/support/trino_server.py`` (``TRINO_VERSION``). ``start``
prints ``export GUAJIE_TRINO_URL=...`` for guajie; then ``guajie trino sync`` creates one
catalog per source. Trino resolves ``${ENV:VAR}`` in catalog properties from its own
environment, which is this shell's: export the sources' password variables (``make services``
prints them) before starting. Catalogs live as long as the server; sync again after a restart.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.trino_server import (  # noqa: E402 - needs the repository root on sys.path
    DEFAULT_HEAP,
    TRINO_VERSION,
    TrinoServer,
    find_java,
    install_dir,
    install_trino,
    is_installed,
)


class _Stop(Exception):
    """Raised from the SIGTERM/SIGHUP handler to leave the wait loop."""


def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def _say(text: str) -> None:
    print(f"trino: {text}", file=sys.stderr, flush=True)


def cmd_fetch(args: argparse.Namespace) -> int:
    started = time.monotonic()
    report = install_trino(progress=_say)
    if report.fetched:
        print(
            f"Trino {TRINO_VERSION} ({report.distribution} distribution) in {report.path}: "
            f"{report.downloaded_bytes / 1e6:.0f} MB downloaded in {report.download_seconds:.1f} s, "
            f"unpacked in {report.unpack_seconds:.1f} s."
        )
    else:
        print(
            f"Trino {TRINO_VERSION} is already in {report.path} ({time.monotonic() - started:.2f} s)."
        )
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    print(f"version  {TRINO_VERSION}")
    print(f"cache    {install_dir()} ({'installed' if is_installed() else 'not fetched yet'})")
    try:
        print(f"java     {find_java()}")
    except RuntimeError as exc:
        print(f"java     missing: {exc}")
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    server = TrinoServer(port=args.port, heap=args.heap, query_memory=args.query_memory)
    started = time.monotonic()
    try:
        server.start()
    except RuntimeError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    export = f"export GUAJIE_TRINO_URL={shlex.quote(server.url)}"
    print(f"Trino {TRINO_VERSION} is up at {server.url} ({time.monotonic() - started:.1f} s).")
    print(export)
    print('Next: guajie trino sync   (then: guajie query --engine trino "SELECT ...")')
    print(f"Server log: {server.log_path}. Ctrl-C stops it and removes its directory.")
    if args.env_file:
        args.env_file.write_text(export + "\n")
    sys.stdout.flush()
    try:
        while server.is_running():
            time.sleep(1)
        print("Trino exited; see the log above.", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, _Stop):
        print("\nStopping Trino.", file=sys.stderr)
        return 0
    finally:
        server.stop()
        if args.env_file:
            args.env_file.unlink(missing_ok=True)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("fetch", help="fetch Trino into the cache (once)").set_defaults(run=cmd_fetch)
    sub.add_parser("info", help="show the pinned version, the cache and Java").set_defaults(
        run=cmd_info
    )
    start = sub.add_parser("start", help="run a single node until Ctrl-C")
    start.add_argument("--port", type=int, default=0, help="loopback port (default: a free one)")
    start.add_argument("--heap", default=DEFAULT_HEAP, help=f"JVM -Xmx (default {DEFAULT_HEAP})")
    start.add_argument("--query-memory", default="1GB", help="memory per query (default 1GB)")
    start.add_argument("--env-file", type=Path, help="also write the export line here")
    start.set_defaults(run=cmd_start)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
