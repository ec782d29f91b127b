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
