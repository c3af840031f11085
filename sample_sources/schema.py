"""Table definitions shared by every writer and loader.

One definition per table holds the Arrow type, the SQL shape (length, key, indexes) and the
Chinese comments a real source system would carry, so the SQLite files, Parquet files, CSV
files and the PostgreSQL/MariaDB loads all describe the same table the same way, and the
catalog has real comments to harvest.

Generators hand rows over as column lists of plain Python values; decimals travel as integer
cents (exact, cheap) and are only turned into ``decimal128(18, 2)`` at the Arrow boundary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa

Kind = Literal["string", "int32", "int64", "float64", "decimal", "date", "timestamp", "bool"]
Columns = dict[str, list[Any]]

DECIMAL = pa.decimal128(18, 2)
_ARROW: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "decimal": DECIMAL,
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
    "bool": pa.bool_(),
}


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    comment: str
    nullable: bool = True
    length: int | None = None  # VARCHAR length for string columns

    @property
    def arrow_type(self) -> pa.DataType:
        return _ARROW[self.kind]

    def field(self) -> pa.Field:
        return pa.field(
            self.name, self.arrow_type, self.nullable, metadata={"comment": self.comment}
        )


@dataclass(frozen=True)
class TableSpec:
    department: str
    name: str
    comment: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    indexes: tuple[tuple[str, ...], ...] = ()

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def schema(self) -> pa.Schema:
        return pa.schema(
            [c.field() for c in self.columns],
            metadata={"comment": self.comment, "department": self.department},
        )

    def empty_columns(self) -> Columns:
        return {c.name: [] for c in self.columns}


def _arrow_array(column: Column, values: list[Any]) -> pa.Array:
    if column.kind == "decimal":
        # int cents -> decimal128 with scale 2 shares the 128-bit storage: exact and fast.
        return pa.array(values, pa.int64()).cast(pa.decimal128(19, 0)).view(DECIMAL)
    return pa.array(values, column.arrow_type)


def to_batch(spec: TableSpec, columns: Columns) -> pa.RecordBatch:
    """Column lists (decimals as int cents) -> a typed record batch of ``spec.schema``."""
    return pa.RecordBatch.from_arrays(
        [_arrow_array(c, columns[c.name]) for c in spec.columns], schema=spec.schema
    )


def cents_text(cents: int) -> str:
    """Exact decimal text of an amount held in cents: 12345 -> '123.45'."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{whole}.{frac:02d}"


def _c(
    name: str, kind: Kind, comment: str, nullable: bool = True, length: int | None = None
) -> Column:
    return Column(name, kind, comment, nullable, length)


DISTRICT = TableSpec(
    "market",
    "district",
    "福州市县级行政区划（区县）维表",
    (
        _c("district_code", "string", "县级行政区划代码（GB/T 2260）", False, 6),
        _c("name", "string", "区县名称", False, 20),
        _c("population", "int64", "常住人口（人，约数）"),
    ),
    ("district_code",),
)

ENTERPRISE = TableSpec(
    "market",
    "enterprise",
    "市场主体（企业）登记信息",
    (
        _c("credit_code", "string", "统一社会信用代码（GB 32100-2015，18位）", False, 18),
        _c("name", "string", "企业名称", False, 100),
        _c("legal_rep_name", "string", "法定代表人姓名", False, 30),
        _c("legal_rep_id_number", "string", "法定代表人公民身份号码（18位，敏感）", False, 18),
        _c("industry", "string", "国民经济行业门类（GB/T 4754-2017）", False, 40),
        _c("registered_capital", "decimal", "注册资本（万元）"),
        _c("district", "string", "住所所在区县名称", False, 20),
        _c("district_code", "string", "住所所在区县行政区划代码", False, 6),
        _c("founded_on", "date", "成立日期", False),
        _c("status", "string", "登记状态：存续、在业、吊销、注销、迁出", False, 10),
        _c("deregistered_on", "date", "注销、吊销或迁出日期；存续、在业企业为空"),
    ),
    ("credit_code",),
    (("district_code",),),
)

SOCIAL_INSURANCE = TableSpec(
    "hrss",
    "social_insurance_monthly",
    "参保单位月度社会保险缴费信息",
    (
        _c("credit_code", "string", "参保单位统一社会信用代码", False, 20),
        _c("month", "date", "费款所属期（当月1日）", False),
        _c("headcount", "int32", "当月参保职工人数", False),
        _c("pension_contribution", "decimal", "基本养老保险应缴金额（元，单位+个人）", False),
        _c("medical_contribution", "decimal", "职工基本医疗保险应缴金额（元，单位+个人）", False),
        _c("unemployment_contribution", "decimal", "失业保险应缴金额（元，单位+个人）", False),
        _c("arrears", "bool", "是否欠缴（截至征缴期末未足额到账）", False),
    ),
    ("credit_code", "month"),
    (("month",),),
)

TAX_FILINGS = TableSpec(
    "tax",
    "filings",
    "纳税人月度纳税申报汇总",
    (
        _c("credit_code", "string", "纳税人识别号（统一社会信用代码）", False, 18),
        _c("vat_amount", "decimal", "增值税应纳税额（元）", False),
        _c("income_tax_amount", "decimal", "企业所得税预缴税额（元，按季预缴，季末月填报）", False),
        _c("total_tax", "decimal", "应纳税费合计（元，含城建税及教育费附加）", False),
        _c("revenue", "decimal", "营业收入（元）", False),
        _c("filing_date", "date", "申报日期", False),
        _c("credit_rating", "string", "纳税信用等级：A、B、M、C、D", False, 1),
        _c("month", "string", "税款所属期（YYYY-MM），Parquet 中为分区列", False, 7),
    ),
    ("credit_code", "month"),
)

SUBSIDY_RECIPIENT = TableSpec(
    "civil",
    "subsidy_recipient",
    "社会救助及补贴对象名册",
    (
        _c("person_id", "string", "公民身份号码（18位，敏感）", False, 18),
        _c("name", "string", "姓名（敏感）", False, 30),
        _c("gender", "string", "性别：男、女", False, 2),
        _c("birth_date", "date", "出生日期", False),
        _c("phone", "string", "联系手机号码（敏感，可为空）", True, 20),
        _c("address", "string", "居住地址（敏感）", False, 120),
        _c("district_code", "string", "居住地区县行政区划代码", False, 6),
        _c(
            "subsidy_type",
            "string",
            "救助或补贴类别：低保、特困、临时救助、残疾人补贴、高龄津贴",
            False,
            10,
        ),
        _c("monthly_amount", "decimal", "月发放金额（元）；临时救助为单次金额", False),
        _c("start_date", "date", "享受起始日期", False),
        _c("bank_card", "string", "发放银行卡号（敏感，可为空）", True, 19),
    ),
    ("person_id",),
    (("district_code",),),
)

PARKING_LOTS = TableSpec(
    "transport",
    "parking_lots",
    "公共停车场基本信息",
    (
        _c("lot_id", "string", "停车场编号", False, 12),
        _c("name", "string", "停车场名称", False, 60),
        _c("district_code", "string", "所在区县行政区划代码", False, 6),
        _c("address", "string", "停车场地址", False, 120),
        _c("capacity", "int32", "泊位数", False),
        _c("lat", "float64", "纬度（WGS-84）", False),
        _c("lon", "float64", "经度（WGS-84）", False),
        _c("operator_credit_code", "string", "经营单位统一社会信用代码；政府直管为空", True, 20),
        _c("hourly_rate", "decimal", "白天每小时收费标准（元）", False),
    ),
    ("lot_id",),
    (("district_code",),),
)

PARKING_EVENTS = TableSpec(
    "transport",
    "parking_events",
    "停车场车辆进出记录",
    (
        _c("event_id", "string", "进出记录编号", False, 24),
        _c("lot_id", "string", "停车场编号", False, 12),
        _c("plate_number", "string", "车牌号码（敏感）；未识别为空", True, 10),
        _c("entered_at", "timestamp", "入场时间", False),
        _c("exited_at", "timestamp", "出场时间；仍在场内或漏记为空"),
        _c("fee", "decimal", "停车费（元）；未出场为空"),
    ),
    ("event_id",),
    (("lot_id",),),
)

TABLES: tuple[TableSpec, ...] = (
    DISTRICT,
    ENTERPRISE,
    SOCIAL_INSURANCE,
    TAX_FILINGS,
    SUBSIDY_RECIPIENT,
    PARKING_LOTS,
    PARKING_EVENTS,
)
TABLES_BY_NAME: dict[str, TableSpec] = {t.name: t for t in TABLES}
