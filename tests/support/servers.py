"""Real database, object-store and HTTP servers for tests and manual work.

Every server listens on a free loopback port and keeps its data in a throw-away temporary
directory that ``stop()`` deletes. Each class is a context manager, ``start()`` returns the
server itself, and every started server is also stopped by an ``atexit`` hook. Child processes
get a parent-death signal, so a test session that is killed outright does not leave servers
behind; a directory left over from such a session is removed by the next ``start()``.

A server that cannot start raises ``RuntimeError`` naming the server, the command and the tail
of its log: a missing server is a failure, never a skip.

* ``PostgresServer``: PostgreSQL 15 from ``/usr/lib/postgresql/15/bin`` (Debian's
  ``postgresql-15``), run as the ``postgres`` system user when started as root. SCRAM password
  auth over TCP for the role ``user``; trust over the private unix socket for the superuser
  ``postgres`` (``admin_conninfo``).
* ``MariaDBServer``: ``mariadbd`` from Debian's ``mariadb-server``, run as ``mysql`` when
  started as root. Real grants for ``user``@``%``/``127.0.0.1``/``localhost``; the passwordless
  ``root`` account is reachable only through the private unix socket (``admin_connect_kwargs``).
* ``S3Server``: moto's S3-compatible server (``python -m moto.server``).
* ``HttpFileServer``: a static file server with HEAD, ``Content-Length`` and single byte-range
  support, enough for ``fsspec``'s ``HTTPFileSystem`` to read Parquet footers.

``scripts/install-system-deps.sh`` installs the system packages.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import functools
import http.server
import importlib.util
import os
import pwd
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any, ClassVar, Self

LOOPBACK = "127.0.0.1"
DEFAULT_STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0
PG_BIN_DIR = Path(os.environ.get("GUAJIE_PG_BIN_DIR", "/usr/lib/postgresql/15/bin"))
TEMP_PREFIX = "guajie-srv-"
_OWNER_FILE = "owner.pid"
_PORT_ATTEMPTS = 3
_LOG_TAIL_LINES = 40
_INSTALL_HINT = "run scripts/install-system-deps.sh"
# Loopback requests must never go through an HTTP proxy from the environment.
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# --------------------------------------------------------------------------------------------
# Small helpers


def free_port(host: str = LOOPBACK) -> int:
    """Return a TCP port on ``host`` that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _new_password() -> str:
    return "pw-" + secrets.token_hex(12)


def _log_tail(path: Path | None, lines: int = _LOG_TAIL_LINES) -> str:
    if path is None or not path.exists():
        return "(no log)"
    text = path.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:]) or "(log is empty)"


def _start_error(server: str, argv: list[str], log: Path | None, reason: str) -> RuntimeError:
    return RuntimeError(
        f"{server} failed to start: {reason}\n"
        f"command: {shlex.join(argv)}\n"
        f"log ({log}):\n{_log_tail(log)}"
    )


def _port_in_use(log: Path) -> bool:
    text = _log_tail(log, 200).lower()
    return "address already in use" in text or "errno 98" in text


class _PortInUse(Exception):
    """The server lost the race for its port; start again on another one."""

    def __init__(self, error: RuntimeError) -> None:
        super().__init__(str(error))
        self.error = error


def _require_executable(server: str, path: Path, hint: str) -> None:
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise RuntimeError(f"{server}: {path} not found or not executable; {hint}")


def _require_module(server: str, module: str, pip_name: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise RuntimeError(
            f"{server}: Python module {module!r} is missing from {sys.executable}; "
            f"pip install {pip_name!r}"
        )


# --------------------------------------------------------------------------------------------
# Processes: run as a system user, parent-death signal, clean stop


@dataclass(frozen=True)
class _RunAs:
    """The system account a server runs as (only switched to when we are root)."""

    name: str | None
    uid: int
    gid: int

    @classmethod
    def for_user(cls, name: str) -> _RunAs:
        if os.geteuid() != 0:
            return cls(None, os.getuid(), os.getgid())
        try:
            entry = pwd.getpwnam(name)
        except KeyError as exc:
            raise RuntimeError(
                f"system user {name!r} does not exist; run scripts/install-system-deps.sh"
            ) from exc
        return cls(name, entry.pw_uid, entry.pw_gid)

    def popen_kwargs(self) -> dict[str, Any]:
        if self.name is None:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def chown(self, path: Path) -> None:
        if self.name is not None:
            os.chown(path, self.uid, self.gid)


_LIBC: Any = None
_PR_SET_PDEATHSIG = 1


def _pdeathsig_preexec(sig: signal.Signals) -> Callable[[], None] | None:
    """A ``preexec_fn`` asking Linux to send ``sig`` to the child when its parent dies.

    Popen applies ``user=``/``group=`` before ``preexec_fn``, so the setting survives the
    switch of credentials. It fires when the *thread* that started the child exits: start
    servers from the main thread (pytest fixtures do).
    """
    global _LIBC
    if not sys.platform.startswith("linux"):
        return None
    if _LIBC is None:
        _LIBC = ctypes.CDLL(None, use_errno=True)
    libc = _LIBC

    def preexec() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)

    return preexec


def _spawn(
    argv: list[str],
    log: Path,
    run_as: _RunAs,
    death_signal: signal.Signals,
    cwd: Path,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:  # one log per launch attempt
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            start_new_session=True,
            preexec_fn=_pdeathsig_preexec(death_signal),
            **run_as.popen_kwargs(),
        )


def _run_once(server: str, argv: list[str], log: Path, run_as: _RunAs, cwd: Path) -> None:
    """Run a set-up command (initdb, mariadb-install-db) to completion or raise."""
    with log.open("ab") as out:
        try:
            proc = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                timeout=120,
                check=False,
                **run_as.popen_kwargs(),
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise _start_error(server, argv, log, repr(exc)) from exc
    if proc.returncode != 0:
        raise _start_error(server, argv, log, f"exit status {proc.returncode}")


def _terminate(proc: subprocess.Popen[bytes] | None, sig: signal.Signals) -> None:
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(sig)
    try:
        proc.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait(STOP_TIMEOUT)


def _wait_until(
    server: str,
    argv: list[str],
    log: Path,
    proc: subprocess.Popen[bytes],
    ready: Callable[[], bool],
    timeout: float,
) -> None:
    """Poll ``ready()`` until it is true; fail fast if the process dies."""
    deadline = time.monotonic() + timeout
    while True:
        code = proc.poll()
        if code is not None:
            if _port_in_use(log):
                raise _PortInUse(_start_error(server, argv, log, "port already in use"))
            raise _start_error(server, argv, log, f"process exited with status {code}")
        if ready():
            return
        if time.monotonic() > deadline:
            _terminate(proc, signal.SIGKILL)
            raise _start_error(server, argv, log, f"not accepting connections after {timeout}s")
        time.sleep(0.1)


# --------------------------------------------------------------------------------------------
# Temporary directories, left-over clean-up and atexit


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _pids_using(directory: Path) -> Iterator[int]:
    """Processes whose command line names ``directory`` or whose working directory it is."""
    prefix = str(directory)
    needle = prefix.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            cwd = os.readlink(entry / "cwd")
            if cwd == prefix or cwd.startswith(prefix + "/"):
                yield int(entry.name)
                continue
        with contextlib.suppress(OSError):
            if needle in (entry / "cmdline").read_bytes():
                yield int(entry.name)


def _reap_stale_dirs() -> None:
    """Remove server directories (and their servers) whose owning process is gone."""
    for path in Path(tempfile.gettempdir()).glob(TEMP_PREFIX + "*"):
        try:
            owner = int((path / _OWNER_FILE).read_text().strip())
        except (OSError, ValueError):
            continue
        if _pid_alive(owner):
            continue
        for pid in _pids_using(path):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(path, ignore_errors=True)


_reaped = False


def _make_base_dir(kind: str, run_as: _RunAs) -> Path:
    global _reaped
    if not _reaped:
        _reaped = True
        _reap_stale_dirs()
    base = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{kind}-"))
    (base / _OWNER_FILE).write_text(f"{os.getpid()}\n")
    run_as.chown(base)
    return base


_live: dict[int, Callable[[], None]] = {}
_live_lock = threading.Lock()


def _stop_all() -> None:
    with _live_lock:
        stoppers = list(_live.values())
    for stop in stoppers:
        with contextlib.suppress(Exception):
            stop()


atexit.register(_stop_all)


class _ManagedServer:
    """Context-manager protocol and atexit registration shared by all servers."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def is_running(self) -> bool:
        raise NotImplementedError

    def _register(self) -> None:
        with _live_lock:
            _live[id(self)] = self.stop

    def _unregister(self) -> None:
        with _live_lock:
            _live.pop(id(self), None)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _start_with_port_retries(fixed_port: bool, attempt: Callable[[], None]) -> None:
    """Run ``attempt``; when a chosen port was taken meanwhile, try again on a new one."""
    for remaining in reversed(range(1 if fixed_port else _PORT_ATTEMPTS)):
        try:
            attempt()
            return
        except _PortInUse as exc:
            if remaining == 0:
                raise exc.error from None


class _ProcessServer(_ManagedServer):
    """Start/stop shared by the servers that run as a child process with a temp directory.

    Subclasses are dataclasses with the fields annotated here and fill in the hooks.
    """

    NAME: ClassVar[str]
    KIND: ClassVar[str]
    LOG_NAME: ClassVar[str]
    STOP_SIGNAL: ClassVar[signal.Signals] = signal.SIGTERM

    host: str
    port: int
    startup_timeout: float
    base_dir: Path | None
    _proc: subprocess.Popen[bytes] | None
    _fixed_port: bool

    @property
    def log_path(self) -> Path:
        return self._base() / self.LOG_NAME

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> Self:
        if self._proc is not None:
            return self
        self._check_installed()
        self._fixed_port = self.port != 0
        run_as = self._run_as()
        self._register()
        try:
            self.base_dir = _make_base_dir(self.KIND, run_as)
            self._prepare(run_as)
            _start_with_port_retries(self._fixed_port, lambda: self._launch(run_as))
            self._provision()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        _terminate(self._proc, self.STOP_SIGNAL)
        self._proc = None
        if self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self.base_dir = None
        if not self._fixed_port:
            self.port = 0
        self._unregister()

    def _base(self) -> Path:
        if self.base_dir is None:
            raise RuntimeError(f"{self.NAME} server is not started")
        return self.base_dir

    def _launch(self, run_as: _RunAs) -> None:
        if not self._fixed_port:
            self.port = free_port(self.host)
        argv = self._argv()
        # The stop signal doubles as the parent-death signal.
        self._proc = _spawn(
            argv, self.log_path, run_as, self.STOP_SIGNAL, self._base(), self._env()
        )
        _wait_until(self.NAME, argv, self.log_path, self._proc, self._ready, self.startup_timeout)

    # Hooks -------------------------------------------------------------------------------

    def _check_installed(self) -> None:
        """Raise ``RuntimeError`` if the server software is missing."""

    def _run_as(self) -> _RunAs:
        return _RunAs(None, os.getuid(), os.getgid())

    def _prepare(self, run_as: _RunAs) -> None:
        """Initialise the data directory (before each launch attempt's port is chosen)."""

    def _argv(self) -> list[str]:
        raise NotImplementedError

    def _env(self) -> dict[str, str] | None:
        return None

    def _ready(self) -> bool:
        raise NotImplementedError

    def _provision(self) -> None:
        """Create users, databases, ... once the server accepts connections."""


# --------------------------------------------------------------------------------------------
# PostgreSQL


def _libpq_quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def _conninfo(**params: object) -> str:
    return " ".join(f"{key}={_libpq_quote(str(value))}" for key, value in params.items())


@dataclass
class PostgresServer(_ProcessServer):
    """A throw-away PostgreSQL 15 cluster on a free loopback port."""

    host: str = LOOPBACK
    port: int = 0
    user: str = "guajie"
    password: str = field(default_factory=_new_password, repr=False)
    database: str = "guajie"
    env_var_name: str = "GUAJIE_TEST_PG_PASSWORD"
    startup_timeout: float = DEFAULT_STARTUP_TIMEOUT
    bin_dir: Path = PG_BIN_DIR
    system_user: str = "postgres"
    shared_buffers: str = "128MB"
    base_dir: Path | None = field(default=None, init=False)
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _fixed_port: bool = field(default=False, init=False, repr=False)

    NAME = "PostgreSQL"
    KIND = "pg"
    LOG_NAME = "postgres.log"
    # SIGINT is PostgreSQL's "fast" shutdown: it does not wait for clients to disconnect.
    STOP_SIGNAL = signal.SIGINT
    SUPERUSER = "postgres"

    @property
    def url(self) -> str:
        """``postgresql://user@host:port/db``; the password is not in it (see ``env()``)."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"

    @property
    def conninfo(self) -> str:
        """A libpq connection string with the password, for ``psycopg.connect``."""
        return _conninfo(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=self.database,
            connect_timeout=10,
        )

    @property
    def socket_dir(self) -> Path:
        return self._base() / "sock"

    @property
    def admin_conninfo(self) -> str:
        """Superuser ``postgres`` over the private unix socket (trust auth)."""
        return _conninfo(
            host=self.socket_dir,
            port=self.port,
            user=self.SUPERUSER,
            dbname="postgres",
            connect_timeout=5,
        )

    def env(self) -> dict[str, str]:
        """Environment variables a configuration can take the password from."""
        return {self.env_var_name: self.password}

    def connect(self, *, admin: bool = False, autocommit: bool = True) -> Any:
        """A psycopg connection as ``user`` (or as the superuser with ``admin=True``)."""
        import psycopg

        info = self.admin_conninfo if admin else self.conninfo
        return psycopg.connect(info, autocommit=autocommit)

    def _check_installed(self) -> None:
        for name in ("initdb", "postgres"):
            _require_executable(self.NAME, self.bin_dir / name, _INSTALL_HINT)
        _require_module(self.NAME, "psycopg", "psycopg[binary]")

    def _run_as(self) -> _RunAs:
        return _RunAs.for_user(self.system_user)

    def _prepare(self, run_as: _RunAs) -> None:
        base = self._base()
        sock = base / "sock"
        sock.mkdir()
        run_as.chown(sock)
        argv = [
            str(self.bin_dir / "initdb"),
            f"--pgdata={base / 'data'}",
            f"--username={self.SUPERUSER}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
            "--no-instructions",
        ]
        _run_once(self.NAME, argv, base / "initdb.log", run_as, base)

    def _argv(self) -> list[str]:
        base = self._base()
        settings = {
            "listen_addresses": self.host,
            "unix_socket_directories": str(base / "sock"),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "shared_buffers": self.shared_buffers,
            "max_connections": "100",
            "wal_level": "minimal",
            "max_wal_senders": "0",
            "jit": "off",
            "password_encryption": "scram-sha-256",
            "logging_collector": "off",
        }
        argv = [str(self.bin_dir / "postgres"), "-D", str(base / "data"), "-p", str(self.port)]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        return argv

    def _ready(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(self.admin_conninfo, connect_timeout=2) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    def _provision(self) -> None:
        from psycopg import sql

        with self.connect(admin=True) as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN CREATEDB PASSWORD {}").format(
                    sql.Identifier(self.user), sql.Literal(self.password)
                )
            )
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(self.database), sql.Identifier(self.user)
                )
            )
        # Prove that password (SCRAM) login over TCP works before handing the server out.
        with self.connect() as conn:
            conn.execute("SELECT 1")


# --------------------------------------------------------------------------------------------
# MariaDB


def _mysql_str(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def _mysql_ident(value: str) -> str:
    return "`" + value.replace("`", "``") + "`"


@dataclass
class MariaDBServer(_ProcessServer):
    """A throw-away MariaDB server on a free loopback port."""

    host: str = LOOPBACK
    port: int = 0
    user: str = "guajie"
    password: str = field(default_factory=_new_password, repr=False)
    database: str = "guajie"
    env_var_name: str = "GUAJIE_TEST_MARIADB_PASSWORD"
    startup_timeout: float = DEFAULT_STARTUP_TIMEOUT
    mariadbd: Path = Path("/usr/sbin/mariadbd")
    install_db: Path = Path("/usr/bin/mariadb-install-db")
    system_user: str = "mysql"
    buffer_pool_size: str = "256M"
    character_set: str = "utf8mb4"
    collation: str = "utf8mb4_general_ci"
    base_dir: Path | None = field(default=None, init=False)
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _fixed_port: bool = field(default=False, init=False, repr=False)

    NAME = "MariaDB"
    KIND = "mariadb"
    LOG_NAME = "mariadbd.log"
    SUPERUSER = "root"
    USER_HOSTS = ("%", "127.0.0.1", "localhost")

    @property
    def url(self) -> str:
        """``mysql://user@host:port/db``; the password is not in it (see ``env()``)."""
        return f"mysql://{self.user}@{self.host}:{self.port}/{self.database}"

    @property
    def conninfo(self) -> str:
        """``mysql://user:password@host:port/db`` (password included)."""
        return f"mysql://{self.user}:{self.password}@{self.host}:{self.port}/{self.database}"

    @property
    def connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``pymysql.connect`` as ``user`` over TCP."""
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "database": self.database,
            "charset": "utf8mb4",
            "connect_timeout": 10,
        }

    @property
    def socket_path(self) -> Path:
        return self._base() / "mariadbd.sock"

    @property
    def admin_connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``pymysql.connect`` as ``root`` over the unix socket."""
        return {
            "unix_socket": str(self.socket_path),
            "user": self.SUPERUSER,
            "password": "",
            "charset": "utf8mb4",
            "connect_timeout": 5,
        }

    def env(self) -> dict[str, str]:
        return {self.env_var_name: self.password}

    def connect(self, *, admin: bool = False, autocommit: bool = True) -> Any:
        """A pymysql connection as ``user`` (or as ``root`` with ``admin=True``)."""
        import pymysql

        kwargs = self.admin_connect_kwargs if admin else self.connect_kwargs
        return pymysql.connect(autocommit=autocommit, **kwargs)

    def _check_installed(self) -> None:
        _require_executable(self.NAME, self.mariadbd, _INSTALL_HINT)
        _require_executable(self.NAME, self.install_db, _INSTALL_HINT)
        _require_module(self.NAME, "pymysql", "pymysql")

    def _run_as(self) -> _RunAs:
        return _RunAs.for_user(self.system_user)

    def _common_options(self) -> list[str]:
        base = self._base()
        options = [
            "--basedir=/usr",
            f"--datadir={base / 'data'}",
            f"--tmpdir={base}",
            f"--innodb-buffer-pool-size={self.buffer_pool_size}",
            "--innodb-log-file-size=32M",
            "--innodb-flush-log-at-trx-commit=0",
            "--innodb-doublewrite=0",
            f"--character-set-server={self.character_set}",
            f"--collation-server={self.collation}",
        ]
        if Path("/usr/share/mysql").is_dir():
            options.append("--lc-messages-dir=/usr/share/mysql")
        return options

    def _prepare(self, run_as: _RunAs) -> None:
        base = self._base()
        # ``--no-defaults`` keeps /etc/mysql out; it must come first.
        argv = [
            str(self.install_db),
            "--no-defaults",
            *self._common_options(),
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            "--skip-name-resolve",
        ]
        # Run as the system user directly (no --user): no root-owned files in the datadir.
        _run_once(self.NAME, argv, base / "install-db.log", run_as, base)

    def _argv(self) -> list[str]:
        base = self._base()
        return [
            str(self.mariadbd),
            "--no-defaults",
            *self._common_options(),
            f"--port={self.port}",
            f"--bind-address={self.host}",
            f"--socket={self.socket_path}",
            f"--pid-file={base / 'mariadbd.pid'}",
            "--skip-log-bin",
            "--skip-name-resolve",
            "--local-infile=1",
            "--max-connections=200",
            "--skip-symbolic-links",
            # No --user: the process already runs as the system user (see ``_RunAs``), and
            # mariadbd switching users itself would clear the parent-death signal.
        ]

    def _ready(self) -> bool:
        import pymysql

        try:
            conn = pymysql.connect(**self.admin_connect_kwargs)
        except pymysql.err.MySQLError:
            return False
        conn.close()
        return True

    def _provision(self) -> None:
        db = _mysql_ident(self.database)
        pattern = _mysql_ident(self.database.replace("_", "\\_") + "\\_%")
        statements = [
            "DELETE FROM mysql.global_priv WHERE User = ''",
            "FLUSH PRIVILEGES",
            f"CREATE DATABASE IF NOT EXISTS {db}"
            f" CHARACTER SET {self.character_set} COLLATE {self.collation}",
        ]
        for host in self.USER_HOSTS:
            account = f"{_mysql_str(self.user)}@{_mysql_str(host)}"
            statements += [
                f"CREATE USER {account} IDENTIFIED BY {_mysql_str(self.password)}",
                f"GRANT ALL PRIVILEGES ON {db}.* TO {account}",
                f"GRANT ALL PRIVILEGES ON {pattern}.* TO {account}",
            ]
        with self.connect(admin=True) as conn, conn.cursor() as cur:
            # mariadb-install-db also makes passwordless root@127.0.0.1, @::1 and @<hostname>.
            cur.execute("SELECT Host FROM mysql.user WHERE User = 'root' AND Host <> 'localhost'")
            statements += [f"DROP USER 'root'@{_mysql_str(host)}" for (host,) in cur.fetchall()]
            for statement in statements:
                cur.execute(statement)
        # Prove that password login over TCP works before handing the server out.
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")


# --------------------------------------------------------------------------------------------
# S3 (moto)


@dataclass
class S3Server(_ProcessServer):
    """moto's S3-compatible server on a free loopback port."""

    host: str = LOOPBACK
    port: int = 0
    access_key: str = "testing"
    secret_key: str = "testing"
    region: str = "us-east-1"
    startup_timeout: float = DEFAULT_STARTUP_TIMEOUT
    base_dir: Path | None = field(default=None, init=False)
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _fixed_port: bool = field(default=False, init=False, repr=False)

    NAME = "S3 (moto)"
    KIND = "s3"
    LOG_NAME = "moto.log"

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def storage_options(self) -> dict[str, Any]:
        """Options for ``s3fs.S3FileSystem(**storage_options)`` / fsspec ``storage_options``."""
        return {
            "key": self.access_key,
            "secret": self.secret_key,
            "endpoint_url": self.endpoint_url,
            "client_kwargs": {"region_name": self.region},
        }

    def env(self) -> dict[str, str]:
        """Standard AWS variables pointing boto3/s3fs/pyarrow clients at this server."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ENDPOINT_URL_S3": self.endpoint_url,
        }

    def client(self) -> Any:
        """A boto3 S3 client for this server."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
        )

    def make_bucket(self, name: str) -> str:
        """Create bucket ``name`` (no error if it exists) and return the name."""
        client = self.client()
        kwargs: dict[str, Any] = {"Bucket": name}
        if self.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
            client.create_bucket(**kwargs)
        return name

    def reset(self) -> None:
        """Drop every bucket and object (moto's reset API)."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        with _NO_PROXY.open(request, timeout=10):
            pass

    def _check_installed(self) -> None:
        for module in ("moto", "flask", "flask_cors", "boto3"):
            _require_module(self.NAME, module, "moto[server]")

    def _argv(self) -> list[str]:
        return [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)]

    def _env(self) -> dict[str, str]:
        return {**os.environ, "PYTHONUNBUFFERED": "1"}

    def _ready(self) -> bool:
        try:
            with _NO_PROXY.open(f"{self.endpoint_url}/moto-api/", timeout=1):
                return True
        except urllib.error.HTTPError:
            return True
        except OSError:
            return False


# --------------------------------------------------------------------------------------------
# Static HTTP files with byte ranges

_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


class _RangeNotSatisfiable(Exception):
    """The requested byte range lies outside the file (answer 416)."""


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """Parse a single ``Range`` header against ``size``.

    Returns ``(start, end)`` (inclusive) or ``None`` when the header should be ignored (bad or
    multi-range: answer with the whole file). Raises ``_RangeNotSatisfiable``.
    """
    match = _RANGE_RE.match(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # suffix range: the last N bytes
        length = int(last)
        if length == 0:
            raise _RangeNotSatisfiable
        return max(size - length, 0), size - 1
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        raise _RangeNotSatisfiable
    end = int(last) if last else size - 1
    return start, min(end, size - 1)


class _RangeRequestHandler(http.server.SimpleHTTPRequestHandler):
    """``SimpleHTTPRequestHandler`` plus keep-alive, quiet logs and single byte ranges."""

    protocol_version = "HTTP/1.1"
    timeout = 30
    _range: tuple[int, int] | None = None

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def end_headers(self) -> None:
        self.send_header("Accept-Ranges", "bytes")
        super().end_headers()

    def send_head(self) -> IO[bytes] | None:  # type: ignore[override]
        self._range = None
        header = self.headers.get("Range")
        path = self.translate_path(self.path)
        if header is None or not os.path.isfile(path) or self.path.endswith("/"):
            return super().send_head()
        try:
            f = open(path, "rb")  # noqa: SIM115 - handed to the caller, as in the base class
        except OSError:
            self.send_error(http.HTTPStatus.NOT_FOUND, "File not found")
            return None
        stat = os.fstat(f.fileno())
        try:
            parsed = _parse_range(header, stat.st_size)
        except _RangeNotSatisfiable:
            f.close()
            self.send_response(http.HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
            self.send_header("Content-Range", f"bytes */{stat.st_size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        if parsed is None:
            f.close()
            return super().send_head()
        start, end = parsed
        self._range = (start, end - start + 1)
        self.send_response(http.HTTPStatus.PARTIAL_CONTENT)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Content-Range", f"bytes {start}-{end}/{stat.st_size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Last-Modified", self.date_time_string(int(stat.st_mtime)))
        self.end_headers()
        return f

    def copyfile(self, source: Any, outputfile: Any) -> None:
        if self._range is None:
            super().copyfile(source, outputfile)
            return
        start, remaining = self._range
        source.seek(start)
        while remaining > 0:
            chunk = source.read(min(64 * 1024, remaining))
            if not chunk:
                break
            outputfile.write(chunk)
            remaining -= len(chunk)


class _QuietThreadingHTTPServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients (aiohttp pools) drop keep-alive connections at will; not worth a traceback.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


@dataclass
class HttpFileServer(_ManagedServer):
    """Serve ``root_dir`` over HTTP on a loopback port, with HEAD and byte ranges."""

    root_dir: Path | str
    host: str = LOOPBACK
    port: int = 0
    _server: http.server.ThreadingHTTPServer | None = field(default=None, init=False, repr=False)
    _thread: threading.Thread | None = field(default=None, init=False, repr=False)
    _fixed_port: bool = field(default=False, init=False, repr=False)

    NAME = "HTTP file server"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, relative_path: str = "") -> str:
        """The URL of ``relative_path`` under ``root_dir``."""
        quoted = urllib.request.pathname2url(relative_path.lstrip("/"))
        return f"{self.base_url}/{quoted}"

    def start(self) -> Self:
        if self._server is not None:
            return self
        root = Path(self.root_dir)
        if not root.is_dir():
            raise RuntimeError(f"{self.NAME}: {root} is not a directory")
        handler = functools.partial(_RangeRequestHandler, directory=str(root))
        self._fixed_port = self.port != 0
        try:
            server = _QuietThreadingHTTPServer((self.host, self.port), handler)
        except OSError as exc:
            raise RuntimeError(
                f"{self.NAME} failed to start on {self.host}:{self.port}: {exc}"
            ) from exc
        server.daemon_threads = True
        self._server = server
        self.port = int(server.server_address[1])
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"http-files-{self.port}",
            daemon=True,
        )
        self._thread.start()
        self._register()
        return self

    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        if not self._fixed_port:
            self.port = 0
        self._unregister()
