"""The sample city generator: determinism, valid identifiers, joinable keys, readable files."""

from __future__ import annotations

import hashlib
import sqlite3
from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from guajie.catalog.checkdigits import (
    is_mobile_number,
    is_valid_bank_card,
    is_valid_credit_code,
    is_valid_id_number,
)
from guajie.sample_sources import (
    DEFAULT_SEED,
    CityManifest,
    CityPlan,
    city_tables,
    generate,
    iter_city,
)
from guajie.sample_sources.__main__ import main as cli
from guajie.sample_sources.geography import DISTRICT_BY_CODE

SCALE = 0.25
SEED = 7


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> CityManifest:
    return generate(tmp_path_factory.mktemp("city"), scale=SCALE, seed=SEED)


def _query(manifest: CityManifest, db: str, sql: str) -> list[tuple]:
    with sqlite3.connect(manifest.out_dir / db) as conn:
        return conn.execute(sql).fetchall()


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _tax(manifest: CityManifest) -> pa.Table:
    return ds.dataset(
        manifest.out_dir / "tax" / "filings", format="parquet", partitioning="hive"
    ).to_table()


def _events(manifest: CityManifest) -> pa.Table:
    options = pacsv.ConvertOptions(
        column_types={
            "event_id": pa.string(),
            "lot_id": pa.string(),
            "plate_number": pa.string(),
            "entered_at": pa.timestamp("s"),
            "exited_at": pa.timestamp("s"),
            "fee": pa.decimal128(18, 2),
        },
        strings_can_be_null=True,
    )
    parts = sorted((manifest.out_dir / "transport" / "parking_events").glob("*.csv"))
    return pa.concat_tables(pacsv.read_csv(p, convert_options=options) for p in parts)


# --- determinism -----------------------------------------------------------------------


def test_same_seed_gives_identical_bytes_and_rerun_replaces(tmp_path: Path) -> None:
    first = generate(tmp_path / "a", scale=0.1, seed=SEED)
    generate(tmp_path / "b", scale=0.1, seed=SEED)
    digest = _tree_digest(tmp_path / "a")
    assert digest == _tree_digest(tmp_path / "b")
    assert len(digest) == 3 + 24 + 1 + 14  # three databases, tax months, lots, event days

    (tmp_path / "a" / "tax" / "filings" / "month=1999-01").mkdir()  # stale partition
    again = generate(tmp_path / "a", scale=0.1, seed=SEED)
    assert _tree_digest(tmp_path / "a") == digest
    assert again == first
    assert not [p for p in (tmp_path / "a").iterdir() if p.name.startswith(".")]


def test_different_seed_gives_different_city() -> None:
    a = city_tables(0.05, seed=1)["market"]["enterprise"].read_all()
    b = city_tables(0.05, seed=2)["market"]["enterprise"].read_all()
    assert a.num_rows == b.num_rows
    assert set(a["credit_code"].to_pylist()).isdisjoint(b["credit_code"].to_pylist())


def test_city_tables_match_written_files(city: CityManifest) -> None:
    tables = city_tables(SCALE, SEED)
    enterprise = tables["market"]["enterprise"].read_all()
    on_disk = _query(city, "market.sqlite", "SELECT credit_code FROM enterprise ORDER BY rowid")
    assert enterprise["credit_code"].to_pylist() == [r[0] for r in on_disk]
    for department, table in [
        ("hrss", "social_insurance_monthly"),
        ("tax", "filings"),
        ("civil", "subsidy_recipient"),
        ("transport", "parking_events"),
    ]:
        source = tables[department][table]
        assert sum(b.num_rows for b in source) == city.rows(table), table


def test_arrow_schemas_are_explicitly_typed() -> None:
    tables = city_tables(0.02)
    enterprise = tables["market"]["enterprise"].read_all()
    assert enterprise.schema.field("registered_capital").type == pa.decimal128(18, 2)
    assert enterprise.schema.field("founded_on").type == pa.date32()
    hrss = tables["hrss"]["social_insurance_monthly"].schema
    assert hrss.field("arrears").type == pa.bool_()
    assert hrss.field("headcount").type == pa.int32()
    events = tables["transport"]["parking_events"].schema
    assert events.field("entered_at").type == pa.timestamp("us")
    assert tables["tax"]["filings"].schema.field("month").type == pa.string()
    for department in tables.values():
        for source in department.values():
            assert all(f.metadata and f.metadata[b"comment"] for f in source.schema)


# --- valid identifiers -----------------------------------------------------------------


def test_credit_codes_are_valid_everywhere(city: CityManifest) -> None:
    codes = [r[0] for r in _query(city, "market.sqlite", "SELECT credit_code FROM enterprise")]
    assert len(codes) == len(set(codes)) == city.rows("enterprise")
    assert all(is_valid_credit_code(c) for c in codes)
    hrss = _query(city, "hrss.sqlite", "SELECT DISTINCT credit_code FROM social_insurance_monthly")
    assert all(is_valid_credit_code(c.strip().upper()) for (c,) in hrss)
    assert all(is_valid_credit_code(c) for c in _tax(city)["credit_code"].to_pylist())


def test_id_numbers_are_valid_and_consistent(city: CityManifest) -> None:
    reps = _query(
        city,
        "market.sqlite",
        "SELECT legal_rep_id_number, district_code, founded_on FROM enterprise",
    )
    assert all(is_valid_id_number(i) for i, _, _ in reps)
    assert sum(i[:6] == d for i, d, _ in reps) > 0.9 * len(reps)
    assert all("1950" <= i[6:10] <= "2000" for i, _, _ in reps)

    people = _query(
        city,
        "civil.sqlite",
        "SELECT person_id, gender, birth_date, phone, bank_card FROM subsidy_recipient",
    )
    assert len({p[0] for p in people}) == len(people) == city.rows("subsidy_recipient")
    for person_id, gender, birth, phone, card in people:
        assert is_valid_id_number(person_id)
        assert birth.replace("-", "") == person_id[6:14]
        assert gender == ("男" if int(person_id[16]) % 2 else "女")
        assert phone is None or (is_mobile_number(phone) and len(phone) == 11)
        assert card is None or (is_valid_bank_card(card) and card.startswith("62"))
    assert any(p[3] is None for p in people)


# --- joins across departments -------------------------------------------------------------


def test_keys_join_across_departments(city: CityManifest) -> None:
    registry = {
        r[0]: r[1]
        for r in _query(city, "market.sqlite", "SELECT credit_code, status FROM enterprise")
    }
    hrss = {
        r[0]
        for r in _query(
            city, "hrss.sqlite", "SELECT DISTINCT credit_code FROM social_insurance_monthly"
        )
    }
    joined = hrss & registry.keys()
    assert 0.85 * len(hrss) < len(joined) < len(hrss)  # 事业单位 and spelling quirks do not join

    tax_codes = set(_tax(city)["credit_code"].to_pylist())
    assert tax_codes <= registry.keys()
    assert len(tax_codes) > 0.7 * len(registry)

    lots = pacsv.read_csv(
        city.out_dir / "transport" / "parking_lots.csv",
        convert_options=pacsv.ConvertOptions(
            column_types={"district_code": pa.string(), "operator_credit_code": pa.string()},
            strings_can_be_null=True,
        ),
    )
    operators = [c for c in lots["operator_credit_code"].to_pylist() if c]
    assert any(c in registry for c in operators)
    assert all(is_valid_credit_code(c) for c in operators)

    districts = {r[0] for r in _query(city, "market.sqlite", "SELECT district_code FROM district")}
    assert districts == set(DISTRICT_BY_CODE)
    assert set(lots["district_code"].to_pylist()) <= districts
    assert {
        r[0]
        for r in _query(
            city, "civil.sqlite", "SELECT DISTINCT district_code FROM subsidy_recipient"
        )
    } <= districts


def test_some_recipients_are_legal_representatives(city: CityManifest) -> None:
    with sqlite3.connect(city.out_dir / "civil.sqlite") as conn:
        conn.execute("ATTACH DATABASE ? AS market", (str(city.out_dir / "market.sqlite"),))
        linked = conn.execute(
            "SELECT COUNT(DISTINCT r.person_id) FROM subsidy_recipient r "
            "JOIN market.enterprise e ON e.legal_rep_id_number = r.person_id"
        ).fetchone()[0]
    assert 0 < linked < 0.1 * city.rows("subsidy_recipient")


def test_policy_scenario_finds_a_plausible_target_group(city: CityManifest) -> None:
    """存续/在业, 10-300 insured in June 2024, H1 2024 tax above 10,000 yuan."""
    active = {
        r[0]
        for r in _query(
            city,
            "market.sqlite",
            "SELECT credit_code FROM enterprise WHERE status IN ('存续','在业')",
        )
    }
    sized = {
        r[0]
        for r in _query(
            city,
            "hrss.sqlite",
            "SELECT credit_code FROM social_insurance_monthly "
            "WHERE month = '2024-06-01' AND headcount BETWEEN 10 AND 300",
        )
    }
    tax = _tax(city).filter(ds.field("month") >= "2024-01")
    paid: Counter[str] = Counter()
    for code, amount in zip(
        tax["credit_code"].to_pylist(), tax["total_tax"].to_pylist(), strict=True
    ):
        paid[code] += amount
    taxed = {c for c, total in paid.items() if total > Decimal(10_000)}
    eligible = active & sized & taxed
    assert 0.05 * len(active) < len(eligible) < 0.6 * len(active)


# --- file formats --------------------------------------------------------------------------


def test_tax_is_a_readable_hive_dataset(city: CityManifest) -> None:
    root = city.out_dir / "tax" / "filings"
    table = _tax(city)
    assert table.num_rows == city.rows("filings")
    months = sorted(set(table["month"].to_pylist()))
    assert months[0] == "2022-07" and months[-1] == "2024-06" and len(months) == 24
    assert "month" not in pq.read_schema(root / "month=2024-01" / "part-0.parquet").names
    assert table.schema.field("total_tax").type == pa.decimal128(18, 2)
    paid_income_tax = pc.greater(table["income_tax_amount"].cast(pa.float64()), 0)
    quarter_only = table.filter(paid_income_tax)["month"].to_pylist()
    assert quarter_only and all(m[-2:] in ("03", "06", "09", "12") for m in quarter_only)
    assert set(table["credit_rating"].to_pylist()) <= set("ABMCD")


def test_transport_csv_is_readable(city: CityManifest) -> None:
    lots = pacsv.read_csv(city.out_dir / "transport" / "parking_lots.csv")
    assert lots.num_rows == city.rows("parking_lots")
    assert set(lots.column_names) >= {"lot_id", "capacity", "lat", "lon", "hourly_rate"}
    events = _events(city)
    assert events.num_rows == city.rows("parking_events") > 1000
    assert set(events["lot_id"].to_pylist()) <= set(lots["lot_id"].to_pylist())
    assert len(set(events["event_id"].to_pylist())) == events.num_rows
    still_parked = events.filter(ds.field("exited_at").is_null())
    assert 0 < still_parked.num_rows < 0.1 * events.num_rows
    assert still_parked["fee"].null_count == still_parked.num_rows
    done = events.filter(ds.field("exited_at").is_valid())
    assert all(
        x > e
        for e, x in zip(done["entered_at"].to_pylist(), done["exited_at"].to_pylist(), strict=True)
    )
    plates = [p for p in events["plate_number"].to_pylist() if p]
    assert sum(p.startswith("闽A") for p in plates) > 0.7 * len(plates)
    assert Counter(plates).most_common(1)[0][1] > 1  # regulars come back


def test_data_quality_quirks_are_present() -> None:
    """Trailing spaces and case differences that trip up MariaDB's default collations."""
    tables = city_tables(1.0, DEFAULT_SEED)
    enterprise = tables["market"]["enterprise"].read_all()
    assert any(n.endswith(" ") for n in enterprise["name"].to_pylist())
    assert any(d.endswith(" ") for d in enterprise["district"].to_pylist())
    hrss_codes = set(
        tables["hrss"]["social_insurance_monthly"].read_all()["credit_code"].to_pylist()
    )
    assert any(c.endswith(" ") for c in hrss_codes)
    assert any(c != c.upper() for c in hrss_codes)
    registry = set(enterprise["credit_code"].to_pylist())
    assert any(c.strip().upper() in registry and c not in registry for c in hrss_codes)


# --- scale -----------------------------------------------------------------------------------


def test_rows_scale_roughly_linearly() -> None:
    def counts(scale: float) -> Counter[str]:
        c: Counter[str] = Counter()
        for chunk in iter_city(
            CityPlan.create(scale, SEED),
            [
                "enterprise",
                "filings",
                "social_insurance_monthly",
                "subsidy_recipient",
                "parking_events",
            ],
        ):
            c[chunk.spec.name] += chunk.rows
        return c

    small, large = counts(0.1), counts(0.4)
    for table, n in large.items():
        assert 3.0 < n / small[table] < 5.0, table
    plan = CityPlan.create(1.0)
    assert (plan.enterprises, plan.recipients, plan.lots, plan.events) == (2000, 2000, 50, 20000)
    assert CityPlan.create(100).enterprises == 200_000


@pytest.mark.parametrize("scale", [0, -1, float("nan"), 1e9])
def test_bad_scale_is_rejected(scale: float) -> None:
    with pytest.raises(ValueError):
        CityPlan.create(scale)


def test_cli_generate_prints_summary(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["generate", "--out", str(tmp_path), "--scale", "0.02", "--seed", "3"]
    )
    assert result.exit_code == 0, result.output
    assert "subsidy_recipient" in result.output and "parquet" in result.output
    assert (tmp_path / "market.sqlite").exists()
    with sqlite3.connect(tmp_path / "market.sqlite") as conn:
        founded = conn.execute("SELECT MAX(founded_on) FROM enterprise").fetchone()[0]
    assert founded <= date(2024, 7, 15).isoformat()
