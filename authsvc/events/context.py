"""Who is asking, for the events a request's services raise: set by the HTTP edge, read by the trail."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RequestContext:
    ip: str | None
    user_agent: str | None
    actor: str | None = None  # set where the caller is not the session's user: an admin token's `admin:<name>`


request_context: ContextVar[RequestContext | None] = ContextVar("request_context", default=None)
