"""An audit event, and what a reader asks for."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Literal

Outcome = Literal["success", "failure"]


@dataclass(frozen=True, slots=True)
class Event:
    """One security-relevant change or decision. Never a password, hash, token, cookie or full email address:
    details hold only counts, names of services and keyed pseudonyms."""

    id: str  # sorts as the time it was recorded: the readers' cursor
    at: float
    type: str
    actor: str  # "user", "anonymous", "admin:<token name>", "cli", "system"
    user_id: str | None
    ip: str | None
    user_agent: str | None
    request_id: str | None
    outcome: Outcome
    details: dict[str, str | int | bool] = field(default_factory=dict)

    def fields(self) -> dict[str, object]:
        """The event under its wire names, its time in seconds: the one shape GET /admin/events, the webhook payload
        and the MongoDB document write, each then giving `at` its own form."""
        return {
            "id": self.id,
            "at": self.at,
            "type": self.type,
            "actor": self.actor,
            "userId": self.user_id,
            "ip": self.ip,
            "userAgent": self.user_agent,
            "requestId": self.request_id,
            "outcome": self.outcome,
            "details": self.details,
        }


class EventIds:
    """Ids whose string order is the order they were made in: milliseconds, then a sequence within one (never going
    back, whatever the clock does), then randomness, so two replicas' ids never collide."""

    def __init__(self) -> None:
        self._last = (0, 0)

    def next(self, at: float) -> str:
        millis, sequence = max(int(at * 1000), self._last[0]), 0
        if millis == self._last[0]:
            sequence = self._last[1] + 1
        self._last = (millis, sequence)
        return f"{millis:012x}{sequence:06x}{secrets.token_hex(3)}"


@dataclass(frozen=True, slots=True)
class EventQuery:
    user_id: str | None = None
    type: str | None = None
    since: float | None = None
    until: float | None = None

    def matches(self, event: Event) -> bool:
        return (
            (self.user_id is None or event.user_id == self.user_id)
            and (self.type is None or event.type == self.type)
            and (self.since is None or event.at >= self.since)
            and (self.until is None or event.at < self.until)
        )
