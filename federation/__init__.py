"""Federated SQL (逻辑汇聚): scenario SQL -> pushdown plan -> Arrow.

Planning (:func:`plan_query`) is pure: SQL plus a catalog snapshot gives a :class:`Plan`
you can print. Execution (:class:`Executor`) is separate: it fetches each fragment from its
source as Arrow and runs the residual locally in DuckDB.
"""

from . import sqlglot_fixes
from .catalog_view import CatalogView, ColumnInfo, TableInfo
from .executor import Executor, QueryResult
from .plan import Fragment, Plan, RunStats
from .planner import plan_query

sqlglot_fixes.apply()

__all__ = [
    "CatalogView",
    "ColumnInfo",
    "Executor",
    "Fragment",
    "Plan",
    "QueryResult",
    "RunStats",
    "TableInfo",
    "plan_query",
]
