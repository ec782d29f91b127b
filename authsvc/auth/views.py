"""The JSON shapes of a session, shared by whoami and the sessions list."""

from __future__ import annotations

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
