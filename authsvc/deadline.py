"""One storage deadline per request, so that an outage answers 503 within one bound, however much work remains.

The Edge starts a deadline when a request arrives: the database's outage bound (the server selection timeout rounded
up to the next half second). Every storage operation of the request runs within what is left of it (the MongoDB
adapters hand it to the driver), so a server that stops answering mid-operation cannot hold a request for the socket
timeout; once the request met a storage failure, the rest of its storage work (throttle give-backs, notices) that
finds nothing left is skipped at once, as a StorageUnavailable its caller logs. Background work (the purge loop, the
revocation follower, the mail sender) has no deadline.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable
from contextvars import ContextVar, Token

from authsvc.errors import StorageUnavailable

log = logging.getLogger("authsvc")

DRIVER_RECHECK_SECONDS = 0.5  # PyMongo re-checks an unknown server every half second while a request waits


class StorageDeadline:
    """The deadline of one request; failed once one of its storage operations found the storage unavailable."""

    __slots__ = ("at", "failed")

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds
        self.failed = False

    def remaining(self) -> float:
        return self.at - time.monotonic()


_current: ContextVar[StorageDeadline | None] = ContextVar("storage_deadline", default=None)


def outage_bound(server_selection_timeout_ms: int) -> float:
    """Seconds within which a request answers 503 while the database is away (docs/scaling.md): the selection
    timeout rounded up to the next half second (2000 ms: 2.5 s)."""
    return (server_selection_timeout_ms // 500 + 1) * DRIVER_RECHECK_SECONDS


def current() -> StorageDeadline | None:
    """This request's deadline, or None outside a request."""
    return _current.get()


class request_deadline:  # lower case: used as the function it was, `with request_deadline(seconds):`
    """A deadline for the storage work of the request being served (None: no deadline). A class rather than a
    @contextmanager generator: it is entered on every request, and a generator costs a microsecond more."""

    __slots__ = ("_seconds", "_token")

    def __init__(self, seconds: float | None) -> None:
        self._seconds = seconds
        self._token: Token[StorageDeadline | None] | None = None

    def __enter__(self) -> None:
        if self._seconds is not None:
            self._token = _current.set(StorageDeadline(self._seconds))

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _current.reset(self._token)


class off_the_clock:  # lower case, as request_deadline
    """Work of the request that is not storage work, here a password hash on a thread (which waits for a free thread
    when logins come faster than the threads hash): its time is given back to the request's deadline when it ends. The
    deadline bounds storage trouble; without this, a login queued behind other hashes under load reached a healthy
    database with its budget spent and answered 503 (six logins at production cost on two threads, in the image
    test on a loaded machine). An outage's 503 then comes within the bound of storage time, plus the hashing time."""

    __slots__ = ("_deadline", "_started")

    def __init__(self) -> None:
        self._deadline: StorageDeadline | None = None
        self._started = 0.0

    def __enter__(self) -> None:
        self._deadline = _current.get()
        self._started = time.monotonic()

    def __exit__(self, *exc: object) -> None:
        if self._deadline is not None:
            self._deadline.at += time.monotonic() - self._started


async def follow_up(what: str, work: Awaitable[object], **extra: object) -> bool:
    """Work after the write that decided a request's answer (a notice, a counter): it cannot undo that answer, so a
    storage failure skips it, logged, instead of turning a landed write into a 503. False when it was skipped."""
    try:
        await work
    except StorageUnavailable:
        log.warning("%s skipped: the storage is unavailable", what, extra={"event": "follow_up.skipped", **extra})
        return False
    return True
