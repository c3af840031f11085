"""A shaped network link inside this machine: a network namespace joined by a veth pair.

    python benchmarks/shaped_link.py up [--rate 100mbit] [--delay-ms 5]
    python benchmarks/shaped_link.py check     # bring a link up, measure it, tear it down
    python benchmarks/shaped_link.py down

The namespace ``gjbench`` holds one end of a veth pair (``10.222.0.2/30``); the host end is
``10.222.0.1/30``. Both addresses exist only inside this machine's namespaces. Clients run
in the namespace (``ip netns exec gjbench ...``) and reach servers, or proxies in front of
them, on the host end, so all their traffic crosses the pair.

Shaping, on the egress of both ends:

* with ``netem`` in the kernel: ``netem rate RATE delay DELAY`` (round trip 2 x DELAY);
* without it (some VM kernels ship no ``sch_netem``): ``tbf rate RATE`` for the bandwidth,
  and :attr:`ShapedLink.proxy_delay` tells the caller to add DELAY per direction in its
  proxy (``byte_counter.ByteCounter(delay=...)``): the same round trip added to every
  request and answer, though TCP's own ACKs then travel without it.

Needs root, ``ip`` and ``tc`` (Debian's ``iproute2``). :func:`unavailable` says why not.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

NAMESPACE = "gjbench"
HOST_IF = "gjb0"
NS_IF = "gjb1"
HOST_ADDR = "10.222.0.1"
NS_ADDR = "10.222.0.2"
PREFIX = 30


def unavailable() -> str | None:
    """Why a shaped link cannot be made here, or ``None`` when it can."""
    if not sys.platform.startswith("linux"):
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "creating a network namespace needs root"
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed (Debian package iproute2)"
    return None


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {(proc.stderr or proc.stdout).strip()}")
    return proc


class ShapedLink:
    def __init__(self, rate: str | None = "100mbit", delay_ms: float = 5.0) -> None:
        self.rate = rate  # None: a plain link, no shaping at all
        self.delay_ms = delay_ms if rate else 0.0
        self.netem = False
        self.qdisc = ""
        self.is_up = False

    @property
    def proxy_delay(self) -> float:
        """Seconds of one-way delay the proxy must add (0 when netem does it)."""
        return 0.0 if self.netem else self.delay_ms / 1000

    @property
    def exec_prefix(self) -> list[str]:
        return ["ip", "netns", "exec", NAMESPACE]

    def describe(self) -> str:
        if not self.rate:
            return f"veth {HOST_ADDR} <-> netns {NAMESPACE} {NS_ADDR}, not shaped"
        where = "netem on both veth ends" if self.netem else "proxy, each direction"
        return (
            f"veth {HOST_ADDR} <-> netns {NAMESPACE} {NS_ADDR}; rate {self.rate} by "
            f"{self.qdisc} on both ends; delay {self.delay_ms:g} ms one-way by {where}"
        )

    def up(self) -> ShapedLink:
        reason = unavailable()
        if reason:
            raise RuntimeError(reason)
        down()  # whatever an interrupted run left behind
        try:
            _run("ip", "netns", "add", NAMESPACE)
            _run("ip", "link", "add", HOST_IF, "type", "veth", "peer", "name", NS_IF)
            _run("ip", "link", "set", NS_IF, "netns", NAMESPACE)
            _run("ip", "addr", "add", f"{HOST_ADDR}/{PREFIX}", "dev", HOST_IF)
            _run("ip", "link", "set", HOST_IF, "up")
            ns = ["ip", "netns", "exec", NAMESPACE]
            _run(*ns, "ip", "addr", "add", f"{NS_ADDR}/{PREFIX}", "dev", NS_IF)
            _run(*ns, "ip", "link", "set", NS_IF, "up")
            _run(*ns, "ip", "link", "set", "lo", "up")
            self.is_up = True
            if self.rate:
                self._shape([], HOST_IF)
                self._shape(ns, NS_IF)
        except BaseException:
            self.down()
            raise
        return self

    def _shape(self, prefix: list[str], dev: str) -> None:
        assert self.rate
        netem = [
            *prefix, "tc", "qdisc", "add", "dev", dev, "root", "netem",
            "rate", self.rate, "delay", f"{self.delay_ms:g}ms", "limit", "10000",
        ]  # fmt: skip
        if _run(*netem, check=False).returncode == 0:
            self.netem, self.qdisc = True, "netem"
            return
        if self.netem:
            raise RuntimeError(f"netem worked on one veth end but not on {dev}")
        _run(
            *prefix, "tc", "qdisc", "add", "dev", dev, "root", "tbf",
            "rate", self.rate, "burst", "128kb", "latency", "50ms",
        )  # fmt: skip
        self.qdisc = "tbf"

    def down(self) -> None:
        down()
        self.is_up = False

    def __enter__(self) -> ShapedLink:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()

    def measure(self, megabytes: int = 8) -> dict[str, float]:
        """Throughput host -> namespace and TCP connect time, by a real transfer."""
        payload = b"\0" * (1 << 20)
        server = socket.socket()
        server.bind((HOST_ADDR, 0))
        server.listen(1)
        port = server.getsockname()[1]

        def serve() -> None:
            with contextlib.suppress(OSError):
                conn, _ = server.accept()
                with conn:
                    for _ in range(megabytes):
                        conn.sendall(payload)

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        client = (
            "import socket,time,json\n"
            "t=time.perf_counter()\n"
            f"s=socket.create_connection(('{HOST_ADDR}',{port}),timeout=60)\n"
            "c=time.perf_counter()-t\n"
            "n=0\n"
            "while True:\n"
            "    d=s.recv(1<<20)\n"
            "    if not d: break\n"
            "    n+=len(d)\n"
            "print(json.dumps([c,time.perf_counter()-t,n]))\n"
        )
        try:
            proc = _run(*self.exec_prefix, sys.executable, "-c", client)
        finally:
            server.close()
            thread.join(5)
        import json

        connect_s, total_s, received = json.loads(proc.stdout)
        return {
            "connect_ms": connect_s * 1000,
            "mbit_per_s": received * 8 / max(total_s - connect_s, 1e-9) / 1e6,
            "bytes": received,
        }


def down() -> None:
    """Remove the pair and the namespace (no error when they are absent)."""
    if shutil.which("ip") is None:
        return
    _run("ip", "link", "del", HOST_IF, check=False)
    _run("ip", "netns", "del", NAMESPACE, check=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["up", "down", "check"])
    parser.add_argument("--rate", default="100mbit", help="'none' for a plain link")
    parser.add_argument("--delay-ms", type=float, default=5.0)
    args = parser.parse_args(argv)
    if args.action == "down":
        down()
        return 0
    reason = unavailable()
    if reason:
        print(f"shaped link unavailable: {reason}", file=sys.stderr)
        return 1
    link = ShapedLink(None if args.rate == "none" else args.rate, args.delay_ms).up()
    print(link.describe())
    if args.action == "check":
        try:
            started = time.perf_counter()
            print(link.measure(), f"({time.perf_counter() - started:.1f} s)")
        finally:
            link.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
