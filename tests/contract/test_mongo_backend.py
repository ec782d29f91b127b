"""What only the MongoDB backend has: documents' shape, indexes, failure modes (its cache: test_replica_cache.py)."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import bson
import pymongo
import pytest
from pymongo.errors import (
    AutoReconnect,
    DuplicateKeyError,
    ExecutionTimeout,
    NetworkTimeout,
    NotPrimaryError,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
    WriteError,
    WTimeoutError,
)
from pymongo.results import DeleteResult

from authsvc.auth.service import ClientInfo
from authsvc.containers import Container
from authsvc.errors import StorageUnavailable, Unauthorized
from authsvc.metrics import Metrics
from authsvc.storage.mongo import MongoStorage
from authsvc.storage.mongo.client import to_datetime
from authsvc.storage.ports import Storage
from tests.conftest import make_settings
from tests.helpers import HASH, NOW, ManualClock, free_port, session, sign_in
from tests.mongodb import mongo_sections

Admin = pymongo.MongoClient[dict[str, Any]]
pytestmark = [pytest.mark.mongodb, pytest.mark.driver_contract]


@pytest.fixture
def backend(mongodb_driver: str, mongodb_url: str, mongodb_database: str) -> dict[str, Any]:
    return mongo_sections(mongodb_url, mongodb_database, mongodb_driver)


@pytest.fixture
async def open_storage() -> AsyncIterator[Callable[[Container], Any]]:
    opened: list[Storage] = []

    async def open_(container: Container) -> Storage:
        storage: Storage = container.storage()
        await storage.open()
        opened.append(storage)
        return storage

    yield open_
    for storage in opened:
        await storage.close()


async def test_users_are_stored_in_the_tutorials_mongoose_shape(
    storage: Storage, mongodb_admin: Admin, mongodb_database: str
) -> None:
    user = await storage.users.create("alice", HASH, NOW)
    doc = mongodb_admin[mongodb_database]["users"].find_one({"username": "alice"})
    assert doc is not None
    assert doc.keys() == {"_id", "username", "password", "createdAt", "updatedAt", "__v", "usernameKey"}
    assert str(doc["_id"]) == user.id and doc["password"] == HASH and doc["__v"] == 0
    assert doc["createdAt"].timestamp() == doc["updatedAt"].timestamp() == NOW


async def test_names_the_tutorials_app_wrote_get_their_canonical_key_before_a_sign_up_checks(
    storage: Storage, mongodb_admin: Admin, mongodb_database: str
) -> None:
    users = mongodb_admin[mongodb_database]["users"]
    written = datetime.now(UTC)
    tutorial_doc = {"username": "\uff43arol", "password": HASH, "createdAt": written, "updatedAt": written, "__v": 0}
    users.insert_one(tutorial_doc)  # as Mongoose writes it, after authsvc opened its storage
    assert await storage.users.canonical_name_taken("carol")
    assert not await storage.users.canonical_name_taken("\uff43arol")
    doc = users.find_one({"_id": tutorial_doc["_id"]})
    assert doc is not None and doc["usernameKey"] == "carol" and doc["username"] == "\uff43arol"
    assert "usernameKey_1" in users.index_information()


async def test_sessions_and_counters_carry_expiry_datetimes(
    storage: Storage, mongodb_admin: Admin, mongodb_database: str
) -> None:
    await storage.sessions.create(session("h1"))
    await storage.attempts.hit("p:alice", NOW, NOW + 900)
    database = mongodb_admin[mongodb_database]
    doc = database["sessions"].find_one({"_id": "h1"})
    assert doc is not None
    assert doc.keys() == {
        "_id", "userId", "createdAt", "lastSeenAt", "expiresAt", "absoluteExpiresAt", "ip", "userAgent",
        "factors", "provenAt",
    }  # fmt: skip
    assert doc["expiresAt"].timestamp() == NOW + 1800
    counter = database["login_attempts"].find_one({"_id": "p:alice"})
    assert counter is not None and counter["count"] == 1 and counter["expiresAt"].timestamp() == NOW + 900


async def test_open_creates_indexes_idempotently_and_says_once_when_ttl_is_refused(
    make_container: Callable[..., Container],
    open_storage: Callable[[Container], Any],
    mongodb_admin: Admin,
    mongodb_database: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="authsvc.storage"):
        await open_storage(make_container())
        await open_storage(make_container())  # a second replica starting: the same indexes, no error
    database = mongodb_admin[mongodb_database]
    users = database["users"].index_information()
    assert users["username_1"]["unique"] is True
    assert users["groups_1_username_1"]["key"] == [("groups", 1), ("username", 1)]  # the admin listing's group filter
    assert "userId_1" in database["sessions"].index_information()
    ttl = {name: database[name].index_information().get("expiresAt_1") for name in ("sessions", "login_attempts")}
    refusals = [r for r in caplog.records if "TTL" in r.getMessage()]
    if all(ttl.values()):  # a real MongoDB
        assert all(index and index["expireAfterSeconds"] == 0 for index in ttl.values())
        assert refusals == []
    else:  # FerretDB v1: code 238 NotImplemented
        assert len(refusals) == 2  # one line per start-up, naming both collections
        assert "enforced by every query and the periodic purge" in refusals[0].getMessage()


async def test_unreachable_database_answers_storage_unavailable_within_the_selection_timeout(
    make_container: Callable[..., Container],
) -> None:
    container = make_container(
        mongodb={"url": f"mongodb://127.0.0.1:{free_port()}/", "server_selection_timeout_ms": 300}
    )
    storage: Storage = container.storage()
    await storage.open()  # does not raise: indexes are retried in the background
    calls = [
        storage.ping(),
        storage.users.create("alice", HASH, NOW),
        storage.sessions.get("h1", NOW),
        storage.attempts.hit("p:alice", NOW, NOW + 900),
        storage.purge_expired(NOW),
    ]
    for call in calls:
        started = time.monotonic()
        with pytest.raises(StorageUnavailable):
            await call
        assert time.monotonic() - started < 2.0
    await storage.close()


MAIL_COLLECTIONS = ("outbox", "mail_tokens", "email_addresses")


def storage_over(**collections: Any) -> MongoStorage:
    """A MongoStorage over stand-ins, for failures and interleavings a live server will not give on demand."""
    database = {
        "users": None,
        "sessions": None,
        "login_attempts": None,
        "second_factors": None,
        "revocations": None,
        "passkeys": None,
        "passkey_challenges": None,
        "events": None,
        "webhook_deliveries": None,
        **dict.fromkeys(MAIL_COLLECTIONS),
        **collections,
    }
    settings = make_settings(mongodb={"database": "db"}).mongodb
    return MongoStorage(settings, ManualClock(), Metrics(), client={"db": database})


class FailingCollection:
    """A collection whose every call raises the given error."""

    def __init__(self, error: PyMongoError) -> None:
        self.error = error

    async def find_one(self, *args: Any, **kwargs: Any) -> Any:
        raise self.error


TRANSIENT = [
    ServerSelectionTimeoutError("no servers"),
    AutoReconnect("connection reset"),
    NetworkTimeout("timed out"),
    NotPrimaryError("not primary"),
    ExecutionTimeout("operation exceeded time limit", code=50),
    WTimeoutError("waiting for replication timed out", code=64),
    OperationFailure("shutdown in progress", code=91),
    OperationFailure("primary stepped down", code=189),
]
LOGIC = [OperationFailure("unknown operator: $bogus", code=2), WriteError("document too large", code=10334)]


@pytest.mark.parametrize("error", TRANSIENT, ids=lambda e: type(e).__name__ + str(getattr(e, "code", "") or ""))
async def test_transient_driver_errors_become_storage_unavailable(error: PyMongoError) -> None:
    storage = storage_over(users=FailingCollection(error))
    with pytest.raises(StorageUnavailable):
        await storage.users.find_by_username("alice")


@pytest.mark.parametrize("error", LOGIC, ids=lambda e: type(e).__name__ + str(e.code))
async def test_logic_errors_stay_errors(error: PyMongoError) -> None:
    storage = storage_over(users=FailingCollection(error))
    with pytest.raises(type(error)):
        await storage.users.find_by_username("alice")


class RacedCollection:
    """find_one_and_update loses the upsert race once, as a concurrent insert of the same _id makes it."""

    def __init__(self) -> None:
        self.calls = 0
        self.deletes: list[dict[str, Any]] = []

    async def find_one_and_update(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self.calls += 1
        if self.calls == 1:
            raise DuplicateKeyError("E11000 duplicate key error", code=11000)
        return {"count": 2}

    async def delete_one(self, query: dict[str, Any]) -> DeleteResult:
        self.deletes.append(query)
        return DeleteResult({"n": 0}, acknowledged=True)


async def test_attempt_hit_that_loses_the_upsert_race_retries_once() -> None:
    raced = RacedCollection()
    storage = storage_over(login_attempts=raced)
    assert await storage.attempts.hit("p:1", NOW, NOW + 900) == 2
    assert raced.calls == 2
    assert raced.deletes == [{"_id": "p:1", "expiresAt": {"$lte": to_datetime(NOW)}}]  # only ever an expired one


async def test_counter_documents_are_small_and_hold_no_name_or_address(
    container: Container, storage: Storage, mongodb_admin: Admin, mongodb_database: str
) -> None:
    client = ClientInfo(ip="203.0.113.77")
    for name in ("alice@example.com", "\ufdfa" * 3000):  # NFKC makes 54,000 characters of the second
        with pytest.raises(Unauthorized):
            await sign_in(container, name, "wrong password", client)
    docs = list(mongodb_admin[mongodb_database]["login_attempts"].find())
    assert len(docs) == 5  # two client/name pairs, two account windows, one address set
    dumped = repr(docs)
    assert "alice" not in dumped and "203.0.113" not in dumped
    assert max(len(bson.encode(doc)) for doc in docs) < 200
