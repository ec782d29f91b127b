"""The MongoDB client, and what turns "the database cannot answer now" into StorageUnavailable.

One code path serves both drivers: PyMongo's native AsyncMongoClient (the default) and Motor. Both expose awaitable
collection methods and cursors with ``to_list``; only the client's class and its ``close`` differ.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pymongo
from pymongo.errors import ConnectionFailure, ExecutionTimeout, OperationFailure, PyMongoError, WTimeoutError

from authsvc import deadline
from authsvc.config import MongoSettings
from authsvc.deadline import DRIVER_RECHECK_SECONDS
from authsvc.errors import StorageUnavailable

log = logging.getLogger("authsvc.storage")

# Server answers that mean "not now" rather than "never": elections, shutdowns, time limits, write concern timeouts.
TRANSIENT_CODES = frozenset({6, 7, 50, 64, 89, 91, 133, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436})


def connect(settings: MongoSettings) -> Any:
    """A client for the configured driver; it connects lazily, on the first operation."""
    options: dict[str, Any] = {
        "serverSelectionTimeoutMS": settings.server_selection_timeout_ms,
        "connectTimeoutMS": settings.connect_timeout_ms,
        "socketTimeoutMS": settings.socket_timeout_ms,
        "w": "majority",  # an acknowledged signup survives a primary's failover
        "journal": True,
        "readPreference": "primary",  # a revocation is seen by the very next read, on any replica
        "tz_aware": True,
        "appname": "authsvc",
    }
    if settings.driver == "motor":
        from motor.motor_asyncio import AsyncIOMotorClient  # imported only when chosen: Motor is deprecated

        return AsyncIOMotorClient(settings.url, **options)
    from pymongo import AsyncMongoClient

    return AsyncMongoClient(settings.url, **options)


async def disconnect(client: Any) -> None:
    closed = client.close()  # a coroutine for PyMongo, None for Motor
    if inspect.isawaitable(closed):
        await closed


def _unavailable(exc: PyMongoError) -> bool:
    """Whether the database could not answer now, as opposed to refusing what we asked."""
    if isinstance(exc, ConnectionFailure | ExecutionTimeout | WTimeoutError) or exc.timeout:
        return True
    if exc.has_error_label("RetryableWriteError") or exc.has_error_label("TransientTransactionError"):
        return True
    return isinstance(exc, OperationFailure) and exc.code in TRANSIENT_CODES


class Availability:
    """Turns "the database cannot answer now" into StorageUnavailable; logs when it goes away and when it is back."""

    def __init__(self) -> None:
        self.down = False

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        """One operation, within what is left of the request's deadline."""
        request = deadline.current()
        try:
            with _within(request, self.down):
                yield
        except PyMongoError as exc:
            if not _unavailable(exc):
                raise
            if request is not None:
                request.failed = True
            if not self.down:
                self.down = True
                log.warning(
                    "MongoDB is unavailable; requests that need it answer 503: %s: %.200s", type(exc).__name__, exc
                )
            raise StorageUnavailable() from exc
        if self.down:
            self.down = False
            log.info("MongoDB answers again")


def _within(request: deadline.StorageDeadline | None, down: bool) -> contextlib.AbstractContextManager[None]:
    """What is left of the request's deadline, as the driver's own operation timeout (outside a request, the driver's
    limits only): a server that stops answering mid-operation would otherwise hold it for the socket timeout. The
    driver's server selection notices its timeout only when it wakes, every half second: the timeout given is half a
    second short, so it fails by the deadline. With half a second or less left, the driver could not notice in time
    that the database is away: once the request met a failure, or while the database is known to be away (down),
    that means StorageUnavailable at once, without asking (the caller logs what it skipped); so does a deadline
    already past (a request that waited elsewhere, e.g. for the index lock behind the outage: the driver refuses a
    negative timeout). Not asyncio cancellation: PyMongo's topology lock does not survive a cancelled server
    selection."""
    if request is None:
        return contextlib.nullcontext()
    left = request.remaining()
    if left <= 0 or (left <= DRIVER_RECHECK_SECONDS and (request.failed or down)):
        request.failed = True
        raise StorageUnavailable()
    return pymongo.timeout(max(left - DRIVER_RECHECK_SECONDS, left / 2))


def to_datetime(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def to_seconds(value: datetime) -> float:
    # tz_aware=True on our clients; a naive value from another client is UTC all the same.
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
