"""A deterministic sample of a multi-department Chinese city (福州市) for demos and tests.

Five departments publish overlapping facts about the same enterprises and people, in the
formats they really use, with keys that join across them (``credit_code``,
``district_code``, ID numbers) and the data quality quirks real sources have:

* 市场监管 ``market``: SQLite ``enterprise`` and ``district``
* 人社 ``hrss``: SQLite ``social_insurance_monthly``
* 税务 ``tax``: hive-partitioned Parquet ``tax/filings/month=YYYY-MM/part-0.parquet``
* 民政 ``civil``: SQLite ``subsidy_recipient``
* 交通 ``transport``: CSV ``parking_lots.csv`` and ``parking_events/events-YYYY-MM-DD.csv``

``generate(out_dir, scale, seed)`` writes them; ``city_tables(scale, seed)`` streams the same
rows as Arrow; ``load_postgres``/``load_mysql`` put tables into servers.
"""

from .city import Chunk, TableSource, city_tables, iter_city
from .plan import DEFAULT_SEED, CityPlan
from .schema import TABLES, TABLES_BY_NAME, Column, TableSpec
from .servers import load_mysql, load_postgres
from .writers import CityManifest, TableOutput, generate

__all__ = [
    "DEFAULT_SEED",
    "TABLES",
    "TABLES_BY_NAME",
    "Chunk",
    "CityManifest",
    "CityPlan",
    "Column",
    "TableOutput",
    "TableSource",
    "TableSpec",
    "city_tables",
    "generate",
    "iter_city",
    "load_mysql",
    "load_postgres",
]
