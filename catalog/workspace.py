"""A workspace: the directory holding a city's catalog store and settings.

Resolved from ``--home``, then ``GUAJIE_HOME``, then ``./.guajie``. ``guajie.yaml`` inside it
says where the store lives (the embedded ``catalog.db`` unless a PostgreSQL URL is given).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import InvalidInputError
from .store import CatalogStore, open_backend

CONFIG_FILE = "guajie.yaml"


class MaskConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keep_first: int = Field(0, ge=0)
    keep_last: int = Field(0, ge=0)
    fill: str = Field("****", min_length=1)


class PolicyConfig(BaseModel):
    """The default policy: what anyone reads outside a scenario (steward use)."""

    model_config = ConfigDict(extra="forbid")

    # Columns holding personal information: masked (default) or raw outside a scenario.
    personal_information: Literal["masked", "raw"] = "masked"
    # 有条件共享 datasets outside a scenario: allowed (stewards) or denied.
    conditional: Literal["allow", "deny"] = "allow"
    # Aggregates over aggregate-only columns: groups smaller than this are dropped.
    min_group_size: int = Field(5, ge=1)
    # Masks per kind of personal information (id_number, phone, name, ...).
    masks: dict[str, MaskConfig] = Field(default_factory=dict)


class WorkspaceConfig(BaseModel):
    model_config = ConfigDict(extra="allow")

    store: str | None = None  # None: the embedded SQLite file in the workspace
    store_password_env: str | None = None
    policy: PolicyConfig | None = None


def default_home() -> Path:
    return Path(os.environ.get("GUAJIE_HOME") or ".guajie")


@dataclass
class Workspace:
    home: Path
    config: WorkspaceConfig
    _store: CatalogStore | None = field(default=None, repr=False)

    @classmethod
    def open(cls, home: str | Path | None = None) -> Workspace:
        """Open a workspace, creating an embedded one on first use."""
        path = Path(home) if home is not None else default_home()
        config_path = path / CONFIG_FILE
        if config_path.exists():
            config = load_config(config_path)
        else:
            config = WorkspaceConfig()
            write_config(path, config)
        return cls(path, config)

    @classmethod
    def init(
        cls,
        home: str | Path | None = None,
        store: str | None = None,
        store_password_env: str | None = None,
    ) -> Workspace:
        path = Path(home) if home is not None else default_home()
        config = (
            load_config(path / CONFIG_FILE) if (path / CONFIG_FILE).exists() else WorkspaceConfig()
        )
        if store is not None:
            config.store = store
            config.store_password_env = store_password_env
        write_config(path, config)
        ws = cls(path, config)
        ws.store  # noqa: B018 - opening the store creates and migrates it
        return ws

    @property
    def store_location(self) -> str:
        return self.config.store or str(self.home / "catalog.db")

    @property
    def store(self) -> CatalogStore:
        if self._store is None:
            password = None
            if self.config.store_password_env:
                password = os.environ.get(self.config.store_password_env)
            self._store = CatalogStore(open_backend(self.store_location, password))
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


def load_config(path: Path) -> WorkspaceConfig:
    try:
        data: Any = yaml.safe_load(path.read_text()) or {}
        return WorkspaceConfig.model_validate(data)
    except (yaml.YAMLError, ValidationError) as exc:
        raise InvalidInputError(
            f"The workspace settings file {path} is not valid: {exc}",
            "Fix the file or remove it to start from the defaults.",
        ) from None


def write_config(home: Path, config: WorkspaceConfig) -> None:
    home.mkdir(parents=True, exist_ok=True)
    target = home / CONFIG_FILE
    tmp = target.with_suffix(".yaml.tmp")
    tmp.write_text(yaml.safe_dump(config.model_dump(exclude_none=True), allow_unicode=True))
    os.replace(tmp, target)
