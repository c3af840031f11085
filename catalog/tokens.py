"""API tokens of the HTTP service: one scenario each, stored as a hash of the secret.

The secret (``gjt_`` and 43 URL-safe characters, 256 random bits) is shown once, when the
token is created; the store keeps only its SHA-256, so a copy of the catalog store does not
let anyone call the service. A token is refused once revoked or past its expiry.

>>> from guajie.catalog.tokens import Tokens  # doctest: +SKIP
>>> token, secret = Tokens(catalog.store).create("policy_direct", name="app", days=90)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .errors import GuajieError, InvalidInputError, NotFoundError
from .scenarios import get_scenario

PREFIX = "gjt_"
_COLUMNS = "id, name, scenario, created_by, created_at, expires_at, revoked_at"


class TokenError(GuajieError):
    """A token that is missing, unknown, revoked or expired (HTTP 401)."""


def _now() -> datetime:
    return datetime.now(UTC)


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="seconds")


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass
class Token:
    id: str
    name: str
    scenario: str
    created_by: str
    created_at: str
    expires_at: str | None = None
    revoked_at: str | None = None

    def status(self, at: datetime | None = None) -> str:
        """``active``, ``revoked`` or ``expired``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and datetime.fromisoformat(self.expires_at) <= (
            at or _now()
        ):
            return "expired"
        return "active"

    @property
    def user(self) -> str:
        """Who the token's queries run as, in run records and the audit log."""
        return f"token:{self.id}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "status": self.status()}


class Tokens:
    """Creating, listing, revoking and checking tokens in one catalog store."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def create(
        self,
        scenario: str,
        *,
        name: str | None = None,
        days: float | None = None,
        created_by: str = "unknown",
    ) -> tuple[Token, str]:
        """A new token for ``scenario``, and its secret (not kept anywhere)."""
        scenario = scenario.strip()
        if not scenario or len(scenario) > 200:
            raise InvalidInputError(
                "A scenario name must be 1 to 200 characters.",
                "E.g. guajie token create policy_direct.",
            )
        get_scenario(self.store, scenario)  # a token serves an applied scenario only
        if days is not None and not 0 < days <= 3650:
            raise InvalidInputError("--expires must be more than 0 and at most 3650 days.")
        name = (name or scenario).strip()
        if not name or len(name) > 200:
            raise InvalidInputError("A token name must be 1 to 200 characters.")
        secret = PREFIX + secrets.token_urlsafe(32)
        created = _now()
        token = Token(
            id=secrets.token_hex(6),
            name=name,
            scenario=scenario,
            created_by=created_by,
            created_at=_stamp(created),
            expires_at=_stamp(created + timedelta(days=days)) if days is not None else None,
        )
        with self.store.write() as txn:
            txn.db.execute(
                f"INSERT INTO api_tokens ({_COLUMNS}, secret_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (*_row(token), secret_hash(secret)),
            )
        return token, secret

    def list(self) -> list[Token]:
        with self.store.read() as txn:
            rows = txn.db.execute(f"SELECT {_COLUMNS} FROM api_tokens ORDER BY created_at, id")
        return [Token(*r) for r in rows]

    def get(self, token_id: str) -> Token:
        with self.store.read() as txn:
            rows = txn.db.execute(f"SELECT {_COLUMNS} FROM api_tokens WHERE id = ?", (token_id,))
        if not rows:
            raise NotFoundError(f"No token {token_id!r}.", "List tokens with `guajie token list`.")
        return Token(*rows[0])

    def revoke(self, token_id: str) -> Token:
        """Refuse the token from now on; revoking twice keeps the first time."""
        with self.store.write() as txn:
            rows = txn.db.execute(f"SELECT {_COLUMNS} FROM api_tokens WHERE id = ?", (token_id,))
            if not rows:
                raise NotFoundError(
                    f"No token {token_id!r}.", "List tokens with `guajie token list`."
                )
            token = Token(*rows[0])
            if token.revoked_at is None:
                token.revoked_at = _stamp(_now())
                txn.db.execute(
                    "UPDATE api_tokens SET revoked_at = ? WHERE id = ?",
                    (token.revoked_at, token.id),
                )
        return token

    def authenticate(self, secret: str | None) -> Token:
        """The active token whose secret this is; :class:`TokenError` otherwise. The error
        never repeats the secret."""
        if not secret or not secret.startswith(PREFIX) or len(secret) > 200:
            raise TokenError(
                "A valid API token is required.",
                "Send 'Authorization: Bearer <token>' with a token from `guajie token create`.",
            )
        with self.store.read() as txn:
            rows = txn.db.execute(
                f"SELECT {_COLUMNS} FROM api_tokens WHERE secret_hash = ?", (secret_hash(secret),)
            )
        if not rows:
            raise TokenError(
                "The API token is not known.", "Ask the data steward for a token of your scenario."
            )
        token = Token(*rows[0])
        status = token.status()
        if status != "active":
            raise TokenError(
                f"The API token {token.id} is {status}.",
                "Ask the data steward for a new token of your scenario.",
            )
        return token


def _row(token: Token) -> tuple[Any, ...]:
    return (
        token.id,
        token.name,
        token.scenario,
        token.created_by,
        token.created_at,
        token.expires_at,
        token.revoked_at,
    )
