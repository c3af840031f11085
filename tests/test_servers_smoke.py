"""Smoke tests for the real test servers in ``tests.support.servers``.

Each server is started once for this module; a server that cannot start fails the tests.
"""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.support.servers import (
    HttpFileServer,
    MariaDBServer,
    PostgresServer,
    S3Server,
    free_port,
)

pytestmark = pytest.mark.servers


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


# --------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def smoke_pg() -> Iterator[PostgresServer]:
    with PostgresServer() as server:
        yield server


@pytest.fixture(scope="module")
def smoke_mariadb() -> Iterator[MariaDBServer]:
    with MariaDBServer() as server:
        yield server


@pytest.fixture(scope="module")
def smoke_s3() -> Iterator[S3Server]:
    with S3Server() as server:
        yield server


@pytest.fixture(scope="module")
def http_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("http-root")
    (root / "hello.txt").write_bytes(b"0123456789abcdefghij")
    (root / "sub").mkdir()
    (root / "sub" / "名字 with space.txt").write_text("城市数据", encoding="utf-8")
    table = pa.table(
        {
            "id": pa.array(range(50_000), pa.int64()),
            "name": pa.array([f"row-{i}" for i in range(50_000)]),
        }
    )
    pq.write_table(table, root / "rows.parquet", row_group_size=10_000)
    return root


@pytest.fixture(scope="module")
def smoke_http(http_root: Path) -> Iterator[HttpFileServer]:
    with HttpFileServer(http_root) as server:
        yield server


# --------------------------------------------------------------------------------------------
# Helpers


def test_free_port_is_bindable() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


# --------------------------------------------------------------------------------------------
# PostgreSQL


def test_postgres_query(smoke_pg: PostgresServer) -> None:
    import psycopg

    assert smoke_pg.url == f"postgresql://guajie@127.0.0.1:{smoke_pg.port}/guajie"
    assert smoke_pg.password not in smoke_pg.url
    assert smoke_pg.env() == {"GUAJIE_TEST_PG_PASSWORD": smoke_pg.password}
    with psycopg.connect(smoke_pg.conninfo, autocommit=True) as conn:
        row = conn.execute("SELECT current_user, current_database(), 1 + 1").fetchone()
        assert row == ("guajie", "guajie", 2)
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, name text)")
        conn.execute("INSERT INTO t VALUES (1, '城市'), (2, 'b')")
        assert conn.execute("SELECT name FROM t ORDER BY id").fetchall() == [("城市",), ("b",)]


def test_postgres_requires_password(smoke_pg: PostgresServer) -> None:
    import psycopg

    bad = f"host=127.0.0.1 port={smoke_pg.port} user=guajie password=wrong dbname=guajie"
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(bad, connect_timeout=5)


def test_postgres_admin_connection(smoke_pg: PostgresServer) -> None:
    with smoke_pg.connect(admin=True) as conn:
        assert conn.execute("SHOW fsync").fetchone() == ("off",)
        row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = 'guajie'").fetchone()
        assert row == (False,)
        assert conn.execute("SHOW server_encoding").fetchone() == ("UTF8",)


def test_postgres_lifecycle_and_cleanup() -> None:
    server = PostgresServer()
    with server:
        base, port = server.base_dir, server.port
        assert base is not None and base.is_dir()
        assert _port_open("127.0.0.1", port)
    assert not base.exists()
    assert not _port_open("127.0.0.1", port)
    assert server.base_dir is None


def test_postgres_start_failure_is_reported() -> None:
    with pytest.raises(RuntimeError) as info:
        PostgresServer(shared_buffers="not-a-size").start()
    message = str(info.value)
    assert "PostgreSQL failed to start" in message
    assert "command: " in message and "shared_buffers=not-a-size" in message
    assert "shared_buffers" in message.split("log (", 1)[1]


def test_postgres_missing_binaries_are_reported() -> None:
    with pytest.raises(RuntimeError, match=r"PostgreSQL: .*install-system-deps"):
        PostgresServer(bin_dir=Path("/nonexistent/bin")).start()


# --------------------------------------------------------------------------------------------
# MariaDB


def test_mariadb_query(smoke_mariadb: MariaDBServer) -> None:
    import pymysql

    assert smoke_mariadb.url == f"mysql://guajie@127.0.0.1:{smoke_mariadb.port}/guajie"
    assert smoke_mariadb.password not in smoke_mariadb.url
    conn = pymysql.connect(**smoke_mariadb.connect_kwargs, autocommit=True)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT CURRENT_USER(), DATABASE(), 1 + 1")
        assert cur.fetchone() == ("guajie@127.0.0.1", "guajie", 2)
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(20))")
        cur.execute("INSERT INTO t VALUES (1, '城市'), (2, 'b')")
        cur.execute("SELECT name FROM t ORDER BY id")
        assert cur.fetchall() == (("城市",), ("b",))
        cur.execute("SELECT @@character_set_server, @@collation_server")
        assert cur.fetchone() == ("utf8mb4", "utf8mb4_general_ci")


def test_mariadb_requires_password(smoke_mariadb: MariaDBServer) -> None:
    import pymysql

    kwargs = {**smoke_mariadb.connect_kwargs, "password": "wrong"}
    with pytest.raises(pymysql.err.OperationalError, match="Access denied"):
        pymysql.connect(**kwargs)


def test_mariadb_root_only_on_socket(smoke_mariadb: MariaDBServer) -> None:
    import pymysql

    with pytest.raises(pymysql.err.OperationalError, match=r"Access denied|not allowed"):
        pymysql.connect(host="127.0.0.1", port=smoke_mariadb.port, user="root", password="")
    with smoke_mariadb.connect(admin=True) as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM mysql.user WHERE User = ''")
        assert cur.fetchone() == (0,)


def test_mariadb_load_data_local_infile(smoke_mariadb: MariaDBServer, tmp_path: Path) -> None:
    import pymysql

    data = tmp_path / "rows.csv"
    data.write_text("1,a\n2,b\n3,c\n")
    conn = pymysql.connect(**smoke_mariadb.connect_kwargs, autocommit=True, local_infile=True)
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE loaded (id INT, name VARCHAR(5))")
        cur.execute(f"LOAD DATA LOCAL INFILE '{data}' INTO TABLE loaded FIELDS TERMINATED BY ','")
        cur.execute("SELECT COUNT(*), MAX(name) FROM loaded")
        assert cur.fetchone() == (3, "c")


def test_mariadb_extra_databases_with_prefix(smoke_mariadb: MariaDBServer) -> None:
    with smoke_mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE DATABASE guajie_extra")
        cur.execute("DROP DATABASE guajie_extra")


# --------------------------------------------------------------------------------------------
# S3 (moto)


def test_s3_write_and_read(smoke_s3: S3Server) -> None:
    import s3fs

    assert smoke_s3.make_bucket("smoke") == "smoke"
    assert smoke_s3.make_bucket("smoke") == "smoke"  # idempotent
    fs = s3fs.S3FileSystem(**smoke_s3.storage_options, skip_instance_cache=True)
    fs.pipe("smoke/dir/hello.txt", b"hello s3")
    assert fs.cat("smoke/dir/hello.txt") == b"hello s3"
    assert fs.cat_file("smoke/dir/hello.txt", start=6, end=8) == b"s3"
    assert fs.ls("smoke/dir", detail=False) == ["smoke/dir/hello.txt"]


def test_s3_parquet_through_fsspec(smoke_s3: S3Server) -> None:
    bucket = smoke_s3.make_bucket("smoke-parquet")
    table = pa.table({"x": [1, 2, 3]})
    url = f"s3://{bucket}/t.parquet"
    with fsspec.open(url, "wb", **smoke_s3.storage_options) as f:
        pq.write_table(table, f)
    with fsspec.open(url, "rb", **smoke_s3.storage_options) as f:
        assert pq.read_table(f).equals(table)


def test_lost_port_race_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support import servers

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))  # bound, not listening: readiness probes fail fast
        busy = taken.getsockname()[1]
        ports = iter([busy])
        real_free_port = servers.free_port
        monkeypatch.setattr(
            servers, "free_port", lambda host: next(ports, None) or real_free_port()
        )
        with S3Server() as server:
            assert server.port not in (0, busy)
            assert server.client().list_buckets()["Buckets"] == []

        with pytest.raises(RuntimeError, match=r"S3 \(moto\) failed to start: port already in use"):
            S3Server(port=busy).start()


def test_s3_env_and_boto_client(smoke_s3: S3Server) -> None:
    env = smoke_s3.env()
    assert env["AWS_ENDPOINT_URL"] == smoke_s3.endpoint_url
    assert env["AWS_ACCESS_KEY_ID"] == smoke_s3.access_key
    smoke_s3.make_bucket("smoke-boto")
    names = {b["Name"] for b in smoke_s3.client().list_buckets()["Buckets"]}
    assert "smoke-boto" in names


# --------------------------------------------------------------------------------------------
# HTTP files


def _request(url: str, method: str = "GET", **headers: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_http_head_and_ranges(smoke_http: HttpFileServer) -> None:
    url = smoke_http.url("hello.txt")
    status, headers, body = _request(url, "HEAD")
    assert (status, headers["Content-Length"], body) == (200, "20", b"")
    assert headers["Accept-Ranges"] == "bytes"

    status, headers, body = _request(url, Range="bytes=2-5")
    assert (status, headers["Content-Range"], body) == (206, "bytes 2-5/20", b"2345")
    assert _request(url, Range="bytes=15-")[2] == b"fghij"
    assert _request(url, Range="bytes=-3")[2] == b"hij"
    assert _request(url, Range="bytes=18-100")[2] == b"ij"
    status, headers, _ = _request(url, Range="bytes=20-")
    assert (status, headers["Content-Range"]) == (416, "bytes */20")
    assert _request(url, Range="bytes=0-1,4-5")[:1] == (200,)  # multi-range: whole file
    assert _request(smoke_http.url("missing.txt"))[0] == 404


def test_fsspec_http_reads(smoke_http: HttpFileServer) -> None:
    fs = fsspec.filesystem("http", skip_instance_cache=True)
    url = smoke_http.url("hello.txt")
    assert fs.cat(url) == b"0123456789abcdefghij"
    assert fs.cat_file(url, start=10, end=14) == b"abcd"
    assert fs.size(url) == 20
    with fs.open(url, "rb", block_size=4) as f:
        f.seek(16)
        assert f.read(3) == b"ghi"
    assert fs.cat(smoke_http.url("sub/名字 with space.txt")).decode() == "城市数据"
    assert fs.ls(smoke_http.url("sub/"), detail=False) == [
        smoke_http.url("sub/名字 with space.txt")
    ]


def test_parquet_over_http(smoke_http: HttpFileServer, http_root: Path) -> None:
    expected = pq.read_table(http_root / "rows.parquet")
    fs = fsspec.filesystem("http", skip_instance_cache=True)
    url = smoke_http.url("rows.parquet")
    with fs.open(url, "rb") as f:
        parquet = pq.ParquetFile(f)
        assert parquet.metadata.num_rows == 50_000
        assert parquet.metadata.num_row_groups == 5
        assert parquet.read_row_group(3).column("id")[0].as_py() == 30_000
    assert pq.read_table(url, filesystem=fs).equals(expected)
