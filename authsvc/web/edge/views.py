"""The wire shapes, written once: a user, a session and a passkey as the JSON answers show them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from authsvc.auth.models import Passkey, SessionRecord
from authsvc.login.outcomes import SecondFactorNeeded, SignedIn
from authsvc.users.models import User

SECOND_FACTOR_REQUIRED = "Second factor required"


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat().replace("+00:00", "Z")


def user_view(user: User) -> dict[str, str]:
    """The tutorial's user shape."""
    return {"userId": user.id, "userName": user.username}


def session_view(record: SessionRecord) -> dict[str, Any]:
    return {
        "id": record.handle,
        "createdAt": iso(record.created_at),
        "lastSeenAt": iso(record.last_seen_at),
        "idleExpiresAt": iso(record.expires_at),
        "absoluteExpiresAt": iso(record.absolute_expires_at),
        "factors": list(record.factors),
        "provenAt": iso(record.proven_at) if record.proven_at is not None else None,
    }


def login_body(user: User) -> dict[str, object]:
    """The tutorial's answer to a finished login, whatever proved it."""
    return {"User": user_view(user), "msg": "User logged in"}


def login_view(outcome: SignedIn | SecondFactorNeeded) -> dict[str, object]:
    """The JSON answer to a login's outcome: the tutorial's, or the methods the waiting login can finish with."""
    if isinstance(outcome, SecondFactorNeeded):
        return {"msg": SECOND_FACTOR_REQUIRED, "mfa": {"methods": outcome.methods}}
    return login_body(outcome.user)


def passkey_view(passkey: Passkey) -> dict[str, str | None]:
    return {
        "id": passkey.credential_id,
        "name": passkey.name,
        "createdAt": iso(passkey.created_at),
        "lastUsedAt": iso(passkey.last_used_at) if passkey.last_used_at is not None else None,
    }
