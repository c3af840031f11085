"""Writing results back into the pool (反哺): registration, lineage, sensitivity, modes, faults.

Every fault (name clash, pool not writable, source failure mid-run, disk full, interrupt,
a failure after publication) must end the same way: a clear error, a failed run record
and FAIL event, and nothing half-written — no file in the pool, no dataset, no lineage.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from guajie.api import Session
from guajie.catalog.errors import ConflictError, InvalidInputError
from guajie.catalog.ledger import Catalog
from guajie.catalog.models import PIKind
from guajie.federation.errors import ExecutionError
from guajie.lineage.governance import Governance
from guajie.lineage.pool import LocalPool, PoolError
from guajie.lineage.recorder import rerun, run_query
from tests.lineage_support import (
    copy_workspace,
    files_under,
    lineage_rows,
    read_events,
    register_city,
    validate_event,
)
from tests.support.policies import open_scenario

SCENARIOS = Path(__file__).parents[1] / "sample_sources" / "scenarios"
POLICY = (SCENARIOS / "policy_direct.sql").read_text()
PEOPLE = (
    "SELECT person_id, name, phone, district_code, subsidy_type, monthly_amount "
    "FROM civil.subsidy_recipient WHERE monthly_amount > 300"
)


@pytest.fixture(scope="module")
def base(city_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("writeback") / "ws"
    register_city(home, city_dir)
    return home


@pytest.fixture
def ws(base: Path, tmp_path: Path) -> Path:
    return copy_workspace(
        base, tmp_path / "ws", openlineage={"transport": "file", "path": "events.jsonl"}
    )


@pytest.fixture
def session(ws: Path):
    s = Session(Catalog.open(str(ws)))
    yield s
    s.close()


def _runs(session: Session, **filters):
    return Governance(session.catalog).runs(**filters)


def _assert_nothing_written(session: Session, ws: Path, before: dict[str, int], name: str):
    """The failed run left only its record and events."""
    assert files_under(ws / "pool") == []
    with session.catalog.store.read() as txn:
        assert txn.get_dataset(f"pool.default.{name}") is None
    assert lineage_rows(session.catalog) == before
    (run,) = _runs(session, limit=1)
    assert run.status == "failed" and run.error
    events = read_events(ws / "events.jsonl")
    assert [e["eventType"] for e in events[-2:]] == ["START", "FAIL"]
    for event in events[-2:]:
        validate_event(event)
    assert events[-1]["run"]["facets"]["errorMessage"]["message"] == run.error
    return run


def test_write_back_registers_a_queryable_dataset_with_lineage(session, ws):
    open_scenario(session.catalog, "policy_direct")
    outcome = run_query(session, POLICY, into="eligible", scenario="policy_direct")
    expected = session.query(POLICY)
    assert outcome.rows == expected.num_rows > 0
    dataset = outcome.dataset
    assert dataset is not None and dataset.qualified_name == "pool.default.eligible"
    assert [c.name for c in dataset.columns] == expected.column_names
    assert dataset.row_count == expected.num_rows and dataset.format == "Parquet"
    assert "derived" in dataset.tags
    # One complete Parquet part in the dataset's directory, nothing hidden left over.
    assert files_under(ws / "pool") == [f"eligible/part-{outcome.run.id}.parquet"]
    # The pool is an ordinary file source and the dataset is queryable at once.
    source = session.catalog.source("pool")
    assert source.kind == "file" and source.url == f"file://{(ws / 'pool').resolve()}"
    again = session.query("SELECT * FROM pool.eligible ORDER BY tax_h1 DESC, credit_code")
    assert again.to_pylist() == expected.to_pylist()
    # The run record: who, what, how much came from each source.
    run = outcome.run
    assert (
        run.status == "completed" and run.scenario == "policy_direct" and run.job == "policy_direct"
    )
    assert run.inputs == [
        "hrss.main.social_insurance_monthly",
        "market.main.enterprise",
        "tax.default.filings",
    ]
    assert set(run.fetched) == {"market", "hrss", "tax"}
    assert all(v["rows"] > 0 and v["bytes"] > 0 for v in run.fetched.values())
    # Column lineage and recipe.
    shown = Governance(session.catalog).show("pool.eligible")
    assert shown["columns"]["tax_h1"] == [
        {
            "dataset": "tax.default.filings",
            "column": "total_tax",
            "type": "DIRECT",
            "subtype": "AGGREGATION",
            "masking": True,
        }
    ]
    assert shown["columns"]["name"][0]["subtype"] == "IDENTITY"
    assert {"column": "status", "subtype": "FILTER"}.items() <= {
        "column": "status",
        "subtype": "FILTER",
    }.items()
    assert any(
        e["dataset"] == "market.main.enterprise" and e["column"] == "status"
        for e in shown["dataset_lineage"]
    )
    assert shown["recipe"]["sql"] == run.sql and shown["recipe"]["scenario"] == "policy_direct"
    assert shown["upstream"] == run.inputs
    events = read_events(ws / "events.jsonl")
    assert [e["eventType"] for e in events if e["run"]["runId"] == run.id] == ["START", "COMPLETE"]


def test_sensitivity_flows_through_copies_and_min_max_but_not_counts(session):
    session.catalog.update("civil.subsidy_recipient.phone", sensitivity="phone")  # confirmed
    sql = (
        "SELECT district_code, max(name) AS a_name, count(person_id) AS people, "
        "min(phone) AS a_phone, sum(monthly_amount) AS total "
        "FROM civil.subsidy_recipient GROUP BY district_code"
    )
    outcome = run_query(session, sql, into="by_district")
    columns = {c.name: c for c in outcome.dataset.columns}
    assert columns["a_name"].sensitivity is PIKind.NAME
    assert columns["a_name"].sensitivity_source == "suggested"  # as its origin: unconfirmed
    assert "civil.main.subsidy_recipient.name (aggregation)" in columns["a_name"].sensitivity_reason
    assert columns["a_phone"].sensitivity is PIKind.PHONE
    assert columns["a_phone"].sensitivity_source == "steward"  # the origin was confirmed
    assert columns["people"].sensitivity is None
    assert columns["total"].sensitivity is None
    copied = run_query(session, PEOPLE, into="people").dataset
    kinds = {c.name: c.sensitivity for c in copied.columns}
    assert kinds == {
        "person_id": PIKind.ID_NUMBER,
        "name": PIKind.NAME,
        "phone": PIKind.PHONE,
        "district_code": None,
        "subsidy_type": None,
        "monthly_amount": None,
    }
    # And onwards through a second derivation.
    onward = run_query(session, "SELECT upper(name) AS who FROM pool.people", into="onward")
    assert onward.dataset.columns[0].sensitivity is PIKind.NAME
    flows = Governance(session.catalog).pii()
    by_column = {f"{c['dataset']}.{c['column']}": c for c in flows["columns"]}
    name_flow = by_column["civil.main.subsidy_recipient.name"]
    assert {(f["dataset"], f["column"]) for f in name_flow["flows_to"]} == {
        ("pool.default.by_district", "a_name"),
        ("pool.default.people", "name"),
    }
    assert by_column["civil.main.subsidy_recipient.person_id"]["used_without_values"] == [
        {"dataset": "pool.default.by_district", "column": "people", "subtype": "AGGREGATION"}
    ]
    assert by_column["pool.default.people.name"]["flows_to"] == [
        {"dataset": "pool.default.onward", "column": "who", "subtype": "TRANSFORMATION"}
    ]


def test_name_clash_fails_clearly_and_replace_and_append_work(session, ws):
    first = run_query(session, PEOPLE, into="people")
    before = lineage_rows(session.catalog)
    with pytest.raises(ConflictError, match=r"pool\.default\.people already exists.*--replace"):
        run_query(session, PEOPLE, into="people")
    assert files_under(ws / "pool") == [f"people/part-{first.run.id}.parquet"]
    assert lineage_rows(session.catalog) == before
    (failed,) = _runs(session, limit=1)
    assert failed.status == "failed" and "already exists" in failed.error
    assert read_events(ws / "events.jsonl")[-1]["eventType"] == "FAIL"

    replaced = run_query(
        session, PEOPLE + " AND monthly_amount > 600", into="people", mode="replace"
    )
    assert not replaced.created
    assert files_under(ws / "pool") == [f"people/part-{replaced.run.id}.parquet"]
    assert replaced.dataset.row_count == replaced.rows < first.rows

    appended = run_query(session, PEOPLE, into="people", mode="append")
    assert sorted(files_under(ws / "pool")) == sorted(
        [f"people/part-{replaced.run.id}.parquet", f"people/part-{appended.run.id}.parquet"]
    )
    assert appended.dataset.row_count == replaced.rows + first.rows
    count = session.query("SELECT count(*) AS n FROM pool.people").column("n")[0].as_py()
    assert count == replaced.rows + first.rows
    recipe = Governance(session.catalog).show("pool.people")["recipe"]
    assert [c["mode"] for c in recipe["contributions"]] == ["replace", "append"]

    with pytest.raises(InvalidInputError, match=r"Cannot append to pool\.default\.people"):
        run_query(session, "SELECT name FROM civil.subsidy_recipient", into="people", mode="append")
    assert session.catalog.dataset("pool.people").row_count == count


def test_rerun_rebuilds_from_the_recorded_sql(session, ws):
    open_scenario(session.catalog, "subsidy_check")
    run_query(session, PEOPLE, into="people", scenario="subsidy_check")
    run_query(session, PEOPLE + " AND monthly_amount > 600", into="people", mode="append")
    want = session.query("SELECT * FROM pool.people ORDER BY person_id, monthly_amount")
    outcomes = rerun(session, "pool.people")
    assert [o.run.mode for o in outcomes] == ["replace", "append"]
    assert outcomes[0].run.scenario == "subsidy_check"
    got = session.query("SELECT * FROM pool.people ORDER BY person_id, monthly_amount")
    assert got.to_pylist() == want.to_pylist()
    with pytest.raises(Exception, match="not written back"):
        rerun(session, "pool.nothing_here")


def test_rerun_of_appends_publishes_the_rebuilt_dataset_once(session, ws):
    open_scenario(session.catalog, "subsidy_check")
    first = run_query(session, PEOPLE, into="people", scenario="subsidy_check")
    second = run_query(session, PEOPLE + " AND monthly_amount > 600", into="people", mode="append")
    want = session.query("SELECT * FROM pool.people ORDER BY person_id, monthly_amount")
    outcomes = rerun(session, "pool.people")
    new_ids = [o.run.id for o in outcomes]
    # One directory swap: the dataset holds exactly the rebuilt parts, nothing staged is left.
    assert files_under(ws / "pool") == sorted(f"people/part-{i}.parquet" for i in new_ids)
    dataset = session.catalog.dataset("pool.people")
    assert dataset.row_count == want.num_rows == first.rows + second.rows
    assert dataset.column("phone").sensitivity is PIKind.PHONE
    with session.catalog.store.read() as txn:
        from guajie.lineage.runs import RunTables

        recipe = RunTables(txn).recipe("pool.default.people")
    assert [c["run_id"] for c in recipe["contributions"]] == new_ids
    assert [c["mode"] for c in recipe["contributions"]] == ["replace", "append"]
    events = [e for e in read_events(ws / "events.jsonl") if e["run"]["runId"] in new_ids]
    assert [e["eventType"] for e in events] == ["START", "START", "COMPLETE", "COMPLETE"]
    for event in events:
        validate_event(event)


def test_a_rerun_that_fails_midway_leaves_the_dataset_as_it_was(session, ws, city_dir, tmp_path):
    copy = tmp_path / "civil_copy.sqlite"
    copy.write_bytes((city_dir / "civil.sqlite").read_bytes())
    session.catalog.add_source("civil2", f"sqlite://{copy}")
    session.catalog.crawl(["civil2"])
    run_query(session, PEOPLE, into="people")
    run_query(
        session,
        PEOPLE.replace("civil.", "civil2.") + " AND monthly_amount > 600",
        into="people",
        mode="append",
    )
    before_files = files_under(ws / "pool")
    before = session.query("SELECT * FROM pool.people ORDER BY person_id, monthly_amount")
    copy.unlink()  # the second contribution's source is gone
    with pytest.raises(Exception, match="civil2"):
        rerun(session, "pool.people")
    assert files_under(ws / "pool") == before_files
    after = session.query("SELECT * FROM pool.people ORDER BY person_id, monthly_amount")
    assert after.to_pylist() == before.to_pylist()
    rebuilt = _runs(session, status="failed")
    assert len(rebuilt) == 2
    by_mode = {r.mode: r for r in rebuilt}
    assert by_mode["append"].error and "civil2" in by_mode["append"].error
    assert by_mode["replace"].error.startswith("Not published: the rebuild stopped")


def test_crawling_the_pool_finds_the_same_datasets(session):
    outcome = run_query(session, PEOPLE, into="people")
    report = session.catalog.crawl(["pool"])[0]
    assert report.vanished == [] and report.added == []
    dataset = session.catalog.dataset("pool.people")
    assert dataset.row_count == outcome.rows
    assert dataset.column("phone").sensitivity is PIKind.PHONE  # kept across the crawl
    assert (
        session.query("SELECT count(*) AS n FROM pool.people").column("n")[0].as_py()
        == outcome.rows
    )


def test_invalid_names_are_refused():
    from guajie.lineage.recorder import target_name

    assert target_name("pool.default.ok_1") == "ok_1" == target_name("pool.ok_1")
    for bad in ("Bad", "1abc", "market.enterprise", "a-b", ""):
        with pytest.raises(InvalidInputError):
            target_name(bad)


# -- faults ----------------------------------------------------------------------------


def test_pool_not_writable(base, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the pool should be")
    ws = copy_workspace(
        base,
        tmp_path / "ws",
        pool=str(blocker / "pool"),
        openlineage={"transport": "file", "path": "events.jsonl"},
    )
    with Session(Catalog.open(str(ws))) as session:
        before = lineage_rows(session.catalog)
        with pytest.raises(PoolError, match="pool"):
            run_query(session, PEOPLE, into="people")
        run = _assert_nothing_written(session, ws, before, "people")
        assert "pool" in run.error
        assert session.catalog.sources() and "pool" not in [
            s.name for s in session.catalog.sources()
        ]


@pytest.fixture
def overflowing(ws: Path, tmp_path: Path) -> Path:
    """A SQLite source whose 150,000th row makes abs() overflow inside SQLite."""
    path = tmp_path / "lite.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (id INTEGER, x INTEGER)")
    con.executemany(
        "INSERT INTO t VALUES (?, ?)",
        [(i, -9223372036854775808 if i == 150_000 else i) for i in range(200_000)],
    )
    con.commit()
    con.close()
    catalog = Catalog.open(str(ws))
    catalog.add_source("lite", f"sqlite://{path}")
    catalog.crawl(["lite"])
    catalog.workspace.close()
    return path


def test_source_failure_mid_run(overflowing, session, ws, monkeypatch):
    written: list[int] = []
    real = LocalPool.write_part

    def counting(self, path, reader, on_batch=None):
        return real(self, path, reader, on_batch=written.append)

    monkeypatch.setattr(LocalPool, "write_part", counting)
    before = lineage_rows(session.catalog)
    with pytest.raises(ExecutionError, match=r"Source 'lite'.*integer overflow"):
        run_query(session, "SELECT id, abs(x) AS y FROM lite.t", into="overflow")
    assert sum(written) >= 65_536  # rows were being written when the source failed
    run = _assert_nothing_written(session, ws, before, "overflow")
    assert run.fetched["lite"]["rows"] >= 65_536


def test_interrupted_write_leaves_nothing(session, ws, monkeypatch):
    calls = {"n": 0}
    real = pq.ParquetWriter.write_batch

    def interrupt(self, batch, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:  # the file is open and its header written
            raise KeyboardInterrupt
        return real(self, batch, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetWriter, "write_batch", interrupt)
    before = lineage_rows(session.catalog)
    with pytest.raises(KeyboardInterrupt):
        run_query(session, "SELECT * FROM hrss.social_insurance_monthly", into="interrupted")
    run = _assert_nothing_written(session, ws, before, "interrupted")
    assert run.error == "Interrupted."


def test_failure_after_publication_restores_the_previous_version(session, ws, monkeypatch):
    first = run_query(session, PEOPLE, into="people")
    before = lineage_rows(session.catalog)
    real = LocalPool.publish

    def publish_then_fail(self, stage):
        real(self, stage)
        raise OSError("the catalog commit failed")

    monkeypatch.setattr(LocalPool, "publish", publish_then_fail)
    with pytest.raises(OSError):
        run_query(session, PEOPLE + " AND monthly_amount > 600", into="people", mode="replace")
    assert files_under(ws / "pool") == [f"people/part-{first.run.id}.parquet"]
    assert lineage_rows(session.catalog) == before
    assert session.catalog.dataset("pool.people").row_count == first.rows
    assert _runs(session, limit=1)[0].status == "failed"


@pytest.fixture
def tiny_disk(tmp_path: Path):
    """A 128 KiB tmpfs: a real filesystem that runs out of space."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=128k", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, (
        f"the disk-full test mounts a tmpfs and needs root: {done.stderr.strip()}"
    )
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_disk_full(base, tmp_path, tiny_disk):
    ws = copy_workspace(
        base,
        tmp_path / "ws",
        pool=str(tiny_disk / "pool"),
        openlineage={"transport": "file", "path": "events.jsonl"},
    )
    with Session(Catalog.open(str(ws))) as session:
        before = lineage_rows(session.catalog)
        big = (
            "SELECT s.*, e.name, e.legal_rep_id_number FROM hrss.social_insurance_monthly s "
            "JOIN market.enterprise e ON e.credit_code = s.credit_code"
        )  # about 360 KiB of Parquet
        with pytest.raises(PoolError, match="full"):
            run_query(session, big, into="big")
        assert files_under(tiny_disk / "pool") == []
        assert os.statvfs(tiny_disk).f_bfree == os.statvfs(tiny_disk).f_blocks
        with session.catalog.store.read() as txn:
            assert txn.get_dataset("pool.default.big") is None
        assert lineage_rows(session.catalog) == before
        (run,) = _runs(session, limit=1)
        assert run.status == "failed" and "no space left" in run.error
        events = read_events(ws / "events.jsonl")
        assert events[-1]["eventType"] == "FAIL"
        validate_event(events[-1])


# -- an S3 pool --------------------------------------------------------------------------


@pytest.mark.servers
def test_s3_pool_versions_switch_atomically(base, tmp_path, s3_server, monkeypatch):
    import fsspec

    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    s3_server.make_bucket("city-pool")
    ws = copy_workspace(
        base,
        tmp_path / "ws",
        pool="s3://city-pool/guajie",
        pool_options={"endpoint_url": s3_server.endpoint_url},
        openlineage={"transport": "file", "path": "events.jsonl"},
    )
    fs = fsspec.filesystem("s3", skip_instance_cache=True, **s3_server.storage_options)

    def objects() -> list[str]:
        fs.invalidate_cache()
        return sorted(fs.find("city-pool/guajie"))

    with Session(Catalog.open(str(ws))) as session:
        first = run_query(session, PEOPLE, into="people")
        assert first.location == f"s3://city-pool/guajie/people/v-{first.run.id}"
        assert objects() == [
            f"city-pool/guajie/people/v-{first.run.id}/part-{first.run.id}.parquet"
        ]
        count = "SELECT count(*) AS n FROM pool.people"
        assert session.query(count).column("n")[0].as_py() == first.rows

        second = run_query(
            session, PEOPLE + " AND monthly_amount > 600", into="people", mode="replace"
        )
        assert objects() == [
            f"city-pool/guajie/people/v-{second.run.id}/part-{second.run.id}.parquet"
        ]
        assert session.catalog.dataset("pool.people").location == second.location

        third = run_query(session, PEOPLE, into="people", mode="append")
        assert objects() == [
            f"city-pool/guajie/people/v-{third.run.id}/part-{second.run.id}.parquet",
            f"city-pool/guajie/people/v-{third.run.id}/part-{third.run.id}.parquet",
        ]
        assert session.query(count).column("n")[0].as_py() == second.rows + first.rows

        # A failure leaves no object behind and the dataset as it was.
        before = lineage_rows(session.catalog)
        with pytest.raises(InvalidInputError):
            run_query(
                session, "SELECT name FROM civil.subsidy_recipient", into="people", mode="append"
            )
        assert objects()[-1].endswith(f"part-{third.run.id}.parquet") and len(objects()) == 2
        assert lineage_rows(session.catalog) == before

        # A rebuild of the appended dataset is one new version holding both contributions.
        rebuilt = rerun(session, "pool.people")
        ids = [o.run.id for o in rebuilt]
        assert objects() == sorted(
            f"city-pool/guajie/people/v-{ids[0]}/part-{i}.parquet" for i in ids
        )
        assert session.catalog.dataset("pool.people").location == rebuilt[0].location
        assert session.query(count).column("n")[0].as_py() == second.rows + first.rows

        # The pool on S3 crawls to the same datasets.
        report = session.catalog.crawl(["pool"])[0]
        assert report.vanished == []
        assert session.query(count).column("n")[0].as_py() == second.rows + first.rows
        for event in read_events(ws / "events.jsonl"):
            validate_event(event)
            for output in event["outputs"]:
                assert output["namespace"] == "s3://city-pool"
                assert output["name"] == "guajie/people"
