"""`guajie serve` as a real process on a free loopback port, and HTTP helpers to call it.

Used by tests/test_serve.py and benchmarks/serve_load.py. The server gets a parent-death
signal, so a killed test session leaves no server behind.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from tests.support.servers import LOOPBACK, _ManagedServer, _pdeathsig_preexec, free_port

STARTUP_TIMEOUT = 30.0


@dataclass
class GuajieServer(_ManagedServer):
    """``guajie --home HOME serve`` with the given options, until ``stop()``."""

    home: Path
    options: list[str] = field(default_factory=list)
    log: Path | None = None
    host: str = LOOPBACK
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> Self:
        self.port = free_port(self.host)
        log = self.log or self.home.parent / f"serve-{self.port}.log"
        argv = [
            sys.executable,
            "-m",
            "guajie",
            "--home",
            str(self.home),
            "serve",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--log-level",
            "warning",
            *self.options,
        ]
        env = {**os.environ, "NO_PROXY": "*"}
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                preexec_fn=_pdeathsig_preexec(signal.SIGTERM),
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"guajie serve exited with {self.process.returncode}:\n{log.read_text()[-3000:]}"
                )
            try:
                status, _, _ = request(self, "GET", "/v1/health", timeout=2)
                if status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"guajie serve did not answer in {STARTUP_TIMEOUT:g} s:\n{log.read_text()[-3000:]}"
        )

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.process = None


def request(
    server: GuajieServer,
    method: str,
    path: str,
    *,
    body: bytes | str | dict[str, Any] | None = None,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 60,
    connection: http.client.HTTPConnection | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request; returns status, headers (lowercased names) and the body."""
    conn = connection or http.client.HTTPConnection(server.host, server.port, timeout=timeout)
    sent = dict(headers or {})
    if isinstance(body, dict):
        body = json.dumps(body)
        sent.setdefault("Content-Type", "application/json")
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    try:
        conn.request(method, path, body=body, headers=sent)
        response = conn.getresponse()
        data = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data
    finally:
        if connection is None:
            conn.close()
