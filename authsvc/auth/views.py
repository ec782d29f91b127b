"""What the HTTP answers show: the JSON shape of a session, and the headers of the forward-auth answer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from authsvc.auth.models import SessionRecord


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat().replace("+00:00", "Z")


def session_view(record: SessionRecord) -> dict[str, str]:
    return {
        "id": record.handle,
        "createdAt": iso(record.created_at),
        "lastSeenAt": iso(record.last_seen_at),
        "idleExpiresAt": iso(record.expires_at),
        "absoluteExpiresAt": iso(record.absolute_expires_at),
    }


@dataclass(frozen=True, slots=True)
class ForwardAuthPolicy:
    """What /auth/verify answers with; one injected object keeps the gateway's hot path to two injections."""

    renews: bool
    user_id_header: str
    user_name_header: str
