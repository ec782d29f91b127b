"""The mail ports on every backend: the outbox hands a due mail to one sender, tokens are taken once."""

from __future__ import annotations

import asyncio

import pytest

from authsvc.mail.models import DuplicateEmail, EmailAddress, MailToken, QueuedMail
from authsvc.storage.ports import Storage

pytestmark = pytest.mark.driver_contract

NOW = 4_000_000_000.0


def mail(mail_id: str, due: float = NOW) -> QueuedMail:
    return QueuedMail(mail_id, "a@example.com", "reset_password", "s", "sealed body", NOW, due)


async def test_a_due_mail_is_claimed_by_one_sender_and_delivery_erases_its_body(storage: Storage) -> None:
    await storage.outbox.add(mail("m1"))
    await storage.outbox.add(mail("m2", due=NOW + 100))
    claims = await asyncio.gather(*(storage.outbox.claim(NOW, NOW + 60) for _ in range(4)))
    assert [c.id for c in claims if c is not None] == ["m1"]
    await storage.outbox.delivered("m1", NOW + 1)
    delivered = await storage.outbox.get("m1")
    assert delivered is not None and delivered.delivered_at == NOW + 1 and delivered.body == ""
    assert await storage.outbox.pending() == 1


async def test_a_failed_mail_waits_for_its_retry_time(storage: Storage) -> None:
    await storage.outbox.add(mail("m1"))
    assert await storage.outbox.claim(NOW, NOW + 60) is not None
    await storage.outbox.failed("m1", 1, NOW + 10, "ConnectionRefusedError")
    assert await storage.outbox.claim(NOW + 9, NOW + 70) is None
    retried = await storage.outbox.claim(NOW + 10, NOW + 70)
    assert retried is not None and retried.attempts == 1 and retried.last_error == "ConnectionRefusedError"


async def test_a_token_is_taken_once_and_not_after_it_expires(storage: Storage) -> None:
    await storage.mail_tokens.add(MailToken("h1", "u1", "reset", "stamp", NOW, NOW + 60))
    await storage.mail_tokens.add(MailToken("h2", "u1", "reset", "stamp", NOW, NOW + 60))
    assert await storage.mail_tokens.get("h1", "verify", NOW) is None  # another purpose
    takes = await asyncio.gather(*(storage.mail_tokens.take("h1", "reset", NOW) for _ in range(4)))
    assert sum(t is not None for t in takes) == 1
    assert await storage.mail_tokens.take("h2", "reset", NOW + 60) is None
    assert await storage.purge_expired(NOW + 61) >= 1


async def test_an_address_key_belongs_to_one_user(storage: Storage) -> None:
    await storage.email_addresses.set(EmailAddress("u1", "a@example.com", "a@example.com", verified=False))
    with pytest.raises(DuplicateEmail):
        await storage.email_addresses.set(EmailAddress("u2", "a@EXAMPLE.com", "a@example.com", verified=False))
    assert await storage.email_addresses.mark_verified("u1", "a@example.com")
    found = await storage.email_addresses.find_by_key("a@example.com")
    assert found is not None and found.user_id == "u1" and found.verified
    await storage.email_addresses.set(EmailAddress("u1", "b@example.com", "b@example.com", verified=False))
    assert await storage.email_addresses.find_by_key("a@example.com") is None
