"""Helpers for the lineage tests: sample-city workspaces and OpenLineage schema validation.

Validation is offline: every ``$ref`` resolves from the vendored official schemas in
``tests/openlineage_spec`` (see its README).
"""

from __future__ import annotations

import json
import shutil
from functools import cache
from pathlib import Path
from typing import Any

SPEC = Path(__file__).parent / "openlineage_spec"
RUN_EVENT = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"


@cache
def _registry() -> Any:
    from referencing import Registry, Resource

    resources = []
    for path in [SPEC / "OpenLineage.json", *sorted((SPEC / "facets").glob("*.json"))]:
        schema = json.loads(path.read_text(encoding="utf-8"))
        resources.append((schema["$id"], Resource.from_contents(schema)))

    def missing(uri: str) -> Any:
        raise LookupError(f"{uri} is not among the vendored OpenLineage schemas")

    return Registry(retrieve=missing).with_resources(resources)  # type: ignore[call-arg]


def validate_event(event: dict[str, Any]) -> None:
    """Validate a RunEvent and each of its facets against the official JSON Schemas."""
    from jsonschema import Draft202012Validator

    def check(data: Any, ref: str) -> None:
        validator = Draft202012Validator(
            {"$ref": ref},
            registry=_registry(),
            format_checker=Draft202012Validator.FORMAT_CHECKER,
        )
        errors = sorted(validator.iter_errors(data), key=lambda e: list(e.path))
        assert not errors, f"{ref}: " + "; ".join(
            f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors[:5]
        )

    assert event["schemaURL"].startswith("https://openlineage.io/spec/2-0-2/")
    check(event, RUN_EVENT)
    facet_groups = [event["run"].get("facets", {}), event["job"].get("facets", {})]
    for dataset in event.get("inputs", []) + event.get("outputs", []):
        facet_groups.append(dataset.get("facets", {}))
        facet_groups.append(dataset.get("inputFacets", {}))
        facet_groups.append(dataset.get("outputFacets", {}))
    for facets in facet_groups:
        for facet in facets.values():
            check(facet, facet["_schemaURL"])


def read_events(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def register_city(home: Path, city: Path) -> None:
    """The embedded sample city (SQLite and files) registered and crawled in ``home``."""
    from guajie.catalog.ledger import Catalog
    from tests.support.policies import raw_personal_information

    catalog = raw_personal_information(Catalog.open(str(home)))
    for name in ("market", "hrss", "civil"):
        catalog.add_source(name, f"sqlite://{city}/{name}.sqlite")
    catalog.add_source("tax", f"file://{city}/tax")
    catalog.add_source("transport", f"file://{city}/transport")
    catalog.crawl()
    catalog.workspace.close()


def copy_workspace(base: Path, dest: Path, **settings: Any) -> Path:
    """A private copy of a crawled workspace, with extra guajie.yaml settings."""
    import yaml

    shutil.copytree(base, dest)
    config_path = dest / "guajie.yaml"
    config = yaml.safe_load(config_path.read_text()) or {}
    config.update(settings)
    config_path.write_text(yaml.safe_dump(config, allow_unicode=True))
    return dest


def files_under(path: Path) -> list[str]:
    """Every file below ``path`` (hidden ones included), relative, sorted."""
    if not path.exists():
        return []
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())


def lineage_rows(catalog: Any) -> dict[str, int]:
    """Row counts of the lineage tables (what a failed run must not add to)."""
    tables = (
        "run_inputs",
        "run_input_columns",
        "run_outputs",
        "column_lineage",
        "dataset_lineage",
        "dataset_usage",
        "column_usage",
        "derived_datasets",
    )
    with catalog.store.read() as txn:
        return {t: int(txn.db.execute(f"SELECT count(*) FROM {t}")[0][0]) for t in tables}
