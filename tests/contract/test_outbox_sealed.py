"""Issue 30, item 6: the outbox holds no live link. On every backend, a queued mail's stored document carries its
body sealed with the session keys (no plain token in it), nothing of the body once delivered, and a key list rotated
after the mail was queued still delivers it."""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any

from cryptography.fernet import Fernet
from dependency_injector import providers

from authsvc.containers import Container
from authsvc.mail.models import Letter
from authsvc.storage.ports import Storage
from tests.helpers import TEST_KEY

TOKEN = "Zq7" + secrets.token_urlsafe(24)


class Transport:
    """Takes every mail, as a relay would."""

    def __init__(self) -> None:
        self.letters: list[Letter] = []

    async def send(self, mail: Letter) -> None:
        self.letters.append(mail)


async def stored(storage: Storage, mail_id: str) -> str:
    """Everything the backend keeps for the mail, as text: the memory backend's object, MongoDB's document."""
    database = getattr(storage, "_db", None)
    if database is None:
        return repr(dataclasses.asdict(await storage.outbox.get(mail_id)))  # type: ignore[arg-type]
    return repr(await database["outbox"].find_one({"_id": mail_id}))


@contextlib.asynccontextmanager
async def opened(container: Container) -> AsyncIterator[Storage]:
    """The storage open, without the background sender `running` starts: each test sends when it means to."""
    storage: Storage = container.storage()
    await storage.open()
    yield storage  # the conftest's shutdown closes it


def with_keys(make_container: Callable[..., Container], *keys: str) -> tuple[Container, Transport]:
    container = make_container(session={"keys": list(keys)})
    transport = Transport()
    container.mail_transport.override(providers.Object(transport))
    return container, transport


async def queue_reset_mail(container: Container) -> str:
    mail = await container.outbox().put(
        "alice@example.com", "reset_password", username="alice", link=f"https://x/reset?token={TOKEN}", minutes=30
    )
    return mail.id


async def test_a_queued_mail_is_stored_sealed_and_erased_after_delivery(
    make_container: Callable[..., Container],
) -> None:
    container, transport = with_keys(make_container, TEST_KEY)
    async with opened(container) as storage:
        mail_id = await queue_reset_mail(container)
        queued = await stored(storage, mail_id)
        assert TOKEN not in queued and "reset?token" not in queued
        assert "alice@example.com" in queued and "Reset your password" in queued  # what operators may see stays
        assert await container.mail_sender().deliver_due() == 1
        assert [TOKEN in letter.text and TOKEN in letter.html for letter in transport.letters] == [True]
        delivered = await stored(storage, mail_id)
        assert TOKEN not in delivered
        mail = await storage.outbox.get(mail_id)
        assert mail is not None and mail.body == "" and mail.delivered_at is not None


async def test_a_mail_queued_before_a_key_rotation_is_still_delivered(
    make_container: Callable[..., Container],
) -> None:
    before, _ = with_keys(make_container, TEST_KEY)
    after, transport = with_keys(make_container, Fernet.generate_key().decode(), TEST_KEY)  # a new key first
    async with opened(before) as storage:
        after.storage.override(providers.Object(storage))
        mail_id = await queue_reset_mail(before)
        assert await after.mail_sender().deliver_due() == 1
        assert [letter.id for letter in transport.letters] == [mail_id] and TOKEN in transport.letters[0].text


async def test_a_mail_whose_key_was_dropped_waits_in_the_outbox(make_container: Callable[..., Container]) -> None:
    before, _ = with_keys(make_container, TEST_KEY)
    after, transport = with_keys(make_container, Fernet.generate_key().decode())
    async with opened(before) as storage:
        after.storage.override(providers.Object(storage))
        mail_id = await queue_reset_mail(before)
        assert await after.mail_sender().deliver_due() == 0
        waiting: Any = await storage.outbox.get(mail_id)
        assert transport.letters == [] and waiting.last_error == "InvalidToken" and waiting.delivered_at is None
        assert await storage.outbox.pending() == 1  # never dropped: listing the old key again delivers it
