"""TPC-H for the federated SQL tests: the 22 queries, data generation, loaders, comparison.

* ``tests/tpch/queries/qNN.sql``: the 22 queries in ANSI/Trino SQL with the validation
  substitution parameters of the TPC-H specification (clause 2.4.x.3), table names
  unqualified (``lineitem``); Q15 uses a ``WITH`` clause instead of a view, Q13 names the
  derived table's columns inside the subquery rather than with a column-alias list, and
  every selected expression has an alias so that column names agree across engines
  (Q18's ``sum(l_quantity)`` is ``sum_quantity``).
* :mod:`tests.tpch.data`: ``tpchgen-cli`` Parquet generation, the source placement and
  loaders for PostgreSQL, MariaDB, SQLite and Parquet, plus a DuckDB reference connection.
* :mod:`tests.tpch.compare`: ``assert_same_result`` for query results from different engines.

This module only reads text files, so it is cheap to import.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

QUERY_DIR = Path(__file__).resolve().parent / "queries"
QUERY_NUMBERS: tuple[int, ...] = tuple(range(1, 23))

TABLES: tuple[str, ...] = (
    "region",
    "nation",
    "supplier",
    "customer",
    "part",
    "partsupp",
    "orders",
    "lineitem",
)

# The output columns named by each query's ORDER BY clause, in order (direction left out).
# An empty tuple: the query has no ORDER BY (it returns a single row).
ORDER_BY: dict[int, tuple[str, ...]] = {
    1: ("l_returnflag", "l_linestatus"),
    2: ("s_acctbal", "n_name", "s_name", "p_partkey"),
    3: ("revenue", "o_orderdate"),
    4: ("o_orderpriority",),
    5: ("revenue",),
    6: (),
    7: ("supp_nation", "cust_nation", "l_year"),
    8: ("o_year",),
    9: ("nation", "o_year"),
    10: ("revenue",),
    11: ("value",),
    12: ("l_shipmode",),
    13: ("custdist", "c_count"),
    14: (),
    15: ("s_suppkey",),
    16: ("supplier_cnt", "p_brand", "p_type", "p_size"),
    17: (),
    18: ("o_totalprice", "o_orderdate"),
    19: (),
    20: ("s_name",),
    21: ("numwait", "s_name"),
    22: ("cntrycode",),
}

# The LIMIT of the queries that have one.
LIMITS: dict[int, int] = {2: 100, 3: 10, 10: 20, 18: 100, 21: 100}


def query_path(number: int) -> Path:
    """The file of TPC-H query ``number`` (1..22)."""
    if number not in QUERY_NUMBERS:
        raise ValueError(f"TPC-H has queries 1..22, not {number!r}")
    return QUERY_DIR / f"q{number:02d}.sql"


@functools.cache
def load_query(number: int) -> str:
    """The SQL text of TPC-H query ``number``, without a trailing semicolon."""
    return query_path(number).read_text(encoding="utf-8").strip().rstrip(";").rstrip()


def is_ordered(number: int) -> bool:
    """True when query ``number`` has an ORDER BY clause."""
    return bool(ORDER_BY[number])


@functools.cache
def query_tables(number: int) -> frozenset[str]:
    """The TPC-H tables query ``number`` reads (found by name in its text)."""
    text = load_query(number)
    return frozenset(t for t in TABLES if re.search(rf"\b{t}\b", text))
