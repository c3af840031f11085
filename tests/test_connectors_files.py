"""The file connector against real files: a local directory, the same tree in an
S3-compatible server (moto) and behind an HTTP server with byte ranges.

Shared behaviour runs once per backend through the ``city`` fixture; the S3 variant needs the
session's ``s3_server`` and is marked ``servers``.
"""

from __future__ import annotations

import decimal
import gzip
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from guajie.catalog.connectors import connector_class, kind_for_url, open_connector
from guajie.catalog.connectors import filesystems as filesystems_module
from guajie.catalog.connectors.base import CrawledDataset
from guajie.catalog.connectors.files import CRAWL_WORKERS, FileConnector, dataset_name
from guajie.catalog.connectors.filesystems import FileStore
from guajie.catalog.errors import InvalidInputError, SourceError
from guajie.catalog.models import Source
from tests.support.servers import HttpFileServer, S3Server

MONTHS = ("2024-01", "2024-02", "2024-03")
DISTRICTS = (350102, 350103)
STAMP_OLD = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
STAMP_NEW = datetime(2024, 4, 2, 9, 30, tzinfo=UTC)

LICENSES_CSV = """\
id,名称,法定代表人,注册资本,成立日期
1,福州市鼓楼区好运来餐饮有限公司,张伟,100.5,2020-05-01
2,福建闽江物流有限公司,NULL,2000,2019-11-30
3,,李娜,,2021-01-15
4,福州仓山茶叶商行,王芳,35,2022-07-08
"""


# --------------------------------------------------------------------------------------------
# The tree every backend serves


def _set_mtime(path: Path, stamp: datetime) -> None:
    os.utime(path, (stamp.timestamp(), stamp.timestamp()))


def _filings_part(month: str, district: int) -> pa.Table:
    base = MONTHS.index(month) * 10 + DISTRICTS.index(district)
    return pa.table(
        {
            "credit_code": [f"91350100MA{base:02d}{i:04d}X" for i in range(5)],
            "amount": pa.array(
                [decimal.Decimal(f"{base + i}.25") if i != 2 else None for i in range(5)],
                pa.decimal128(12, 2),
            ),
            "filed_on": [date(2024, MONTHS.index(month) + 1, 10 + i) for i in range(5)],
        }
    )


def build_tree(root: Path) -> Path:
    """people.parquet, filings/ (hive), readings/ (CSV parts), three CSV/JSON files."""
    root.mkdir(parents=True, exist_ok=True)
    people = pa.table(
        {
            "id": pa.array([1, 2, 3, 4, 5], pa.int64()),
            "name": ["张伟", "李娜", None, "王芳", "Zoe"],
            "score": [3.5, None, None, 9.0, 1.25],
            "born": [
                date(1990, 1, 2),
                date(1985, 6, 7),
                None,
                date(2001, 12, 31),
                date(1970, 1, 1),
            ],
            "tags": [["a"], [], None, ["b", "c"], ["d"]],
        },
        schema=pa.schema(
            [
                pa.field("id", pa.int64(), nullable=False),
                pa.field("name", pa.string()),
                pa.field("score", pa.float64()),
                pa.field("born", pa.date32()),
                pa.field("tags", pa.list_(pa.string())),
            ]
        ),
    )
    pq.write_table(people, root / "people.parquet", row_group_size=2)
    _set_mtime(root / "people.parquet", STAMP_OLD)

    for month in MONTHS:
        for district in DISTRICTS:
            part_dir = root / "filings" / f"month={month}" / f"district={district}"
            part_dir.mkdir(parents=True)
            pq.write_table(
                _filings_part(month, district), part_dir / "part-0.parquet", row_group_size=2
            )
            _set_mtime(part_dir / "part-0.parquet", STAMP_OLD)
    _set_mtime(root / "filings" / "month=2024-02" / "district=350103" / "part-0.parquet", STAMP_NEW)
    (root / "filings" / "_SUCCESS").write_text("")
    (root / "filings" / "month=2024-01" / ".part-0.parquet.crc").write_bytes(b"crc")

    readings = root / "readings" / "2024"
    readings.mkdir(parents=True)
    for i in range(3):
        rows = "".join(f"{i * 100 + j},站点{j % 7},{j * 0.5}\n" for j in range(100))
        (readings / f"r-{i}.csv").write_text("reading_id,station,value\n" + rows)
        _set_mtime(readings / f"r-{i}.csv", STAMP_OLD)

    (root / "licenses.csv").write_text(LICENSES_CSV)
    with gzip.open(root / "complaints.csv.gz", "wt", encoding="utf-8") as f:
        f.write("complaint_id,phone,content\n")
        for i in range(40):
            f.write(f"{i},1380000{i:04d},噪音扰民 第{i}号\n")
    (root / "events.jsonl").write_text(
        '{"event": "open", "n": 1, "who": {"id": 7, "tags": ["x"]}}\n'
        '{"event": "close", "n": null, "who": {"id": 8, "tags": []}}\n'
        '{"event": "open", "n": 3, "who": null}\n'
    )
    for name in ("licenses.csv", "complaints.csv.gz", "events.jsonl"):
        _set_mtime(root / name, STAMP_OLD)

    # Not data: skipped, or ignored as bookkeeping.
    (root / "README.md").write_text("# city files\n")
    (root / ".hidden.csv").write_text("a\n1\n")
    (root / "_tmp").mkdir()
    (root / "_tmp" / "scratch.csv").write_text("a\n1\n")
    return root


EXPECTED = {
    "people": ("file", "Parquet", "people.parquet"),
    "filings": ("files", "Parquet", "filings"),
    "readings": ("files", "CSV", "readings"),
    "licenses": ("file", "CSV", "licenses.csv"),
    "complaints": ("file", "CSV", "complaints.csv.gz"),
    "events": ("file", "JSON", "events.jsonl"),
}


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tree(tmp_path_factory.mktemp("files") / "city")


@pytest.fixture(scope="module")
def tree_http(tree: Path) -> Iterator[HttpFileServer]:
    with HttpFileServer(tree) as server:
        yield server


@pytest.fixture(scope="module")
def tree_s3(s3_server: S3Server, tree: Path) -> str:
    bucket = s3_server.make_bucket("guajie-files")
    fs = fsspec.filesystem("s3", skip_instance_cache=True, **s3_server.storage_options)
    fs.put(f"{tree}/", f"{bucket}/city/", recursive=True)
    return bucket


@dataclass
class City:
    """One backend serving the tree."""

    backend: str
    url: str
    options: dict[str, str]
    local: Path

    def source(self, url: str | None = None, **options: str) -> Source:
        return Source(
            name="city", kind="file", url=url or self.url, options={**self.options, **options}
        )

    def connector(self, url: str | None = None, **options: str) -> FileConnector:
        return FileConnector(self.source(url, **options))

    def at(self, rel: str) -> str:
        return f"{self.url.rstrip('/')}/{rel}"

    def crawl(self) -> dict[str, CrawledDataset]:
        return {d.name: d for d in self.connector().crawl()}


def _s3_env(monkeypatch: pytest.MonkeyPatch, server: S3Server) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", server.secret_key)


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.servers), "http"])
def city(request: pytest.FixtureRequest, tree: Path, monkeypatch: pytest.MonkeyPatch) -> City:
    if request.param == "local":
        return City("local", f"file://{tree}", {}, tree)
    if request.param == "http":
        server: HttpFileServer = request.getfixturevalue("tree_http")
        return City("http", server.base_url + "/", {}, tree)
    s3: S3Server = request.getfixturevalue("s3_server")
    bucket = request.getfixturevalue("tree_s3")
    _s3_env(monkeypatch, s3)
    return City(
        "s3", f"s3://{bucket}/city", {"endpoint_url": s3.endpoint_url, "region": s3.region}, tree
    )


def _col(dataset: CrawledDataset, name: str) -> Any:
    return next(c for c in dataset.columns if c.name == name)


# --------------------------------------------------------------------------------------------
# URLs, names, registry


def test_urls_are_normalized_and_checked() -> None:
    assert FileConnector.normalize_url("file:///data/city/") == "file:///data/city"
    assert FileConnector.normalize_url("s3://lake/tax/") == "s3://lake/tax"
    assert FileConnector.normalize_url("S3://lake") == "s3://lake"
    assert (
        FileConnector.normalize_url("https://h.example/x.parquet") == "https://h.example/x.parquet"
    )
    assert FileConnector.normalize_url("http://h.example") == "http://h.example/"
    with pytest.raises(InvalidInputError, match="absolute path"):
        FileConnector.normalize_url("file://data/city")
    with pytest.raises(InvalidInputError, match="names no bucket"):
        FileConnector.normalize_url("s3:///prefix")
    for url in ("file:///x", "s3://b/p", "http://h/x.csv", "https://h/x.csv"):
        assert kind_for_url(url) == "file"
    assert connector_class("file") is FileConnector


def test_dataset_names_are_sanitized() -> None:
    assert dataset_name("Tax Filings-2024") == "tax_filings_2024"
    assert dataset_name("parking_events") == "parking_events"
    assert dataset_name("2024") == "_2024"
    assert dataset_name("人口") == "__"


def test_registry_opens_a_file_connector(tree: Path) -> None:
    source = Source(name="city", kind="file", url=f"file://{tree}/people.parquet")
    with open_connector(source) as connector:
        assert isinstance(connector, FileConnector)
        assert connector.check().startswith("Parquet file, 5 rows")


def test_capabilities(tree: Path) -> None:
    caps = FileConnector(Source(name="c", kind="file", url=f"file://{tree}")).capabilities()
    assert caps.dialect is None
    assert (caps.joins, caps.aggregates, caps.window_functions) == (False, False, False)
    assert (caps.limit, caps.projection, caps.filters) == (True, True, True)


# --------------------------------------------------------------------------------------------
# Crawling, on every backend


def test_directory_holds_a_dataset_per_file_and_subdirectory(city: City) -> None:
    found = city.crawl()
    assert set(found) == set(EXPECTED)
    for name, (kind, fmt, rel) in EXPECTED.items():
        d = found[name]
        assert (d.schema, d.kind, d.format) == ("default", kind, fmt), name
        assert d.location == city.at(rel)
    assert found["filings"].partitioning == ["month", "district"]
    assert all(not found[n].partitioning for n in EXPECTED if n != "filings")


def test_check_describes_the_directory(city: City) -> None:
    # 1 + 6 + 3 + 3 data files; README.md skipped; _SUCCESS, .crc, .hidden, _tmp ignored.
    assert city.connector().check() == (
        "directory with 6 datasets (13 files); 1 other files skipped (.md)"
    )


def test_parquet_file_statistics_come_from_the_footer(city: City) -> None:
    people = city.crawl()["people"]
    assert people.row_count == 5
    assert people.size_bytes == (city.local / "people.parquet").stat().st_size
    types = {c.name: (c.type, c.nullable) for c in people.columns}
    assert types == {
        "id": ("int64", False),
        "name": ("string", True),
        "score": ("double", True),
        "born": ("date32[day]", True),
        "tags": ("list<element: string>", True),
    }
    stats = {c.name: c.stats for c in people.columns}
    assert (stats["id"].min, stats["id"].max, stats["id"].null_fraction) == ("1", "5", 0.0)
    assert (stats["name"].min, stats["name"].max) == ("Zoe", "王芳")  # byte order over 3 groups
    assert stats["name"].null_fraction == 0.2
    assert stats["score"].null_fraction == 0.4
    assert (stats["born"].min, stats["born"].max) == ("1970-01-01", "2001-12-31")
    assert stats["tags"].min is None and stats["tags"].null_fraction is None  # nested
    assert all(s.distinct_count is None for s in stats.values())
    assert all(c.samples is None for c in people.columns)  # footers carry no values


def test_hive_partitioned_parquet_directory(city: City) -> None:
    filings = city.crawl()["filings"]
    assert filings.kind == "files"
    assert filings.row_count == 5 * len(MONTHS) * len(DISTRICTS)
    parts = sorted((city.local / "filings").rglob("part-0.parquet"))
    assert len(parts) == 6
    assert filings.size_bytes == sum(p.stat().st_size for p in parts)
    assert [(c.name, c.type) for c in filings.columns] == [
        ("credit_code", "string"),
        ("amount", "decimal128(12, 2)"),
        ("filed_on", "date32[day]"),
        ("month", "string"),
        ("district", "int32"),
    ]
    amount = _col(filings, "amount").stats
    assert (amount.min, amount.max) == ("0.25", "25.25")  # across files and row groups
    assert amount.null_fraction == 0.2
    month = _col(filings, "month").stats
    assert (month.min, month.max, month.distinct_count, month.null_fraction) == (
        "2024-01",
        "2024-03",
        3,
        0.0,
    )
    district = _col(filings, "district").stats
    assert (district.min, district.max, district.distinct_count) == ("350102", "350103", 2)


def test_csv_with_chinese_text_and_nulls(city: City) -> None:
    licenses = city.crawl()["licenses"]
    assert licenses.row_count == 4  # the whole file fitted in the head: exact
    assert licenses.size_bytes == len(LICENSES_CSV.encode())
    assert [(c.name, c.type) for c in licenses.columns] == [
        ("id", "int64"),
        ("名称", "string"),
        ("法定代表人", "string"),
        ("注册资本", "double"),
        ("成立日期", "date32[day]"),
    ]
    name = _col(licenses, "名称")
    assert name.stats.null_fraction == 0.25
    assert name.samples == [
        "福州市鼓楼区好运来餐饮有限公司",
        "福建闽江物流有限公司",
        "福州仓山茶叶商行",
    ]
    person = _col(licenses, "法定代表人")
    assert person.stats.null_fraction == 0.25  # "NULL" is null, as "" is above
    assert person.stats.distinct_count == 3
    assert _col(licenses, "id").samples == ["1", "2", "3", "4"]
    assert _col(licenses, "成立日期").samples is None
    assert (_col(licenses, "成立日期").stats.min, _col(licenses, "成立日期").stats.max) == (
        "2019-11-30",
        "2022-07-08",
    )


def test_gzip_csv(city: City) -> None:
    complaints = city.crawl()["complaints"]
    assert complaints.format == "CSV"
    assert complaints.row_count == 40
    assert complaints.size_bytes == (city.local / "complaints.csv.gz").stat().st_size
    phone = _col(complaints, "phone")
    assert phone.type == "int64"
    assert phone.samples is not None and phone.samples[:2] == ["13800000000", "13800000001"]
    assert len(_col(complaints, "content").samples) == 40


def test_directory_of_csv_parts(city: City) -> None:
    readings = city.crawl()["readings"]
    assert readings.kind == "files" and readings.format == "CSV"
    assert [(c.name, c.type) for c in readings.columns] == [
        ("reading_id", "int64"),
        ("station", "string"),
        ("value", "double"),
    ]
    # Only the first part is read; the count is an estimate from its bytes per row.
    assert readings.row_count is not None and abs(readings.row_count - 300) <= 30
    files = sorted((city.local / "readings").rglob("*.csv"))
    assert readings.size_bytes == sum(p.stat().st_size for p in files)
    assert _col(readings, "station").samples == [f"站点{i}" for i in range(7)]
    assert _col(readings, "reading_id").stats.min is None  # not the whole dataset


def test_json_lines(city: City) -> None:
    events = city.crawl()["events"]
    assert [(c.name, c.type) for c in events.columns] == [
        ("event", "string"),
        ("n", "int64"),
        ("who", "struct<id: int64, tags: list<item: string>>"),
    ]
    assert events.row_count == 3
    assert _col(events, "event").samples == ["open", "close"]
    assert _col(events, "n").stats.null_fraction == pytest.approx(1 / 3, abs=1e-6)


def test_last_modified_is_the_newest_file_in_utc(city: City) -> None:
    found = city.crawl()
    for d in found.values():
        assert d.last_modified is not None and d.last_modified.utcoffset() is not None
        assert d.last_modified.tzinfo == UTC
    if city.backend == "s3":  # object stores keep the upload time
        assert datetime.now(UTC) - found["people"].last_modified < (datetime.now(UTC) - STAMP_NEW)
    else:
        assert found["people"].last_modified == STAMP_OLD
        assert found["filings"].last_modified == STAMP_NEW


def test_single_file_source(city: City) -> None:
    connector = city.connector(city.at("filings/month=2024-02/district=350103/part-0.parquet"))
    assert connector.check().startswith("Parquet file, 5 rows")
    (only,) = list(connector.crawl())
    assert (only.name, only.kind, only.row_count, only.partitioning) == ("part_0", "file", 5, [])


def test_a_partitioned_directory_is_itself_one_dataset(city: City) -> None:
    connector = city.connector(city.at("filings"))
    assert connector.check() == "directory with 1 datasets (6 files)"
    (filings,) = list(connector.crawl())
    assert (filings.name, filings.kind, filings.row_count) == ("filings", "files", 30)
    assert filings.location == city.at("filings")
    assert filings.partitioning == ["month", "district"]


def test_sample_reads_the_first_rows(city: City) -> None:
    connector = city.connector()
    found = city.crawl()
    people = connector.sample(found["people"], ["name", "id", "missing"], limit=3)
    assert people == {"name": ["张伟", "李娜"], "id": ["1", "2", "3"]}
    filings = connector.sample(found["filings"], ["credit_code", "month"], limit=2)
    assert filings == {
        "credit_code": ["91350100MA000000X", "91350100MA000001X"],
        "month": ["2024-01", "2024-01"],
    }
    licenses = connector.sample(found["licenses"], ["名称"], limit=2)
    assert licenses == {"名称": ["福州市鼓楼区好运来餐饮有限公司", "福建闽江物流有限公司"]}


def test_dataset_for_pushes_projection_and_partition_filters(city: City) -> None:
    connector = city.connector()
    filings = city.crawl()["filings"]
    dataset = connector.dataset_for(
        filings.location or "", filings.format or "", filings.partitioning
    )
    assert isinstance(dataset, ds.Dataset)
    assert dataset.schema.field("district").type == pa.int32()
    assert dataset.count_rows() == 30
    february = dataset.to_table(
        columns=["credit_code", "district"],
        filter=(ds.field("month") == "2024-02") & (ds.field("district") == 350103),
    )
    assert february.num_rows == 5
    assert set(february.column("district").to_pylist()) == {350103}
    # Partition pruning: only the two files under month=2024-02 are fragments to read.
    fragments = list(dataset.get_fragments(filter=ds.field("month") == "2024-02"))
    assert len(fragments) == 2

    complaints = connector.dataset_for(city.at("complaints.csv.gz"), "CSV", [])
    assert complaints.to_table(columns=["phone"]).num_rows == 40
    events = connector.dataset_for(city.at("events.jsonl"), "JSON", [])
    assert events.count_rows(filter=ds.field("event") == "open") == 2


# --------------------------------------------------------------------------------------------
# Local-only behaviour


def _connector(url: str, **options: str) -> FileConnector:
    return FileConnector(Source(name="files", kind="file", url=url, options=options))


def test_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "y.parquet"
    for action in ("check", "crawl"):
        with pytest.raises(SourceError) as info:
            connector = _connector(f"file://{missing}")
            connector.check() if action == "check" else list(connector.crawl())
        message = str(info.value)
        assert f"the file or directory {missing} does not exist" in message
        assert "Check the path" in message
        assert "file://" not in message.split("Check")[0]


def test_unknown_format_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "report.xlsx").write_bytes(b"PK\x03\x04")
    (tmp_path / "export").write_text("a,b\n1,2\n")
    with pytest.raises(SourceError, match=r"\.xlsx is not a format guajie reads") as info:
        _connector(f"file://{tmp_path}/report.xlsx").check()
    assert "Use Parquet, CSV or JSON lines, or set --format" in str(info.value)
    with pytest.raises(SourceError, match="no file extension"):
        _connector(f"file://{tmp_path}/export").check()
    # The format option settles it.
    (export,) = list(_connector(f"file://{tmp_path}/export", format="csv").crawl())
    assert (export.name, export.format, export.row_count) == ("export", "CSV", 1)
    with pytest.raises(SourceError, match="format option 'xls' is not a format"):
        _connector(f"file://{tmp_path}/export", format="xls").check()


def test_a_damaged_parquet_file_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "broken.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(SourceError, match=r"broken\.parquet: it is not a Parquet file"):
        list(_connector(f"file://{tmp_path}").crawl())


def test_gb18030_csv_is_detected_and_encoding_can_be_set(tmp_path: Path) -> None:
    (tmp_path / "gbk.csv").write_bytes("区县,人口\n鼓楼区,68\n台江区,44\n".encode("gb18030"))
    (table,) = list(_connector(f"file://{tmp_path}/gbk.csv").crawl())
    assert [c.name for c in table.columns] == ["区县", "人口"]
    assert _col(table, "区县").samples == ["鼓楼区", "台江区"]
    with pytest.raises(SourceError, match="it is not utf-8 text"):
        list(_connector(f"file://{tmp_path}/gbk.csv", encoding="utf-8").crawl())
    dataset = _connector(f"file://{tmp_path}").dataset_for(f"file://{tmp_path}/gbk.csv", "CSV", [])
    assert dataset.to_table().column("区县").to_pylist() == ["鼓楼区", "台江区"]


def test_a_parquet_file_written_again_is_read_with_its_new_columns(tmp_path: Path) -> None:
    # Footers are read once per file version: a rewrite must not be read with the old one.
    path = tmp_path / "permits.parquet"
    pq.write_table(pa.table({"id": [1, 2]}), path)
    connector = _connector(f"file://{tmp_path}")
    assert connector.dataset_for(f"file://{path}", "Parquet", []).schema.names == ["id"]
    assert connector.dataset_for(f"file://{path}", "Parquet", []).schema.names == ["id"]
    pq.write_table(pa.table({"id": [1, 2], "district": ["鼓楼区", "台江区"]}), path)
    dataset = connector.dataset_for(f"file://{path}", "Parquet", [])
    assert dataset.schema.names == ["id", "district"]
    assert dataset.to_table().column("district").to_pylist() == ["鼓楼区", "台江区"]


def test_tsv_semicolons_and_empty_files(tmp_path: Path) -> None:
    (tmp_path / "a.tsv").write_text("x\ty\n1\tz\n")
    (tmp_path / "b.csv").write_text("x;y\n1;z\n")
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header_only.csv").write_text("x,y\n")
    found = {d.name: d for d in _connector(f"file://{tmp_path}").crawl()}
    assert [c.type for c in found["a"].columns] == ["int64", "string"]
    assert [c.name for c in found["b"].columns] == ["x;y"]
    assert found["empty"].columns == [] and found["empty"].row_count == 0
    assert [(c.name, c.type) for c in found["header_only"].columns] == [
        ("x", "string"),
        ("y", "string"),
    ]
    (b,) = list(_connector(f"file://{tmp_path}/b.csv", delimiter=";").crawl())
    assert [c.name for c in b.columns] == ["x", "y"]


@pytest.mark.parametrize("codec", ["bz2", "zstd", "lz4"])
def test_other_compressions(tmp_path: Path, codec: str) -> None:
    ext = {"bz2": ".bz2", "zstd": ".zstd", "lz4": ".lz4"}[codec]
    path = tmp_path / f"calls.csv{ext}"
    text = "call_id,district\n" + "".join(f"{i},鼓楼区\n" for i in range(30))
    with pa.CompressedOutputStream(str(path), codec) as out:
        out.write(text.encode())
    connector = _connector(f"file://{path}")
    (calls,) = list(connector.crawl())
    assert (calls.name, calls.row_count) == ("calls", 30)
    assert _col(calls, "district").samples == ["鼓楼区"]
    assert connector.dataset_for(f"file://{path}", "CSV", []).count_rows() == 30


def test_json_arrays_and_bad_json(tmp_path: Path) -> None:
    (tmp_path / "small.json").write_text('[{"a": 1, "b": "x"}, {"a": 2, "b": null}]')
    (tmp_path / "bad.jsonl").write_text('{"a": 1}\nnot json\n')
    (small,) = list(_connector(f"file://{tmp_path}/small.json").crawl())
    assert [(c.name, c.type) for c in small.columns] == [("a", "int64"), ("b", "string")]
    assert small.row_count == 2
    with pytest.raises(SourceError, match=r"bad\.jsonl: its first lines are not JSON lines"):
        list(_connector(f"file://{tmp_path}/bad.jsonl").crawl())


def test_large_csv_head_is_bounded_and_the_count_estimated(tmp_path: Path) -> None:
    path = tmp_path / "big.csv.gz"
    rows = 200_000
    with gzip.open(path, "wt") as f:
        f.write("id,plate,fee\n")
        for i in range(rows):
            f.write(f"{100000 + i},闽A{i % 99999:05d},{i % 50}.5\n")
    reads: list[int] = []
    original = FileStore.head

    def counting_head(self: FileStore, entry: Any, length: int) -> Any:
        data, complete, stored = original(self, entry, length)
        reads.append(len(data))
        return data, complete, stored

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(FileStore, "head", counting_head)
        (big,) = list(_connector(f"file://{path}").crawl())
    assert reads == [1 << 20]  # one bounded head read, not the whole file
    assert big.row_count is not None and abs(big.row_count - rows) / rows < 0.1
    assert big.row_count % 1000 == 0  # rounded, so it reads as an estimate
    assert _col(big, "plate").stats.min is None
    assert len(_col(big, "plate").samples) == 50


def test_schema_evolution_across_parts(tmp_path: Path) -> None:
    parts = tmp_path / "visits"
    parts.mkdir()
    pq.write_table(pa.table({"id": [1, 2]}), parts / "a.parquet")
    pq.write_table(pa.table({"id": [3, 4], "note": ["x", "y"]}), parts / "b.parquet")
    (visits,) = list(_connector(f"file://{tmp_path}").crawl())
    assert [(c.name, c.type) for c in visits.columns] == [("id", "int64"), ("note", "string")]
    assert _col(visits, "note").stats.null_fraction == 0.5
    assert (_col(visits, "id").stats.min, _col(visits, "id").stats.max) == ("1", "4")


def test_name_collisions_get_a_suffix(tmp_path: Path) -> None:
    pq.write_table(pa.table({"x": [1]}), tmp_path / "Population.parquet")
    (tmp_path / "population.csv").write_text("x\n1\n")
    (tmp_path / "2024 Report.csv").write_text("x\n1\n")
    names = sorted(d.name for d in _connector(f"file://{tmp_path}").crawl())
    assert names == ["_2024_report", "population", "population_2"]


def test_mixed_subdirectory_keeps_its_main_format(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    (lake / "trips").mkdir(parents=True)
    for i in range(3):
        pq.write_table(pa.table({"x": [i]}), lake / "trips" / f"part-{i}.parquet")
    (lake / "trips" / "schema.json").write_text('{"x": "int"}\n')
    connector = _connector(f"file://{lake}")
    assert connector.check() == "directory with 1 datasets (3 files); 1 other files skipped (.json)"
    (trips,) = list(connector.crawl())
    assert (trips.format, trips.row_count) == ("Parquet", 3)


def test_footers_are_read_concurrently_and_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = tmp_path / "lake"
    for day in range(64):
        part = lake / "trips" / f"day={day:02d}"
        part.mkdir(parents=True)
        pq.write_table(pa.table({"x": [day]}), part / "part-0.parquet")
    lock = threading.Lock()
    state = {"now": 0, "most": 0, "calls": 0}
    original = FileStore.tail

    def slow_tail(self: FileStore, entry: Any, length: int) -> bytes:
        with lock:
            state["now"] += 1
            state["calls"] += 1
            state["most"] = max(state["most"], state["now"])
        try:
            time.sleep(0.01)
            return original(self, entry, length)
        finally:
            with lock:
                state["now"] -= 1

    monkeypatch.setattr(FileStore, "tail", slow_tail)
    (trips,) = list(_connector(f"file://{lake}").crawl())
    assert trips.row_count == 64 and trips.partitioning == ["day"]
    assert _col(trips, "day").type == "int32"
    assert state["calls"] == 64
    assert 1 < state["most"] <= CRAWL_WORKERS


def test_hundreds_of_partitions_crawl_quickly(tmp_path: Path) -> None:
    table = pa.table({"n": pa.array(range(100), pa.int64()), "s": [f"v{i}" for i in range(100)]})
    lake = tmp_path / "lake"
    for i in range(300):
        part = lake / "events" / f"day={i // 24:03d}" / f"hour={i % 24:02d}"
        part.mkdir(parents=True)
        pq.write_table(table, part / "part-0.parquet", row_group_size=25)
    started = time.perf_counter()
    (events,) = list(_connector(f"file://{lake}").crawl())
    elapsed = time.perf_counter() - started
    assert events.row_count == 30_000
    assert events.partitioning == ["day", "hour"]
    assert _col(events, "hour").stats.distinct_count == 24
    assert elapsed < 10, f"crawling 300 partitions took {elapsed:.1f}s"


# --------------------------------------------------------------------------------------------
# S3 errors and credentials


@pytest.mark.servers
def test_s3_missing_bucket_is_a_clear_error(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    _s3_env(monkeypatch, s3_server)
    connector = _connector("s3://no-such-bucket/tax", endpoint_url=s3_server.endpoint_url)
    with pytest.raises(SourceError) as info:
        connector.check()
    assert f"the bucket no-such-bucket does not exist at {s3_server.endpoint_url}" in str(
        info.value
    )


@pytest.mark.servers
def test_s3_missing_prefix_is_a_clear_error(
    s3_server: S3Server, tree_s3: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _s3_env(monkeypatch, s3_server)
    connector = _connector(f"s3://{tree_s3}/nothing-here", endpoint_url=s3_server.endpoint_url)
    with pytest.raises(
        SourceError, match=re.escape("nothing exists at s3://guajie-files/nothing-here")
    ):
        connector.check()


@pytest.mark.servers
def test_s3_unreachable_endpoint_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    from tests.support.servers import free_port

    endpoint = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(SourceError) as info:
        _connector("s3://lake/tax", endpoint_url=endpoint).check()
    assert f"cannot reach the S3 endpoint {endpoint}" in str(info.value)
    assert "endpoint_url" in str(info.value)


@pytest.mark.servers
def test_s3_password_is_the_secret_key(
    s3_server: S3Server, tree_s3: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GUAJIE_TEST_S3_SECRET", s3_server.secret_key)
    source = Source(
        name="lake",
        kind="file",
        url=f"s3://{tree_s3}/city/people.parquet",
        password_env="GUAJIE_TEST_S3_SECRET",
        options={"endpoint_url": s3_server.endpoint_url, "access_key_id": s3_server.access_key},
    )
    with open_connector(source) as connector:
        assert connector.check().startswith("Parquet file, 5 rows")
    no_key_id = source.model_copy(update={"options": {"endpoint_url": s3_server.endpoint_url}})
    with (
        pytest.raises(SourceError, match="no access_key_id option"),
        open_connector(no_key_id) as c,
    ):
        c.check()
    # The endpoint may also come from the environment.
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint_url)
    from_env = source.model_copy(update={"options": {"access_key_id": s3_server.access_key}})
    with open_connector(from_env) as connector:
        assert connector.check().startswith("Parquet file")


def test_missing_s3fs_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(filesystems_module, "module_available", lambda name: name != "s3fs")
    with pytest.raises(SourceError) as info:
        _connector("s3://lake/tax").check()
    assert "needs the Python package s3fs" in str(info.value)
    assert "pip install s3fs" in str(info.value)


# --------------------------------------------------------------------------------------------
# HTTP errors and the generated sample city


def test_http_404_is_a_clear_error(tree_http: HttpFileServer) -> None:
    url = tree_http.url("nope/filings.parquet")
    with pytest.raises(SourceError, match=re.escape(f"{url} answered 404 Not Found")):
        _connector(url).check()


def test_http_unreachable_host_is_a_clear_error() -> None:
    from tests.support.servers import free_port

    base = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(SourceError, match=re.escape(f"cannot reach {base}")):
        _connector(f"{base}/x.parquet").check()


def test_sample_city_over_http(http_server: HttpFileServer, city_dir: Path) -> None:
    local = {d.name: d for d in _connector(f"file://{city_dir}/transport").crawl()}
    parts = list((city_dir / "tax" / "filings").rglob("*.parquet"))
    months = {p.parent.name for p in parts}
    tax = _connector(http_server.url("tax"))
    assert tax.check() == f"directory with 1 datasets ({len(parts)} files)"
    (filings,) = list(tax.crawl())
    expected_rows = ds.dataset(city_dir / "tax" / "filings", partitioning="hive").count_rows()
    assert (filings.name, filings.kind, filings.format) == ("filings", "files", "Parquet")
    assert filings.row_count == expected_rows
    assert filings.partitioning == ["month"]
    assert _col(filings, "month").stats.distinct_count == len(months)
    transport = {d.name: d for d in _connector(http_server.url("transport")).crawl()}
    assert set(transport) == {"parking_lots", "parking_events"} == set(local)
    lots = transport["parking_lots"]
    assert lots.row_count == pacsv.read_csv(city_dir / "transport" / "parking_lots.csv").num_rows
    assert [c.type for c in lots.columns] == [c.type for c in local["parking_lots"].columns]
    assert lots.location == http_server.url("transport/parking_lots.csv")
