"""``guajie catalog ...``: browse, search and describe datasets and columns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from guajie.cli.output import fields, human_delta, human_size, json_option, print_json, table


@click.group()
def catalog() -> None:
    """Browse, search and describe the catalog (目录台账)."""


def _label(value: Any) -> str:
    return f"{value.label} ({value.value})" if value is not None else ""


def _dataset_rows(datasets: list[Any]) -> list[tuple[Any, ...]]:
    return [
        (
            d.qualified_name,
            d.title if d.title != d.name else "",
            d.effective_grade.label if d.effective_grade else "",
            d.sharing_type.label if d.sharing_type else "未分类",
            d.update_cycle.label if d.update_cycle else "",
            d.row_count,
            human_size(d.size_bytes),
            len(d.sensitive_columns) or "",
        )
        for d in datasets
    ]


_DATASET_HEADERS = ["dataset", "title", "grade", "sharing", "cycle", "rows", "size", "PI cols"]


@catalog.command("list")
@click.option("--source", help="Only datasets of this source.")
@click.option("--tag", "tags", multiple=True, help="Only datasets with this tag (repeatable).")
@click.option("--grade", help="Only datasets of this grade or higher (一般/重要/核心).")
@click.option("--sensitive", is_flag=True, help="Only datasets with personal information.")
@click.option("--unclassified", is_flag=True, help="Only datasets without a sharing type.")
@json_option
@click.pass_context
def catalog_list(
    ctx: click.Context,
    source: str | None,
    tags: tuple[str, ...],
    grade: str | None,
    sensitive: bool,
    unclassified: bool,
    as_json: bool,
) -> None:
    """List datasets."""
    from guajie.catalog.models import Grade
    from guajie.cli import open_catalog

    datasets = open_catalog(ctx).datasets(source)
    if tags:
        datasets = [d for d in datasets if set(tags) <= set(d.tags)]
    if grade:
        floor = Grade.parse(grade).rank
        datasets = [d for d in datasets if d.effective_grade and d.effective_grade.rank >= floor]
    if sensitive:
        datasets = [d for d in datasets if d.sensitive_columns]
    if unclassified:
        datasets = [d for d in datasets if d.sharing_type is None]
    if as_json:
        print_json([_dataset_json(d) for d in datasets])
        return
    table(
        None,
        _DATASET_HEADERS,
        _dataset_rows(datasets),
        empty="No datasets. Register a source and run `guajie crawl`.",
    )


def _dataset_json(d: Any) -> dict[str, Any]:
    doc = d.model_dump(mode="json", by_alias=True, exclude_none=True)
    doc["qualified_name"] = d.qualified_name
    doc["effective_grade"] = d.effective_grade.value if d.effective_grade else None
    return doc


@catalog.command("show")
@click.argument("target")
@click.option("--history", is_flag=True, help="Also list the schema versions seen.")
@json_option
@click.pass_context
def catalog_show(ctx: click.Context, target: str, history: bool, as_json: bool) -> None:
    """Show a dataset (source.schema.table) or a column (...table.column)."""
    from guajie.cli import open_catalog

    cat = open_catalog(ctx)
    dataset, column = cat.resolve(target)
    versions = cat.history(dataset.qualified_name) if history else None
    if as_json:
        if column is not None:
            print_json(
                {
                    "dataset": dataset.qualified_name,
                    **column.model_dump(mode="json", exclude_none=True),
                }
            )
        else:
            print_json({**_dataset_json(dataset), **({"history": versions} if history else {})})
        return
    if column is not None:
        stats = column.stats
        fields(
            [
                ("column", f"{dataset.qualified_name}.{column.name}"),
                ("type", column.type),
                ("nullable", "yes" if column.nullable else "no"),
                ("description", column.description),
                ("grade", _label(column.grade)),
                (
                    "sensitivity",
                    f"{_label(column.sensitivity)} — {column.sensitivity_source}: "
                    f"{column.sensitivity_reason}"
                    if column.sensitivity
                    else None,
                ),
                ("null fraction", stats.null_fraction if stats else None),
                ("distinct", stats.distinct_count if stats else None),
                ("min", stats.min if stats else None),
                ("max", stats.max if stats else None),
            ]
        )
        return
    d = dataset
    fields(
        [
            ("dataset", d.qualified_name),
            ("信息资源名称 title", d.title),
            ("信息资源代码 code", d.resource_code),
            ("kind", d.kind),
            ("格式 format", d.format),
            ("location", d.location),
            ("owner", d.owner),
            ("摘要 description", d.description),
            ("分类 category", d.category),
            ("tags", ", ".join(d.tags)),
            ("更新周期 update cycle", _label(d.update_cycle)),
            ("共享属性 sharing", _label(d.sharing_type)),
            ("共享条件 condition", d.sharing_condition),
            ("legal basis", d.legal_basis),
            ("开放属性 open", _label(d.open_type)),
            ("open condition", d.open_condition),
            (
                "grade",
                _label(d.effective_grade)
                + (
                    " (from its columns)"
                    if d.effective_grade and d.effective_grade != d.grade
                    else ""
                ),
            ),
            ("rows", d.row_count),
            ("size", human_size(d.size_bytes)),
            ("partitioned by", ", ".join(d.partitioning)),
            ("last modified", d.last_modified),
            ("发布日期 published", d.published_at),
            ("crawled", d.crawled_at),
        ]
    )
    click.echo("")
    table(
        "信息项 columns",
        [
            "column",
            "type",
            "null",
            "description",
            "grade",
            "sensitivity",
            "null %",
            "distinct",
            "min",
            "max",
        ],
        [
            (
                c.name,
                c.type,
                "" if c.nullable else "not null",
                c.description,
                c.grade.label if c.grade else "",
                (c.sensitivity.label + ("?" if c.sensitivity_source == "suggested" else ""))
                if c.sensitivity
                else "",
                f"{c.stats.null_fraction:.0%}"
                if c.stats and c.stats.null_fraction is not None
                else "",
                c.stats.distinct_count if c.stats else "",
                c.stats.min if c.stats else "",
                c.stats.max if c.stats else "",
            )
            for c in d.columns
        ],
    )
    if any(c.sensitivity_source == "suggested" for c in d.columns):
        click.echo(
            "\n? = suggested by the detector; confirm with "
            f"`guajie catalog confirm {d.qualified_name}` or override with "
            "`guajie catalog classify COLUMN --sensitivity KIND|none`."
        )
    if versions:
        click.echo("")
        table(
            "schema history",
            ["recorded", "fingerprint", "columns"],
            [(v["recorded_at"], v["fingerprint"], len(v["columns"])) for v in versions],
        )


@catalog.command("search")
@click.argument("text")
@json_option
@click.pass_context
def catalog_search(ctx: click.Context, text: str, as_json: bool) -> None:
    """Find datasets by name, title, description, tag, owner or column."""
    from guajie.cli import open_catalog

    found = open_catalog(ctx).search(text)
    if as_json:
        print_json([_dataset_json(d) for d in found])
    else:
        table(None, _DATASET_HEADERS, _dataset_rows(found), empty=f"Nothing matches {text!r}.")


@catalog.command("stale")
@json_option
@click.pass_context
def catalog_stale(ctx: click.Context, as_json: bool) -> None:
    """List datasets overdue for their declared update cycle (更新周期)."""
    from guajie.cli import open_catalog

    stale = open_catalog(ctx).stale()
    if as_json:
        print_json(
            [
                {
                    "dataset": d.qualified_name,
                    "update_cycle": d.update_cycle,
                    "last_modified": d.last_modified,
                    "overdue_seconds": o.total_seconds(),
                }
                for d, o in stale
            ]
        )
        return
    table(
        None,
        ["dataset", "update cycle", "last modified", "overdue by"],
        [
            (d.qualified_name, _label(d.update_cycle), d.last_modified, human_delta(o))
            for d, o in stale
        ],
        empty="No dataset is overdue.",
    )


@catalog.command("diff")
@click.argument("target", required=False)
@click.option("--since", type=click.DateTime(), help="Only changes detected since then.")
@click.option("--breaking", is_flag=True, help="Only breaking changes.")
@json_option
@click.pass_context
def catalog_diff(
    ctx: click.Context, target: str | None, since: datetime | None, breaking: bool, as_json: bool
) -> None:
    """Schema drift found by crawls, for all sources, a SOURCE or a dataset."""
    from datetime import UTC

    from guajie.cli import open_catalog

    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    changes = open_catalog(ctx).drift(target, since)
    if breaking:
        changes = [c for c in changes if c.breaking]
    if as_json:
        print_json(changes)
        return
    table(
        None,
        ["detected", "dataset", "change", "column", "old", "new", "breaking"],
        [
            (
                c.detected_at,
                c.dataset,
                c.change,
                c.column,
                c.old,
                c.new,
                "yes" if c.breaking else "no",
            )
            for c in changes
        ],
        empty="No drift recorded.",
    )


@catalog.command("describe")
@click.argument("target")
@click.argument("text")
@json_option
@click.pass_context
def catalog_describe(ctx: click.Context, target: str, text: str, as_json: bool) -> None:
    """Set the description (摘要) of a dataset or column."""
    from guajie.cli import open_catalog

    dataset = open_catalog(ctx).update(target, description=text)
    _done(dataset, target, as_json, "described")


@catalog.command("tag")
@click.argument("target")
@click.argument("tags", nargs=-1, required=True)
@click.option("--remove", is_flag=True, help="Remove the tags instead of adding them.")
@json_option
@click.pass_context
def catalog_tag(
    ctx: click.Context, target: str, tags: tuple[str, ...], remove: bool, as_json: bool
) -> None:
    """Add (or --remove) tags on a dataset."""
    from guajie.cli import open_catalog

    cat = open_catalog(ctx)
    dataset = cat.tag(target, remove=tags) if remove else cat.tag(target, add=tags)
    _done(dataset, target, as_json, f"tags now: {', '.join(dataset.tags) or '(none)'}")


@catalog.command("classify")
@click.argument("target")
@click.option("--grade", help="Data grade: 一般/重要/核心 (general/important/core).")
@click.option("--sensitivity", help="Column only: personal-information kind, or 'none'.")
@click.option("--sharing", help="共享类型: 无条件共享/有条件共享/不予共享.")
@click.option("--sharing-condition", help="共享条件, required for conditional sharing.")
@click.option("--legal-basis", help="Legal basis, required for 不予共享.")
@click.option("--open", "open_type", help="开放属性: 无条件开放/有条件开放/不予开放.")
@click.option("--open-condition", help="Required for conditional opening.")
@click.option("--update-cycle", help="更新周期: 实时/每日/每周/每月/每季度/每年 ...")
@click.option("--owner", help="Responsible person or office.")
@click.option("--title", help="信息资源名称.")
@click.option("--category", help="分类, e.g. 基础信息资源/主题信息资源/部门信息资源.")
@json_option
@click.pass_context
def catalog_classify(ctx: click.Context, target: str, as_json: bool, **options: str | None) -> None:
    """Set classification and sharing terms of a dataset, or grade/sensitivity of a column."""
    from guajie.cli import open_catalog

    rename = {"sharing": "sharing_type", "open_type": "open_type"}
    changes: dict[str, Any] = {rename.get(k, k): v for k, v in options.items() if v is not None}
    if changes.get("sensitivity", "").lower() in ("none", "无"):
        changes["sensitivity"] = None
    if not changes:
        raise click.UsageError("Give at least one option to set (see --help).")
    dataset = open_catalog(ctx).update(target, **changes)
    _done(dataset, target, as_json, "classified")


@catalog.command("confirm")
@click.argument("targets", nargs=-1, required=True)
@json_option
@click.pass_context
def catalog_confirm(ctx: click.Context, targets: tuple[str, ...], as_json: bool) -> None:
    """Confirm the detector's sensitivity suggestions for datasets or columns."""
    from guajie.cli import open_catalog

    cat = open_catalog(ctx)
    confirmed = []
    for target in targets:
        dataset, column = cat.resolve(target)
        columns = [column] if column else dataset.columns
        for col in columns:
            if col.sensitivity_source == "suggested":
                cat.update(f"{dataset.qualified_name}.{col.name}", sensitivity=col.sensitivity)
                confirmed.append(f"{dataset.qualified_name}.{col.name}")
    if as_json:
        print_json({"confirmed": confirmed})
    else:
        click.echo(
            f"Confirmed {len(confirmed)} suggestion(s)." + "".join(f"\n  {c}" for c in confirmed)
        )


@catalog.command("sensitive")
@click.option("--pending", is_flag=True, help="Only suggestions awaiting review.")
@json_option
@click.pass_context
def catalog_sensitive(ctx: click.Context, pending: bool, as_json: bool) -> None:
    """List columns holding personal information (confirmed and suggested)."""
    from guajie.cli import open_catalog

    rows = [
        (d.qualified_name, c)
        for d in open_catalog(ctx).datasets()
        for c in d.sensitive_columns
        if not pending or c.sensitivity_source == "suggested"
    ]
    if as_json:
        print_json(
            [
                {
                    "dataset": qn,
                    "column": c.name,
                    "sensitivity": c.sensitivity,
                    "status": c.sensitivity_source,
                    "reason": c.sensitivity_reason,
                }
                for qn, c in rows
            ]
        )
        return
    table(
        None,
        ["dataset", "column", "sensitivity", "status", "reason"],
        [
            (qn, c.name, _label(c.sensitivity), c.sensitivity_source, c.sensitivity_reason)
            for qn, c in rows
        ],
        empty="No personal information recorded.",
    )


def _done(dataset: Any, target: str, as_json: bool, what: str) -> None:
    if as_json:
        print_json(_dataset_json(dataset))
    else:
        click.echo(f"{target}: {what}.")


COMMANDS = [catalog]
