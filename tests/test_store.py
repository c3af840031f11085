"""The catalog store on both backends: transactions, migrations, concurrent writers."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from guajie.catalog.errors import GuajieError
from guajie.catalog.ledger import Catalog
from guajie.catalog.models import Dataset, Source, now_utc
from guajie.catalog.workspace import Workspace


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.servers)])
def workspace(request, tmp_path: Path) -> Workspace:
    home = tmp_path / "ws"
    if request.param == "sqlite":
        return Workspace.init(home)
    server = request.getfixturevalue("postgres_server")
    import psycopg

    db = f"store_{abs(hash(str(tmp_path))) % 10**8}"
    with psycopg.connect(server.conninfo, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {db}")
    url = f"postgresql://{server.user}@{server.host}:{server.port}/{db}"
    return Workspace.init(home, store=url, store_password_env=server.env_var_name)


def seed(ws: Workspace) -> None:
    with ws.store.write() as txn:
        txn.put_source(Source(name="s", kind="sqlite", url="sqlite:///x.db"))
        txn.put_dataset(Dataset(source="s", schema="main", name="t", resource_code="X"))


def test_a_failed_write_leaves_nothing(workspace):
    seed(workspace)
    with pytest.raises(RuntimeError), workspace.store.write() as txn:
        txn.put_source(Source(name="half", kind="sqlite", url="sqlite:///y.db"))
        raise RuntimeError("interrupted mid-way")
    with workspace.store.read() as txn:
        assert txn.get_source("half") is None
        assert [s.name for s in txn.list_sources()] == ["s"]


def _tag_many(home: str, prefix: str, count: int) -> None:
    catalog = Catalog.open(home)
    for i in range(count):
        catalog.tag("s.main.t", add=[f"{prefix}{i}"])
    catalog.workspace.close()


def test_two_processes_writing_at_once_lose_nothing(workspace):
    seed(workspace)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_tag_many, args=(str(workspace.home), p, 25)) for p in "ab"]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    with workspace.store.read() as txn:
        tags = txn.get_dataset("s.main.t").tags
    assert len(tags) == 50


def test_migrations_are_recorded_and_rerun_safely(workspace):
    from guajie.catalog.store.migrations import LATEST

    workspace.close()
    reopened = Workspace.open(workspace.home)
    rows = reopened.store.backend.execute("SELECT max(version) FROM guajie_schema")
    assert rows[0][0] == LATEST
    reopened.close()


def test_a_version_missing_below_the_latest_is_still_applied(workspace):
    """Versions land by set: a store that got v4 before v3 existed still gets v3."""
    db = workspace.store.backend
    db.begin(write=True)
    db.execute("DROP TABLE audit_log")
    db.execute("DROP TABLE api_tokens")
    db.execute("DELETE FROM guajie_schema WHERE version = 3")
    db.commit()
    workspace.close()
    reopened = Workspace.open(workspace.home)
    versions = [r[0] for r in reopened.store.backend.execute("SELECT version FROM guajie_schema")]
    assert sorted(versions) == sorted(set(versions)) and 3 in versions
    assert reopened.store.backend.execute("SELECT count(*) FROM audit_log")[0][0] == 0
    reopened.close()


def test_a_newer_store_is_refused(tmp_path):
    ws = Workspace.init(tmp_path / "ws")
    ws.store.backend.execute("INSERT INTO guajie_schema (version) VALUES (999)")
    ws.close()
    with pytest.raises(GuajieError, match="newer"):
        Workspace.open(tmp_path / "ws").store  # noqa: B018


def test_drift_and_history_round_trip(workspace):
    seed(workspace)
    from guajie.catalog.models import DriftChange

    at = now_utc()
    with workspace.store.write() as txn:
        txn.add_drift(
            "s",
            [
                DriftChange(
                    dataset="s.main.t",
                    change="added",
                    column="c",
                    new="int64",
                    breaking=False,
                    detected_at=at,
                )
            ],
        )
    with workspace.store.read() as txn:
        (change,) = txn.list_drift(source="s")
    assert change.column == "c" and change.detected_at == at


def test_planning_sees_a_changed_entry_at_once(workspace):
    # What planning parses from an entry is kept by the entry's text: a change is read.
    from guajie.catalog.models import Column
    from guajie.federation.catalog_view import LedgerView

    seed(workspace)
    first = LedgerView(workspace.store).get("s.main.t")
    assert first is not None and first.kind == "sqlite" and first.columns == ()
    with workspace.store.write() as txn:
        dataset = txn.get_dataset("s.main.t")
        assert dataset is not None
        dataset.columns = [Column(name="district", type="string")]
        txn.put_dataset(dataset)
    again = LedgerView(workspace.store).get("s.main.t")
    assert again is not None and [c.name for c in again.columns] == ["district"]
    assert LedgerView(workspace.store).get("s.main.t") is again  # parsed once
