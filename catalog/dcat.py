"""W3C DCAT 3 (JSON-LD) export for open-data portals.

Frequencies use the EU Publications Office vocabulary portals already understand; access
rights map the 开放属性: 无条件开放 -> PUBLIC, 有条件开放 -> RESTRICTED, otherwise NON_PUBLIC.
"""

from __future__ import annotations

from typing import Any

from .models import Dataset, OpenType, Source

_FREQ = "http://publications.europa.eu/resource/authority/frequency/"
_ACCESS = "http://publications.europa.eu/resource/authority/access-right/"
_FREQUENCIES = {
    "real-time": "CONT",
    "hourly": "HOURLY",
    "daily": "DAILY",
    "weekly": "WEEKLY",
    "monthly": "MONTHLY",
    "quarterly": "QUARTERLY",
    "half-yearly": "ANNUAL_2",
    "yearly": "ANNUAL",
    "irregular": "IRREG",
}
_MEDIA_TYPES = {
    "Parquet": "application/vnd.apache.parquet",
    "CSV": "text/csv",
    "JSON": "application/x-ndjson",
}

CONTEXT = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "vcard": "http://www.w3.org/2006/vcard/ns#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}


def _access_right(dataset: Dataset) -> str:
    codes = {OpenType.OPEN: "PUBLIC", OpenType.CONDITIONAL: "RESTRICTED"}
    code = codes.get(dataset.open_type, "NON_PUBLIC") if dataset.open_type else "NON_PUBLIC"
    return _ACCESS + code


def dcat_catalog(
    sources: list[Source],
    datasets: list[Dataset],
    *,
    title: str = "guajie catalog",
    open_only: bool = False,
    base_uri: str = "urn:guajie:",
) -> dict[str, Any]:
    by_name = {s.name: s for s in sources}
    selected = [
        d for d in datasets if not open_only or d.open_type in (OpenType.OPEN, OpenType.CONDITIONAL)
    ]
    return {
        "@context": CONTEXT,
        "@id": f"{base_uri}catalog",
        "@type": "dcat:Catalog",
        "dct:title": title,
        "dcat:dataset": [_dataset(d, by_name.get(d.source), base_uri) for d in selected],
    }


def _dataset(d: Dataset, source: Source | None, base_uri: str) -> dict[str, Any]:
    node: dict[str, Any] = {
        "@id": f"{base_uri}dataset:{d.resource_code}",
        "@type": "dcat:Dataset",
        "dct:identifier": d.resource_code,
        "dct:title": d.title or d.name,
        "dct:accessRights": {"@id": _access_right(d)},
    }
    if d.description:
        node["dct:description"] = d.description
    if d.tags:
        node["dcat:keyword"] = d.tags
    if d.category:
        node["dcat:theme"] = d.category
    if d.update_cycle:
        node["dct:accrualPeriodicity"] = {"@id": _FREQ + _FREQUENCIES[d.update_cycle.value]}
    if d.published_at:
        node["dct:issued"] = {"@value": d.published_at.isoformat(), "@type": "xsd:dateTime"}
    if d.last_modified:
        node["dct:modified"] = {"@value": d.last_modified.isoformat(), "@type": "xsd:dateTime"}
    if source and source.department:
        node["dct:publisher"] = {
            "@type": "foaf:Organization",
            "foaf:name": source.department,
            **({"dct:identifier": source.department_code} if source.department_code else {}),
        }
    if source and source.contacts:
        c = source.contacts[0]
        node["dcat:contactPoint"] = {
            "@type": "vcard:Kind",
            "vcard:fn": c.name,
            **({"vcard:hasEmail": f"mailto:{c.email}"} if c.email else {}),
        }
    distribution: dict[str, Any] = {"@type": "dcat:Distribution", "dct:format": d.format or "table"}
    if d.format in _MEDIA_TYPES:
        distribution["dcat:mediaType"] = _MEDIA_TYPES[d.format]
    if d.size_bytes is not None:
        distribution["dcat:byteSize"] = {
            "@value": str(d.size_bytes),
            "@type": "xsd:nonNegativeInteger",
        }
    node["dcat:distribution"] = [distribution]
    return node
