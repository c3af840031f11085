"""Run the development servers (PostgreSQL, MariaDB, S3) until Ctrl-C.

    python scripts/services.py                 # all three
    python scripts/services.py --skip mariadb  # leave one out
    python scripts/services.py --http-dir out/ --env-file .services.env

Prints the URLs and ``export`` lines for the passwords and endpoints; ``--env-file`` writes
the same lines to a file for ``source`` in another shell. Every server runs on a free loopback
port with a throw-away data directory, and all of it is gone after Ctrl-C.
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
from typing import Any, Protocol, TypeVar

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.servers import (  # noqa: E402 - needs the repository root on sys.path
    HttpFileServer,
    MariaDBServer,
    PostgresServer,
    S3Server,
)

SERVICES = ("postgres", "mariadb", "s3")


class _Stop(Exception):
    """Raised from the SIGTERM/SIGHUP handler to leave the wait loop."""


def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--skip", action="append", choices=SERVICES, default=[], help="do not start this server"
    )
    parser.add_argument("--http-dir", type=Path, help="also serve this directory over HTTP")
    parser.add_argument("--env-file", type=Path, help="also write the export lines here")
    return parser.parse_args(argv)


def _export_lines(env: dict[str, str]) -> list[str]:
    return [f"export {name}={shlex.quote(value)}" for name, value in env.items()]


def _describe_postgres(server: PostgresServer) -> tuple[list[str], dict[str, str]]:
    lines = [
        f"PostgreSQL  {server.url}",
        f"  password  ${server.env_var_name}",
        f'  psql      PGPASSWORD="${server.env_var_name}" psql "{server.url}"',
        f'  admin     psql "{server.admin_conninfo}"',
        f"  log       {server.log_path}",
    ]
    return lines, server.env()


def _describe_mariadb(server: MariaDBServer) -> tuple[list[str], dict[str, str]]:
    lines = [
        f"MariaDB     {server.url}",
        f"  password  ${server.env_var_name}",
        f"  client    mariadb -h {server.host} -P {server.port} -u {server.user}"
        f' -p"${server.env_var_name}" {server.database}',
        f"  admin     mariadb --socket={server.socket_path} -u root",
        f"  log       {server.log_path}",
    ]
    return lines, server.env()


def _describe_s3(server: S3Server) -> tuple[list[str], dict[str, str]]:
    env = server.env()
    env["GUAJIE_TEST_S3_ENDPOINT"] = server.endpoint_url
    lines = [
        f"S3 (moto)   {server.endpoint_url}",
        f"  keys      {server.access_key} / {server.secret_key} (region {server.region})",
        f"  log       {server.log_path}",
    ]
    return lines, env


def _describe_http(server: HttpFileServer) -> tuple[list[str], dict[str, str]]:
    lines = [f"HTTP files  {server.base_url}  ({server.root_dir})"]
    return lines, {"GUAJIE_TEST_HTTP_URL": server.base_url}


class _Server(Protocol):
    def start(self) -> Any: ...
    def stop(self) -> None: ...
    def is_running(self) -> bool: ...


S = TypeVar("S", bound=_Server)


class _Session:
    """The servers started so far, their descriptions and their environment."""

    def __init__(self) -> None:
        self.servers: list[tuple[str, _Server]] = []
        self.lines: list[str] = []
        self.env: dict[str, str] = {}

    def launch(self, name: str, server: S) -> S:
        began = time.monotonic()
        self.servers.append((name, server))
        server.start()
        print(f"started {name} in {time.monotonic() - began:.1f}s", file=sys.stderr, flush=True)
        return server

    def describe(self, description: tuple[list[str], dict[str, str]]) -> None:
        lines, env = description
        self.lines += lines
        self.env.update(env)

    def stop_all(self) -> None:
        for _, server in reversed(self.servers):
            server.stop()

    def wait(self) -> int:
        """Sleep until a server dies (exit status 1) or a signal ends the wait."""
        while True:
            for name, server in self.servers:
                if not server.is_running():
                    print(f"{name} stopped unexpectedly", file=sys.stderr)
                    log = getattr(server, "log_path", None)
                    if log is not None and log.exists():
                        print("\n".join(log.read_text().splitlines()[-20:]), file=sys.stderr)
                    return 1
            time.sleep(1)


def _start_all(args: argparse.Namespace, session: _Session) -> None:
    if "postgres" not in args.skip:
        session.describe(_describe_postgres(session.launch("postgres", PostgresServer())))
    if "mariadb" not in args.skip:
        session.describe(_describe_mariadb(session.launch("mariadb", MariaDBServer())))
    if "s3" not in args.skip:
        session.describe(_describe_s3(session.launch("s3", S3Server())))
    if args.http_dir is not None:
        session.describe(_describe_http(session.launch("http", HttpFileServer(args.http_dir))))


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    session = _Session()
    try:
        _start_all(args, session)
        exports = _export_lines(session.env)
        print("\n".join(session.lines), "", *exports, "", sep="\n", flush=True)
        if args.env_file is not None:
            args.env_file.write_text("\n".join(exports) + "\n")
            print(f"(export lines also in {args.env_file})", flush=True)
        print("Press Ctrl-C to stop.", flush=True)
        return session.wait()
    except (KeyboardInterrupt, _Stop):
        print("\nstopping ...", file=sys.stderr)
        return 0
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        session.stop_all()
        if args.env_file is not None:
            args.env_file.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
