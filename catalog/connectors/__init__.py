"""A registry of connectors by source kind and URL scheme.

Built-in kinds are listed here by dotted path and imported on first use, so a CLI call that
never touches MySQL never imports its driver. Other packages add kinds through the
``guajie.connectors`` entry-point group or :func:`register_connector`; a registration never
silently replaces another.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from ..errors import GuajieError, InvalidInputError
from ..models import Source
from .base import Capabilities, Connector, CrawledColumn, CrawledDataset

if TYPE_CHECKING:
    pass

__all__ = [
    "Capabilities",
    "Connector",
    "CrawledColumn",
    "CrawledDataset",
    "connector_class",
    "kind_for_url",
    "open_connector",
    "register_connector",
]

_CONNECTORS: dict[str, tuple[str, str]] = {
    "postgresql": ("guajie.catalog.connectors.postgres:PostgresConnector", "psycopg[binary]"),
    "mysql": ("guajie.catalog.connectors.mysql:MySQLConnector", "pymysql"),
    "sqlite": ("guajie.catalog.connectors.sqlite:SQLiteConnector", ""),
    "duckdb": ("guajie.catalog.connectors.duckdb:DuckDBConnector", "duckdb"),
    "file": ("guajie.catalog.connectors.files:FileConnector", "fsspec pyarrow"),
}

_SCHEMES: dict[str, str] = {
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "mysql": "mysql",
    "mariadb": "mysql",
    "sqlite": "sqlite",
    "duckdb": "duckdb",
    "file": "file",
    "s3": "file",
    "http": "file",
    "https": "file",
}

_entry_points_loaded = False


def register_connector(
    kind: str,
    target: str,
    *,
    install_hint: str = "",
    schemes: tuple[str, ...] = (),
    overwrite: bool = False,
) -> None:
    """Register ``target`` ("package.module:Class") as the connector for ``kind``."""
    if kind in _CONNECTORS and not overwrite and _CONNECTORS[kind][0] != target:
        raise GuajieError(
            f"A connector for source kind '{kind}' is already registered ({_CONNECTORS[kind][0]}).",
            "Pass overwrite=True to replace it deliberately.",
        )
    _CONNECTORS[kind] = (target, install_hint)
    for scheme in schemes or (kind,):
        _SCHEMES.setdefault(scheme, kind)


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in entry_points(group="guajie.connectors"):
        if ep.name not in _CONNECTORS:
            register_connector(ep.name, ep.value)


def kind_for_url(url: str) -> str:
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    _load_entry_points()
    if scheme in _SCHEMES:
        return _SCHEMES[scheme]
    known = ", ".join(sorted(f"{s}://" for s in _SCHEMES))
    raise InvalidInputError(
        f"Cannot tell what kind of source {url!r} is: unknown URL scheme '{scheme or '(none)'}'.",
        f"Use one of {known} — e.g. postgresql://user@host:5432/db, "
        "sqlite:///abs/path.db, file:///abs/dir.",
    )


def connector_class(kind: str) -> type[Connector]:
    _load_entry_points()
    if kind not in _CONNECTORS:
        raise InvalidInputError(
            f"No connector for source kind '{kind}'.",
            f"Known kinds: {', '.join(sorted(_CONNECTORS))}.",
        )
    target, hint = _CONNECTORS[kind]
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise GuajieError(
            f"The {kind} connector needs a package that is not installed ({exc.name}).",
            f"Install it with: pip install {hint or exc.name}",
        ) from None
    cls: type[Connector] = getattr(module, attr)
    return cls


def open_connector(source: Source) -> Connector:
    """A connector for ``source`` with its password resolved from where it is referenced."""
    from ..secrets import resolve_password

    return connector_class(source.kind)(source, resolve_password(source))
