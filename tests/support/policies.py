"""Policy set-ups for tests that check answers, not access control.

Federation and lineage tests compare raw values with a reference engine, so their
workspaces say explicitly that personal information is returned raw, and the scenarios
they run under grant every dataset whole. The policy tests (tests/test_policy_*.py) use
the defaults.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Literal

from guajie.catalog.ledger import Catalog
from guajie.catalog.models import SharingType
from guajie.catalog.scenarios import Approval, DataListEntry, Scenario, put_scenario
from guajie.catalog.store import CatalogStore
from guajie.catalog.workspace import PolicyConfig, write_config


def raw_personal_information(catalog: Catalog) -> Catalog:
    """Let this workspace's default policy return personal information unmasked."""
    workspace = catalog.workspace
    workspace.config.policy = PolicyConfig(personal_information="raw")
    write_config(workspace.home, workspace.config)
    return catalog


def open_scenario(
    catalog: Catalog,
    name: str,
    *,
    access: Literal["raw", "masked", "aggregate"] | None = "raw",
    row_filters: dict[str, str] | None = None,
    **fields: Any,
) -> Scenario:
    """A scenario granted every dataset of the catalog, approved; every column ``access``
    (None: raw, personal information masked), rows limited by ``row_filters``."""
    from guajie.federation.access import apply_scenario

    datasets = [d for d in catalog.datasets() if d.sharing_type is not SharingType.NOT_SHARED]
    until = date.today() + timedelta(days=365)
    manifest = Scenario(
        name=name,
        owner_department=fields.pop("owner_department", "测试部门"),
        purpose=fields.pop("purpose", "tests"),
        data_list=[
            DataListEntry(
                dataset=d.qualified_name,
                columns="all",
                access=access,
                row_filter=(row_filters or {}).get(d.qualified_name),
            )
            for d in datasets
        ],
        approvals=[
            Approval(dataset=d.qualified_name, approved_by="tests", until=until)
            for d in datasets
            if d.sharing_type is SharingType.CONDITIONAL
        ],
        **fields,
    )
    return apply_scenario(catalog, manifest)


def bare_scenario(store: CatalogStore, name: str) -> None:
    """A scenario stored without a catalog to check it against (for token and store tests)."""
    put_scenario(
        store,
        Scenario(
            name=name,
            owner_department="测试部门",
            purpose="tests",
            data_list=[DataListEntry(dataset="none.default.none")],
        ),
    )
