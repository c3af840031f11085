"""Where the Trino engine is and how to talk to it.

Settings come from, later ones winning: the ``trino:`` section of the workspace's
``guajie.yaml``, environment variables (``GUAJIE_TRINO_URL``, ``GUAJIE_TRINO_USER``,
``GUAJIE_TRINO_PASSWORD_ENV``), then explicit overrides (CLI options, API keywords)::

    trino:
      url: https://trino.city.gov.cn:8443   # http:// only for a loopback or trusted network
      user: guajie                           # who queries run as
      password_env: GUAJIE_TRINO_PASSWORD    # password authentication (https only)
      verify: /etc/ssl/city-ca.pem           # true (default), false, or a CA bundle
      catalog_dir: /srv/trino/etc/catalog    # where `guajie trino sync` writes catalog files
      hive_dir: /srv/guajie/trino-hive       # metastore + links for local file sources
      catalogs: auto                         # auto | dynamic | files (how sync applies them)
      encoding: json+zstd                    # spooled results, when the cluster spools
      transfer: json                         # json (default) | parquet: large answers as files
      results_dir: /srv/shared/trino-results # for parquet: read and written by Trino and guajie

The password itself is never in the file: ``password_env`` names the variable holding it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import TrinoConfigError

DEFAULT_URL = "http://127.0.0.1:8080"
CATALOG_MODES = ("auto", "dynamic", "files")
TRANSFERS = ("json", "parquet")
_ENV = {
    "url": "GUAJIE_TRINO_URL",
    "user": "GUAJIE_TRINO_USER",
    "password_env": "GUAJIE_TRINO_PASSWORD_ENV",
}


@dataclass(frozen=True)
class TrinoSettings:
    url: str = DEFAULT_URL
    user: str = "guajie"
    password_env: str | None = None
    verify: bool | str = True
    catalog_dir: Path | None = None
    hive_dir: Path | None = None
    catalogs: str = "auto"
    encoding: str | None = None
    transfer: str = "json"
    results_dir: Path | None = None
    request_timeout: float = 60.0
    session_properties: dict[str, str] = field(default_factory=dict)

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        parts = urlsplit(self.url)
        return parts.port or (443 if parts.scheme == "https" else 8080)

    @property
    def http_scheme(self) -> str:
        return urlsplit(self.url).scheme or "http"

    def password(self) -> str | None:
        if not self.password_env:
            return None
        value = os.environ.get(self.password_env)
        if value is None:
            raise TrinoConfigError(
                f"The Trino password is read from the environment variable "
                f"{self.password_env}, which is not set.",
                f"Set {self.password_env}, or remove password_env from the trino settings.",
            )
        return value

    def validated(self) -> TrinoSettings:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise TrinoConfigError(
                f"The Trino URL {self.url!r} is not an http(s) URL.",
                "Write it as http://host:port or https://host:port.",
            )
        if parts.username or parts.password:
            raise TrinoConfigError(
                "The Trino URL must not carry a user or password.",
                "Set trino.user, and trino.password_env naming the variable with the password.",
            )
        if self.password_env and parts.scheme != "https":
            raise TrinoConfigError(
                "Trino accepts passwords over https only, and the URL is http.",
                "Use an https:// URL (and trino.verify for a private CA), or drop password_env.",
            )
        if self.transfer not in TRANSFERS:
            raise TrinoConfigError(
                f"trino.transfer is {self.transfer!r}; use one of {', '.join(TRANSFERS)}."
            )
        if self.catalogs not in CATALOG_MODES:
            raise TrinoConfigError(
                f"trino.catalogs is {self.catalogs!r}; use one of {', '.join(CATALOG_MODES)}."
            )
        if isinstance(self.verify, str) and not Path(self.verify).expanduser().is_file():
            raise TrinoConfigError(
                f"trino.verify names {self.verify}, which is not a file.",
                "Give the path of a PEM CA bundle, or true / false.",
            )
        return self

    def with_overrides(self, **overrides: Any) -> TrinoSettings:
        known = {f.name for f in fields(self)}
        unknown = set(overrides) - known
        if unknown:
            raise TrinoConfigError(f"Unknown Trino setting(s): {', '.join(sorted(unknown))}.")
        values = {k: v for k, v in overrides.items() if v is not None}
        return replace(self, **_coerce(values)).validated()


def _coerce(values: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key in ("catalog_dir", "hive_dir", "results_dir") and value is not None:
            value = Path(str(value)).expanduser()
        elif key == "verify" and isinstance(value, str):
            low = value.strip().lower()
            value = (
                True
                if low in ("true", "yes", "1")
                else False
                if low in ("false", "no", "0")
                else value
            )
        elif key == "request_timeout":
            value = float(value)
        elif key == "session_properties":
            value = {str(k): str(v) for k, v in dict(value).items()}
        elif key in ("url", "user", "password_env", "catalogs", "encoding", "transfer"):
            value = str(value)
        out[key] = value
    if "url" in out:
        out["url"] = out["url"].rstrip("/")
    return out


def load_settings(workspace: Any = None, **overrides: Any) -> TrinoSettings:
    """Settings for a workspace (a :class:`~guajie.catalog.workspace.Workspace` or None)."""
    section: dict[str, Any] = {}
    home: Path | None = None
    if workspace is not None:
        home = Path(workspace.home)
        extra = getattr(workspace.config, "model_extra", None) or {}
        raw = extra.get("trino") or {}
        if not isinstance(raw, Mapping):
            raise TrinoConfigError(
                f"The trino section of {home / 'guajie.yaml'} must be a mapping.",
                "Write it as `trino:` followed by indented `url: ...`, `user: ...` lines.",
            )
        section = dict(raw)
    for key, var in _ENV.items():
        if os.environ.get(var):
            section[key] = os.environ[var]
    base = TrinoSettings()
    if home is not None:
        base = replace(
            base,
            catalog_dir=home / "trino" / "catalog",
            hive_dir=home / "trino" / "hive",
            results_dir=home / "trino" / "results",
        )
    try:
        merged = base.with_overrides(**section)
    except TypeError as exc:
        raise TrinoConfigError(f"The trino settings are not valid: {exc}") from None
    return merged.with_overrides(**overrides)
