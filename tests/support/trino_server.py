"""A real Trino for tests and manual work: fetched from Maven Central, run as one node.

The release is pinned here (:data:`TRINO_VERSION`) and nowhere else. :func:`install_trino`
fetches it with Maven into a cache outside the repository (``$GUAJIE_TRINO_CACHE`` or
``~/.cache/guajie``), once: later calls find ``trino-<version>/`` complete and return at once.
Only what guajie needs is kept: the server's ``lib/`` and the plugins in :data:`PLUGINS`
(PostgreSQL, MariaDB, MySQL, Hive, memory, and geospatial, whose types the PostgreSQL
connector needs): about 400 MB on disk.

Two ways to get them, tried in this order:

* ``io.trino:trino-server-core:<version>:tar.gz`` (no connectors) plus one
  ``io.trino:trino-<plugin>:<version>:zip`` per plugin -- the smallest download, when the
  repository has every one of those zips;
* otherwise ``io.trino:trino-server:<version>:tar.gz`` (the full server, ~820 MB; Maven
  Central as mirrored here lacks the 476 JDBC plugin zips), of which only ``lib/`` and the
  wanted plugins are unpacked (its plugins share jars through hard links,
  which are resolved here).

``$GUAJIE_TRINO_DIST`` (``core`` or ``full``) forces one of them. Maven's own download
repository is a temporary directory inside the cache, deleted once the server is unpacked.

Trino 476 needs Java 24 or newer: :func:`find_java` picks the newest JDK under
``/usr/lib/jvm`` (or ``$GUAJIE_TRINO_JAVA_HOME`` / ``$JAVA_HOME`` when new enough).

:class:`TrinoServer` runs a single-node cluster (coordinator and worker in one JVM) on a free
loopback port with a throw-away directory, like the servers in :mod:`tests.support.servers`:
``start()`` returns once ``/v1/info`` answers ``"starting": false``, and a server that cannot
start raises ``RuntimeError`` with the tail of its log. Catalogs are managed dynamically
(``CREATE CATALOG``), so ``guajie trino sync`` can add and drop them without a restart; the
server's environment is the caller's at ``start()``, which is where ``${ENV:VAR}`` references
in catalog properties are resolved.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import uuid
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tests.support.servers import (
    _NO_PROXY,
    LOOPBACK,
    _ProcessServer,
    _RunAs,
    free_port,
)

TRINO_VERSION = "476"
GROUP_ID = "io.trino"
#: Plugin directories kept (as named under the full server's ``plugin/``).
PLUGINS: tuple[str, ...] = ("postgresql", "mariadb", "mysql", "hive", "memory", "geospatial")
MIN_JAVA = 24
DEFAULT_HEAP = "2G"
STARTUP_TIMEOUT = 180.0
_COMPLETE = ".complete.json"
_JVM_DIRS = (Path("/usr/lib/jvm"),)


# --------------------------------------------------------------------------------------------
# Cache and Java


def cache_root() -> Path:
    """``$GUAJIE_TRINO_CACHE``, else ``$XDG_CACHE_HOME/guajie`` or ``~/.cache/guajie``."""
    env = os.environ.get("GUAJIE_TRINO_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "guajie"


def install_dir(version: str = TRINO_VERSION) -> Path:
    return cache_root() / f"trino-{version}"


def _java_major(java: Path) -> int | None:
    try:
        proc = subprocess.run(
            [str(java), "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r'version "(\d+)(?:\.(\d+))?', proc.stderr + proc.stdout)
    if not m:
        return None
    major = int(m.group(1))
    return int(m.group(2) or 0) if major == 1 else major


def find_java(minimum: int = MIN_JAVA) -> Path:
    """A ``java`` executable of version ``minimum`` or newer; the newest one found wins."""
    candidates: list[Path] = []
    for var in ("GUAJIE_TRINO_JAVA_HOME", "JAVA_HOME"):
        if home := os.environ.get(var):
            candidates.append(Path(home) / "bin" / "java")
    for root in _JVM_DIRS:
        if root.is_dir():
            candidates.extend(sorted(root.glob("*/bin/java")))
    if which := shutil.which("java"):
        candidates.append(Path(which))
    best: tuple[int, Path] | None = None
    seen: set[Path] = set()
    for java in candidates:
        real = java.resolve()
        if real in seen or not (real.is_file() and os.access(real, os.X_OK)):
            continue
        seen.add(real)
        major = _java_major(real)
        if major is not None and major >= minimum and (best is None or major > best[0]):
            best = (major, java)
    if best is None:
        raise RuntimeError(
            f"Trino {TRINO_VERSION} needs Java {minimum} or newer and none was found "
            f"(looked in $GUAJIE_TRINO_JAVA_HOME, $JAVA_HOME, {', '.join(map(str, _JVM_DIRS))} "
            "and PATH). Install a JDK 24+ (e.g. Eclipse Temurin 25) under /usr/lib/jvm."
        )
    return best[1]


# --------------------------------------------------------------------------------------------
# Fetching with Maven


class _NotInRepository(Exception):
    """Maven could not find an artifact (the repository does not carry it)."""


@dataclass
class InstallReport:
    """What :func:`install_trino` did: where, how, and how long each step took."""

    path: Path
    fetched: bool
    distribution: str = ""  # "core" or "full"
    download_seconds: float = 0.0
    unpack_seconds: float = 0.0
    downloaded_bytes: int = 0


def _mvn() -> str:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise RuntimeError(
            "Maven (mvn) is needed to fetch Trino from Maven Central and is not on PATH; "
            "install it (Debian: apt-get install -y maven)."
        )
    return mvn


def _maven_get(repo: Path, artifact: str, log: IO[str]) -> Path:
    """Resolve ``group:artifact:version:type`` into the local repository ``repo``."""
    group, name, version, kind = artifact.split(":")
    argv = [
        _mvn(),
        "-B",
        "-q",
        f"-Dmaven.repo.local={repo}",
        "dependency:get",
        f"-Dartifact={artifact}",
        "-Dtransitive=false",
    ]
    log.write(f"$ {' '.join(argv)}\n")
    log.flush()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    log.write(proc.stdout + proc.stderr)
    path = repo.joinpath(*group.split("."), name, version, f"{name}-{version}.{kind}")
    if proc.returncode == 0 and path.is_file():
        return path
    text = proc.stdout + proc.stderr
    if "Could not find artifact" in text or "was not found in" in text:
        raise _NotInRepository(artifact)
    tail = "\n".join(text.strip().splitlines()[-15:])
    raise RuntimeError(f"Maven could not fetch {artifact} (exit {proc.returncode}):\n{tail}")


def _unpack_zip_plugin(archive: Path, target: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            parts = info.filename.split("/", 1)
            if len(parts) < 2 or not parts[1] or info.is_dir():
                continue
            dest = target / parts[1]
            dest.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(dest, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)


def _wanted(name: str, plugins: Sequence[str], lib: bool = True) -> bool:
    """``name`` is relative to the archive's top directory."""
    if lib and (name.startswith("lib/") or name == "lib"):
        return True
    return any(name == f"plugin/{p}" or name.startswith(f"plugin/{p}/") for p in plugins)


def _strip_top(name: str) -> str:
    return name.split("/", 1)[1] if "/" in name else ""


def _unpack_tar(archive: Path, target: Path, plugins: Sequence[str], lib: bool = True) -> None:
    """Unpack ``lib/``, ``bin/`` and ``plugin/<p>/`` of a Trino tarball into ``target``.

    Hard links (the full server shares jars between plugins) are materialised even when
    their target lies in a directory that is not unpacked: a first pass finds which
    members are needed, a second one writes them.
    """
    needed: dict[str, list[str]] = {}  # member name -> destinations (relative)
    with tarfile.open(archive, "r|gz") as tar:
        for member in tar:
            rel = _strip_top(member.name)
            if not rel or not _wanted(rel, plugins, lib):
                continue
            if member.islnk():
                needed.setdefault(member.linkname, []).append(rel)
            elif member.isfile():
                needed.setdefault(member.name, []).append(rel)
    with tarfile.open(archive, "r|gz") as tar:
        for member in tar:
            destinations = needed.get(member.name)
            if not destinations or not member.isfile():
                continue
            first = target / destinations[0]
            first.parent.mkdir(parents=True, exist_ok=True)
            src = tar.extractfile(member)
            assert src is not None
            with open(first, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
            os.chmod(first, 0o755 if member.mode & 0o111 else 0o644)
            for rel in destinations[1:]:
                dest = target / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.link(first, dest)


@contextlib.contextmanager
def _install_lock(root: Path) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".trino-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def is_installed(version: str = TRINO_VERSION, plugins: Sequence[str] = PLUGINS) -> bool:
    marker = install_dir(version) / _COMPLETE
    try:
        done = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    return set(plugins) <= set(done.get("plugins", []))


def install_trino(
    version: str = TRINO_VERSION,
    plugins: Sequence[str] = PLUGINS,
    progress: Any = None,
) -> InstallReport:
    """Make sure Trino ``version`` with ``plugins`` is in the cache; fetch it if not."""
    target = install_dir(version)
    if is_installed(version, plugins):
        return InstallReport(target, fetched=False)
    say = progress or (lambda text: None)
    root = cache_root()
    with _install_lock(root):
        if is_installed(version, plugins):
            return InstallReport(target, fetched=False)
        if is_installed(version, ()):
            return _add_plugins(target, version, plugins, say)
        work = Path(tempfile.mkdtemp(prefix=f".trino-{version}-", dir=root))
        try:
            report = _fetch_into(work, version, plugins, say)
            (work / "unpacked" / _COMPLETE).write_text(
                json.dumps(
                    {
                        "version": version,
                        "plugins": sorted(plugins),
                        "distribution": report.distribution,
                    }
                )
            )
            if target.exists():
                shutil.rmtree(target)
            os.replace(work / "unpacked", target)
            report.path = target
            return report
        finally:
            shutil.rmtree(work, ignore_errors=True)


def _add_plugins(target: Path, version: str, plugins: Sequence[str], say: Any) -> InstallReport:
    """Add the missing ``plugins`` to an installed server, leaving what is there in place
    (servers started from it keep running): each plugin's zip, else the full tarball's
    directory of it; every plugin directory appears whole, by a rename."""
    marker = target / _COMPLETE
    done = json.loads(marker.read_text())
    missing = [p for p in plugins if p not in done.get("plugins", [])]
    work = Path(tempfile.mkdtemp(prefix=f".trino-{version}-plugins-", dir=target.parent))
    report = InstallReport(target, fetched=True, distribution=done.get("distribution", ""))
    try:
        repo, out = work / "m2", work / "unpacked"
        started = time.monotonic()
        with open(target.parent / f"trino-{version}-fetch.log", "a") as log:
            try:
                zips = {
                    p: _maven_get(repo, f"{GROUP_ID}:trino-{p}:{version}:zip", log) for p in missing
                }
                for plugin, archive in zips.items():
                    _unpack_zip_plugin(archive, out / "plugin" / plugin)
            except _NotInRepository as absent:
                say(f"{absent} is not in the repository; taking it from the full server tarball")
                full = _maven_get(repo, f"{GROUP_ID}:trino-server:{version}:tar.gz", log)
                report.downloaded_bytes = full.stat().st_size
                _unpack_tar(full, out, missing, lib=False)
        report.download_seconds = time.monotonic() - started
        for plugin in missing:
            if not (out / "plugin" / plugin).is_dir():
                raise RuntimeError(f"Trino {version} has no plugin named {plugin!r}")
            shutil.rmtree(target / "plugin" / plugin, ignore_errors=True)
            os.rename(out / "plugin" / plugin, target / "plugin" / plugin)
        done["plugins"] = sorted({*done.get("plugins", []), *missing})
        fresh = work / _COMPLETE
        fresh.write_text(json.dumps(done))
        os.replace(fresh, marker)
        return report
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _fetch_into(work: Path, version: str, plugins: Sequence[str], say: Any) -> InstallReport:
    repo = work / "m2"
    out = work / "unpacked"
    out.mkdir()
    report = InstallReport(out, fetched=True)
    mode = os.environ.get("GUAJIE_TRINO_DIST", "").strip().lower()
    with open(work.parent / f"trino-{version}-fetch.log", "w") as log:
        zips: dict[str, Path] = {}
        core: Path | None = None
        started = time.monotonic()
        if mode != "full":
            try:
                for plugin in plugins:
                    say(f"fetching {GROUP_ID}:trino-{plugin}:{version}:zip")
                    zips[plugin] = _maven_get(repo, f"{GROUP_ID}:trino-{plugin}:{version}:zip", log)
                say(f"fetching {GROUP_ID}:trino-server-core:{version}:tar.gz")
                core = _maven_get(repo, f"{GROUP_ID}:trino-server-core:{version}:tar.gz", log)
            except _NotInRepository as missing:
                if mode == "core":
                    raise RuntimeError(
                        f"{missing} is not in the Maven repository; unset GUAJIE_TRINO_DIST "
                        "to fall back to the full server tarball."
                    ) from None
                say(f"{missing} is not in the repository; using the full server tarball")
                shutil.rmtree(repo, ignore_errors=True)
                zips, core = {}, None
        full: Path | None = None
        if core is None:
            say(f"fetching {GROUP_ID}:trino-server:{version}:tar.gz (~820 MB)")
            full = _maven_get(repo, f"{GROUP_ID}:trino-server:{version}:tar.gz", log)
        report.download_seconds = time.monotonic() - started
        report.downloaded_bytes = sum(p.stat().st_size for p in repo.rglob("*") if p.is_file())
        started = time.monotonic()
        say("unpacking")
        if full is not None:
            report.distribution = "full"
            _unpack_tar(full, out, plugins)
        else:
            assert core is not None
            report.distribution = "core"
            _unpack_tar(core, out, ())
            for plugin, archive in zips.items():
                _unpack_zip_plugin(archive, out / "plugin" / plugin)
        missing_dirs = [p for p in plugins if not (out / "plugin" / p).is_dir()]
        # bin/ (the launchers) is not kept: the server runs ``java`` directly.
        if missing_dirs or not (out / "lib").is_dir():
            raise RuntimeError(f"the Trino archive lacks lib/ or plugin(s) {missing_dirs}")
        report.unpack_seconds = time.monotonic() - started
    return report


# --------------------------------------------------------------------------------------------
# The server


def _properties(values: Mapping[str, object]) -> str:
    return "".join(f"{key}={value}\n" for key, value in values.items())


@dataclass(frozen=True)
class TlsFiles:
    """A private certificate authority and a server certificate it signed for loopback."""

    ca: Path  # the CA certificate (PEM): what clients verify with
    server: Path  # the server's private key and certificate chain (PEM), as Trino reads it


def make_tls_files(directory: Path, host: str = LOOPBACK) -> TlsFiles:
    """A throw-away CA and a server certificate for ``host`` (an IP address and localhost)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    valid = (now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=2))

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(name("guajie test CA"))
        .issuer_name(name("guajie test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name(host))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(host)), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    ca_path, server_path = directory / "ca.pem", directory / "server.pem"
    ca_path.write_bytes(ca_cert.public_bytes(pem))
    server_path.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        + cert.public_bytes(pem)
        + ca_cert.public_bytes(pem)
    )
    server_path.chmod(0o600)
    return TlsFiles(ca=ca_path, server=server_path)


def password_line(user: str, password: str, iterations: int = 10_000) -> str:
    """One line of Trino's password file: PBKDF2 with HMAC-SHA1 (what Trino's file
    authenticator computes), iterations, hex salt and the hex 512-bit hash."""
    import hashlib

    salt = os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha1", password.encode(), salt, iterations, dklen=64)
    return f"{user}:{iterations}:{salt.hex()}:{digest.hex()}\n"


@dataclass
class TrinoServer(_ProcessServer):
    """A single-node Trino (coordinator and worker) on a free loopback port.

    ``heap`` is the JVM's ``-Xmx``; queries get at most ``query_memory`` each. ``env`` adds
    variables to the server's environment (``${ENV:VAR}`` in catalog properties reads them);
    the caller's environment at ``start()`` is inherited. ``catalogs`` are written as static
    catalog files before the start (name -> properties); more can be created at run time.

    With ``passwords`` (user -> password), clients must authenticate with a password over
    HTTPS: the server gets a certificate from a throw-away CA (``tls.ca`` is what clients
    verify with), a file password authenticator and a shared secret, and :attr:`url` is its
    ``https://`` address. The plain HTTP port stays for the node's own traffic and readiness.
    """

    host: str = LOOPBACK
    port: int = 0
    heap: str = DEFAULT_HEAP
    query_memory: str = "1GB"
    env: dict[str, str] = field(default_factory=dict, repr=False)
    catalogs: dict[str, dict[str, str]] = field(default_factory=dict)
    version: str = TRINO_VERSION
    startup_timeout: float = STARTUP_TIMEOUT
    passwords: dict[str, str] = field(default_factory=dict, repr=False)
    https_port: int = 0
    tls: TlsFiles | None = field(default=None, init=False)
    base_dir: Path | None = field(default=None, init=False)
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _fixed_port: bool = field(default=False, init=False, repr=False)
    _java: Path | None = field(default=None, init=False, repr=False)

    NAME = "Trino"
    KIND = "trino"
    LOG_NAME = "server.log"
    STOP_SIGNAL = signal.SIGTERM

    @property
    def url(self) -> str:
        """Where clients connect: ``https://`` when passwords are required."""
        if self.passwords:
            return f"https://{self.host}:{self.https_port}"
        return self.http_url

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def plugins(self) -> tuple[str, ...]:
        return (*PLUGINS, "password-authenticators") if self.passwords else PLUGINS

    @property
    def install_path(self) -> Path:
        return install_dir(self.version)

    @property
    def catalog_dir(self) -> Path:
        return self._base() / "etc" / "catalog"

    def info(self) -> dict[str, Any]:
        """``GET /v1/info``."""
        with _NO_PROXY.open(f"{self.http_url}/v1/info", timeout=5) as response:
            return dict(json.loads(response.read()))

    def _check_installed(self) -> None:
        install_trino(
            self.version,
            self.plugins,
            progress=lambda text: print(f"trino: {text}", file=sys.stderr),
        )
        self._java = find_java()

    def _run_as(self) -> _RunAs:
        return _RunAs(None, os.getuid(), os.getgid())

    def _prepare(self, run_as: _RunAs) -> None:
        base = self._base()
        for sub in ("etc/catalog", "data", "tmp"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        for name, props in self.catalogs.items():
            (base / "etc" / "catalog" / f"{name}.properties").write_text(_properties(props))
        (base / "etc" / "log.properties").write_text("io.trino=INFO\n")
        if self.passwords:
            self.tls = make_tls_files(base / "etc" / "tls", self.host)
            password_file = base / "etc" / "password.db"
            password_file.write_text(
                "".join(password_line(u, p) for u, p in sorted(self.passwords.items()))
            )
            password_file.chmod(0o600)
            (base / "etc" / "password-authenticator.properties").write_text(
                _properties(
                    {"password-authenticator.name": "file", "file.password-file": password_file}
                )
            )

    def _write_config(self) -> None:
        base = self._base()
        config = {
            "coordinator": "true",
            "node-scheduler.include-coordinator": "true",
            "http-server.http.port": self.port,
            "discovery.uri": self.http_url,
            "node.environment": "guajie",
            "node.id": f"guajie-{uuid.uuid4()}",
            "node.internal-address": self.host,
            "plugin.dir": self.install_path / "plugin",
            "catalog.management": "dynamic",
            "catalog.store": "file",
            "query.max-memory": self.query_memory,
            "query.max-memory-per-node": self.query_memory,
            "task.concurrency": 4,
            "http-server.log.enabled": "false",
            "log.path": base / self.LOG_NAME,
            "http-server.process-forwarded": "true",
        }
        if self.passwords:
            assert self.tls is not None
            if not self._fixed_port or not self.https_port:
                self.https_port = free_port(self.host)
            config.update(
                {
                    "http-server.https.enabled": "true",
                    "http-server.https.port": self.https_port,
                    "http-server.https.keystore.path": self.tls.server,
                    "http-server.authentication.type": "PASSWORD",
                    "internal-communication.shared-secret": uuid.uuid4().hex + uuid.uuid4().hex,
                }
            )
        (base / "etc" / "config.properties").write_text(_properties(config))

    def _argv(self) -> list[str]:
        self._write_config()
        base = self._base()
        assert self._java is not None
        return [
            str(self._java),
            "-server",
            # A class-data archive made by the first start: later starts take ~30% less time.
            f"-XX:SharedArchiveFile={self.install_path / 'trino-cds.jsa'}",
            "-XX:+AutoCreateSharedArchive",
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            "-XX:G1HeapRegionSize=32M",
            "-XX:+ExplicitGCInvokesConcurrent",
            "-XX:+ExitOnOutOfMemoryError",
            "-XX:-OmitStackTraceInFastThrow",
            "-XX:ReservedCodeCacheSize=256M",
            "-XX:PerMethodRecompilationCutoff=10000",
            "-XX:PerBytecodeRecompilationCutoff=10000",
            "-XX:+EnableDynamicAgentLoading",
            "-Djdk.attach.allowAttachSelf=true",
            "-Djdk.nio.maxCachedBufferSize=2000000",
            "-Dfile.encoding=UTF-8",
            f"-Djava.io.tmpdir={base / 'tmp'}",
            f"-Dconfig={base / 'etc' / 'config.properties'}",
            f"-Dlog.levels-file={base / 'etc' / 'log.properties'}",
            "-cp",
            str(self.install_path / "lib" / "*"),
            "io.trino.server.TrinoServer",
        ]

    def _env(self) -> dict[str, str]:
        env = {**os.environ, **self.env}
        env.setdefault("LANG", "C.UTF-8")
        env["LC_ALL"] = "C.UTF-8"
        assert self._java is not None
        env["JAVA_HOME"] = str(self._java.resolve().parent.parent)
        return env

    def _launch(self, run_as: _RunAs) -> None:
        # Trino opens many files; raise the soft limit for the child where the hard one allows.
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
        if soft < wanted:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        if wanted < 4096:
            raise RuntimeError(f"Trino needs at least 4096 open files; the limit is {hard}")
        super()._launch(run_as)

    def _ready(self) -> bool:
        try:
            info = self.info()
        except (OSError, ValueError, urllib.error.URLError):
            return False
        return info.get("starting") is False
