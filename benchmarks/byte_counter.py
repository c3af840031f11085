"""A byte-counting TCP proxy for benchmarks: loopback (or a benchmark's own veth) only.

    python benchmarks/byte_counter.py --target 127.0.0.1:5432 [--listen 127.0.0.1:0]
        [--control /tmp/pg.sock] [--delay-ms 5]

Every connection accepted on the listening address is relayed to the target; the proxy
counts the bytes each way: ``down`` (server -> client, what a query engine *fetched*) and
``up`` (client -> server). Totals are read

* in-process: ``ByteCounter.totals()``;
* from another process: ``read_totals(control_path)``, a one-line JSON answer on a unix
  socket (a path socket, so it works across network namespaces too).

Relaying uses ``splice(2)`` through a pipe (no copy into Python) when there is no delay.
``--delay-ms`` holds every chunk for that long before passing it on, in each direction:
a one-way propagation delay, pipelined, so it adds round-trip time without limiting
throughput (the shaped-link mode uses it when the kernel lacks ``netem``).

Standard library only: ``peer_duckdb.py`` imports ``read_totals`` from its own venv.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import ipaddress
import json
import os
import signal
import socket
import sys
import threading
import time
from typing import Any

CHUNK = 1 << 20
_PIPE_SIZE = 1 << 20
_F_SETPIPE_SZ = 1031


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def parse_address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


class ByteCounter:
    """Relay ``listen -> target`` and count the bytes each way.

    ``allow_address`` names one extra listening address permitted besides loopback (the
    host end of a benchmark's own veth pair). The target must be a loopback address.
    """

    def __init__(
        self,
        target: tuple[str, int],
        *,
        listen: tuple[str, int] = ("127.0.0.1", 0),
        control_path: str | None = None,
        delay: float = 0.0,
        allow_address: str | None = None,
        name: str = "",
    ) -> None:
        if not _is_loopback(target[0]):
            raise ValueError(f"target {target[0]} is not a loopback address")
        if not (_is_loopback(listen[0]) or listen[0] == allow_address):
            raise ValueError(f"refusing to listen on {listen[0]}: loopback only")
        self.target = target
        self.listen = listen
        self.control_path = control_path
        self.delay = max(0.0, delay)
        self.name = name or f"{target[0]}:{target[1]}"
        self._lock = threading.Lock()
        self._down = 0
        self._up = 0
        self._connections = 0
        self._open: set[socket.socket] = set()
        self._server: socket.socket | None = None
        self._control: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    # -- life cycle ---------------------------------------------------------------------
    @property
    def address(self) -> tuple[str, int]:
        if self._server is None:
            raise RuntimeError("the proxy is not started")
        host, port = self._server.getsockname()[:2]
        return str(host), int(port)

    def start(self) -> ByteCounter:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(self.listen)
        server.listen(128)
        self._server = server
        self._spawn(self._accept_loop, f"accept-{self.name}")
        if self.control_path:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.control_path)
            control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            control.bind(self.control_path)
            control.listen(16)
            self._control = control
            self._spawn(self._control_loop, f"control-{self.name}")
        return self

    def stop(self) -> None:
        self._stopping.set()
        for sock in (self._server, self._control):
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
        with self._lock:
            open_socks = list(self._open)
        for sock in open_socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(2)
        if self.control_path:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.control_path)
        self._server = self._control = None

    def __enter__(self) -> ByteCounter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def totals(self) -> dict[str, int]:
        with self._lock:
            return {"down": self._down, "up": self._up, "connections": self._connections}

    # -- internals ----------------------------------------------------------------------
    def _spawn(self, target: Any, name: str, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()]
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        assert self._server is not None
        while not self._stopping.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._connections += 1
                self._open.update((client, upstream))
            state = {"open": 2}
            self._spawn(self._pump, f"up-{self.name}", client, upstream, "up", state)
            self._spawn(self._pump, f"down-{self.name}", upstream, client, "down", state)

    def _count(self, direction: str, n: int) -> None:
        with self._lock:
            if direction == "down":
                self._down += n
            else:
                self._up += n

    def _pump(self, src: socket.socket, dst: socket.socket, direction: str, state: dict) -> None:
        try:
            if self.delay > 0:
                self._relay_delayed(src, dst, direction)
            elif hasattr(os, "splice"):
                self._relay_splice(src, dst, direction)
            else:
                self._relay_copy(src, dst, direction)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)
            with self._lock:
                state["open"] -= 1
                done = state["open"] == 0
                if done:
                    self._open.difference_update((src, dst))
            if done:
                src.close()
                dst.close()

    def _relay_splice(self, src: socket.socket, dst: socket.socket, direction: str) -> None:
        read_end, write_end = os.pipe()
        try:
            with contextlib.suppress(OSError):
                import fcntl

                fcntl.fcntl(write_end, _F_SETPIPE_SZ, _PIPE_SIZE)
            src_fd, dst_fd = src.fileno(), dst.fileno()
            while True:
                n = os.splice(src_fd, write_end, CHUNK)
                if n == 0:
                    return
                self._count(direction, n)
                while n:
                    n -= os.splice(read_end, dst_fd, n)
        finally:
            os.close(read_end)
            os.close(write_end)

    def _relay_copy(self, src: socket.socket, dst: socket.socket, direction: str) -> None:
        buffer = bytearray(CHUNK)
        view = memoryview(buffer)
        while True:
            n = src.recv_into(buffer)
            if n == 0:
                return
            self._count(direction, n)
            dst.sendall(view[:n])

    def _relay_delayed(self, src: socket.socket, dst: socket.socket, direction: str) -> None:
        """Read as fast as data comes; a writer thread sends each chunk ``delay`` later."""
        queue: collections.deque[tuple[float, bytes] | None] = collections.deque()
        ready = threading.Condition()
        failed = threading.Event()

        def writer() -> None:
            while True:
                with ready:
                    while not queue:
                        ready.wait()
                    item = queue.popleft()
                if item is None:
                    return
                due, data = item
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                try:
                    dst.sendall(data)
                except OSError:
                    failed.set()
                    return

        thread = threading.Thread(target=writer, name=f"delay-{self.name}", daemon=True)
        thread.start()
        try:
            while not failed.is_set():
                data = src.recv(CHUNK)
                if not data:
                    break
                self._count(direction, len(data))
                with ready:
                    queue.append((time.monotonic() + self.delay, data))
                    ready.notify()
        finally:
            with ready:
                queue.append(None)
                ready.notify()
            thread.join()

    def _control_loop(self) -> None:
        assert self._control is not None
        while not self._stopping.is_set():
            try:
                conn, _ = self._control.accept()
            except OSError:
                return
            with conn, contextlib.suppress(OSError):
                conn.sendall((json.dumps(self.totals()) + "\n").encode())


def read_totals(control_path: str, timeout: float = 5.0) -> dict[str, int]:
    """The totals of the proxy whose control socket is ``control_path``."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(control_path)
        chunks = []
        while True:
            data = sock.recv(4096)
            if not data:
                break
            chunks.append(data)
    return json.loads(b"".join(chunks))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", required=True, help="HOST:PORT of the server (loopback)")
    parser.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT to listen on")
    parser.add_argument("--control", help="unix socket path answering with the totals")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="one-way delay per chunk")
    parser.add_argument("--allow-address", help="a non-loopback listen address to permit")
    args = parser.parse_args(argv)
    counter = ByteCounter(
        parse_address(args.target),
        listen=parse_address(args.listen),
        control_path=args.control,
        delay=args.delay_ms / 1000,
        allow_address=args.allow_address,
    ).start()
    host, port = counter.address
    print(json.dumps({"listen": f"{host}:{port}"}), flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    counter.stop()
    print(json.dumps(counter.totals()), file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
