"""Session-wide fixtures: real servers start once per test session, on loopback ports.

A server that cannot start fails the tests that need it; nothing is skipped quietly.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.support.servers import HttpFileServer, MariaDBServer, PostgresServer, S3Server
from tests.support.trino_server import TrinoServer


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    with PostgresServer() as server:
        os.environ[server.env_var_name] = server.password
        yield server


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[MariaDBServer]:
    with MariaDBServer() as server:
        os.environ[server.env_var_name] = server.password
        yield server


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    with S3Server() as server:
        yield server


@pytest.fixture(scope="session")
def trino_server(postgres_server, mariadb_server, s3_server) -> Iterator[TrinoServer]:
    """One Trino for the session (tests/support/trino_server.py), started on first use."""
    # The password variables are in os.environ (set by the fixtures above); S3 credentials
    # are given to Trino's environment only.
    with TrinoServer(env=s3_server.env()) as server:
        yield server


@pytest.fixture(scope="session")
def city_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample city at the default scale, generated once (read-only for tests)."""
    from guajie.sample_sources import generate

    out = tmp_path_factory.mktemp("city")
    generate(out, scale=1.0)
    return out


@pytest.fixture(scope="session")
def http_server(city_dir: Path) -> Iterator[HttpFileServer]:
    with HttpFileServer(city_dir) as server:
        yield server


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh workspace directory, also exported as GUAJIE_HOME."""
    path = tmp_path / "ws"
    monkeypatch.setenv("GUAJIE_HOME", str(path))
    return path


@pytest.fixture
def cli(home: Path):
    """Invoke the guajie CLI in-process; returns click's Result."""
    from guajie.cli import main

    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(main, list(args), input=input, catch_exceptions=False)

    return invoke
