"""Who may read what: the policy for a scenario, or the workspace's default policy.

Built from the catalog (sharing type per dataset, personal information per column), the
scenario's manifest (data list, approvals) and the workspace settings (masks, minimum
group size). See :mod:`.policy` for how a policy rewrites a query.
"""

from __future__ import annotations

from datetime import date

from guajie.catalog.errors import GuajieError, did_you_mean
from guajie.catalog.ledger import Catalog
from guajie.catalog.models import Dataset, SharingType
from guajie.catalog.scenarios import Scenario, get_scenario, put_scenario
from guajie.catalog.workspace import PolicyConfig

from .catalog_view import TableInfo
from .errors import PolicyError
from .policy import DEFAULT_MASKS, FALLBACK_MASK, Access, ColumnGrant, MaskRule, Policy, TableGrant


def policy_for(
    catalog: Catalog, scenario: str | None = None, *, today: date | None = None
) -> Policy:
    """The policy a query runs under: ``scenario``'s, else the workspace default."""
    config = catalog.workspace.config.policy or PolicyConfig()
    masks = dict(DEFAULT_MASKS)
    masks.update(
        {kind: MaskRule(m.keep_first, m.keep_last, m.fill) for kind, m in config.masks.items()}
    )
    on = today or date.today()
    if scenario is None:
        subject = "the workspace's default policy"

        def grant(info: TableInfo) -> TableGrant:
            dataset = _dataset(catalog, info)
            _refuse_not_shared(dataset, subject)
            if dataset.sharing_type is SharingType.CONDITIONAL and config.conditional == "deny":
                raise PolicyError(
                    f"{dataset.qualified_name} is 有条件共享 (conditional) and {subject} "
                    "denies conditional datasets outside a scenario.",
                    "Run the query as a scenario whose manifest holds an approval for it "
                    "(--scenario NAME).",
                )
            raw_pi = config.personal_information == "raw"
            return TableGrant(
                {c.name: _default_grant(c.sensitivity, masks, raw_pi) for c in dataset.columns}
            )

        return Policy(subject, grant, config.min_group_size)

    manifest = scenario if isinstance(scenario, Scenario) else get_scenario(catalog.store, scenario)
    subject = f"scenario {manifest.name}"

    def scenario_grant(info: TableInfo) -> TableGrant:
        dataset = _dataset(catalog, info)
        _refuse_not_shared(dataset, subject)
        entry = manifest.entry(dataset.qualified_name)
        if entry is None:
            raise PolicyError(
                f"{dataset.qualified_name} is not in the data list of {subject}.",
                "Add it to the scenario's data_list and apply the manifest again "
                "(guajie scenario apply -f).",
            )
        _check_approval(manifest, dataset, on)
        sensitivity = {c.name: c.sensitivity for c in dataset.columns}
        columns: dict[str, ColumnGrant] = {}
        wanted = (
            {c.name: entry.access for c in dataset.columns}
            if entry.columns == "all"
            else {name: access or entry.access for name, access in entry.columns.items()}
        )
        for name, access in wanted.items():
            column = dataset.column(name)
            if column is None:
                continue  # apply checks names; a column dropped since is simply not there
            if access is None:
                columns[column.name] = _default_grant(column.sensitivity, masks, False)
            else:
                kind = sensitivity.get(column.name)
                mask = masks.get(kind.value, FALLBACK_MASK) if kind else FALLBACK_MASK
                columns[column.name] = ColumnGrant(Access(access), mask)
        return TableGrant(columns, entry.row_filter)

    return Policy(subject, scenario_grant, config.min_group_size)


def _dataset(catalog: Catalog, info: TableInfo) -> Dataset:
    with catalog.store.read() as txn:
        dataset = txn.get_dataset(info.qualified_name)
    if dataset is None:
        raise PolicyError(f"{info.qualified_name} is no longer in the catalog.")
    return dataset


def _refuse_not_shared(dataset: Dataset, subject: str) -> None:
    if dataset.sharing_type is SharingType.NOT_SHARED:
        raise PolicyError(
            f"{dataset.qualified_name} is 不予共享 (not shared): nobody reads it through "
            f"guajie, {subject} included.",
            "Its owner decides sharing; see `guajie catalog show "
            f"{dataset.qualified_name}` for the legal basis.",
        )


def _check_approval(manifest: Scenario, dataset: Dataset, on: date) -> None:
    if dataset.sharing_type is not SharingType.CONDITIONAL:
        return
    approval = manifest.approval(dataset.qualified_name)
    if approval is None:
        raise PolicyError(
            f"{dataset.qualified_name} is 有条件共享 (conditional: "
            f"{dataset.sharing_condition or 'see the catalog'}) and scenario {manifest.name} "
            "has no approval for it.",
            "Add an approval (approved_by, until) to the manifest and apply it again.",
        )
    if approval.until < on:
        raise PolicyError(
            f"The approval of scenario {manifest.name} for {dataset.qualified_name} "
            f"(by {approval.approved_by}) expired on {approval.until.isoformat()}.",
            "Renew the approval and apply the manifest again.",
        )


def _default_grant(kind: object, masks: dict[str, MaskRule], raw_pi: bool) -> ColumnGrant:
    if kind is None or raw_pi:
        return ColumnGrant(Access.RAW)
    return ColumnGrant(Access.MASKED, masks.get(str(getattr(kind, "value", kind)), FALLBACK_MASK))


# -- applying a manifest ------------------------------------------------------------------


def apply_scenario(catalog: Catalog, manifest: Scenario, *, today: date | None = None) -> Scenario:
    """Check ``manifest`` against the catalog and store it (dataset names made canonical).

    Every dataset, column, row filter, approval, query and output is checked first; nothing
    is stored unless all of it holds.
    """
    from guajie.catalog.errors import InvalidInputError, NotFoundError

    from .catalog_view import LedgerView
    from .planner import plan_query

    on = today or date.today()
    entries = []
    for entry in manifest.data_list:
        try:
            dataset = catalog.dataset(entry.dataset)
        except (NotFoundError, InvalidInputError) as exc:
            raise InvalidInputError(
                f"Scenario {manifest.name}: data list entry '{entry.dataset}': {exc.message}",
                exc.hint,
            ) from None
        if entry.columns != "all":
            for name in entry.columns:
                if dataset.column(name) is None:
                    raise InvalidInputError(
                        f"Scenario {manifest.name}: {dataset.qualified_name} has no column "
                        f"'{name}'.",
                        did_you_mean(name, [c.name for c in dataset.columns])
                        or f"See its columns with `guajie catalog show {dataset.qualified_name}`.",
                    )
        entries.append(entry.model_copy(update={"dataset": dataset.qualified_name}))
    approvals = []
    for approval in manifest.approvals:
        try:
            qualified = catalog.dataset(approval.dataset).qualified_name
        except (NotFoundError, InvalidInputError) as exc:
            raise InvalidInputError(
                f"Scenario {manifest.name}: approval for '{approval.dataset}': {exc.message}",
                exc.hint,
            ) from None
        approvals.append(approval.model_copy(update={"dataset": qualified}))
    canonical = manifest.model_copy(update={"data_list": entries, "approvals": approvals})
    names = [q.name for q in canonical.queries]
    if len(set(names)) != len(names):
        raise InvalidInputError(
            f"Scenario {manifest.name} names two queries the same.", "Give each query its own name."
        )
    for output in canonical.outputs:
        canonical.query(output.query)
    policy = policy_for(catalog, canonical, today=on)
    view = LedgerView(catalog.store)
    for entry in canonical.data_list:
        probe = f"SELECT * FROM {entry.dataset}"
        plan_query(probe, view, policy=policy)  # not shared, approvals, row filters
    for query in canonical.queries:
        try:
            plan_query(query.text, view, policy=policy)
        except GuajieError as exc:
            kind = PolicyError if isinstance(exc, PolicyError) else InvalidInputError
            raise kind(
                f"Scenario {manifest.name}, query '{query.name}': {exc.message}", exc.hint
            ) from None
    put_scenario(catalog.store, canonical)
    return canonical
