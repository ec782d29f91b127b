"""The audit trail's storage on every backend: appended in order, read in pages by user, type and time, purged
past the retention; and the services' lines reach it through the container's trail."""

from __future__ import annotations

import pytest

from authsvc.containers import Container
from authsvc.events.models import Event, EventIds, EventQuery
from authsvc.storage.ports import Storage
from tests.helpers import NOW, ManualClock

pytestmark = pytest.mark.driver_contract


def made(ids: EventIds, at: float, event_type: str, user_id: str | None) -> Event:
    return Event(ids.next(at), at, event_type, "user", user_id, "192.0.2.1", "pytest", "r1", "success", {"count": 2})


async def test_events_are_read_back_in_order_by_filter_and_cursor_and_purged(container: Container) -> None:
    log = container.event_log()
    ids = EventIds()
    written = [made(ids, NOW + i, "login.success" if i % 2 else "signup", f"u{i % 3}") for i in range(12)]
    await log.append(written[:5])
    await log.append(written[5:])
    assert await log.page(EventQuery(), None, 100) == written
    assert await log.page(EventQuery(), written[3].id, 4) == written[4:8]
    assert await log.page(EventQuery(user_id="u1", type="signup"), None, 100) == [
        e for e in written if e.user_id == "u1" and e.type == "signup"
    ]
    assert await log.page(EventQuery(since=NOW + 2, until=NOW + 5), None, 100) == written[2:5]
    assert await log.purge_before(NOW + 10) == 10
    assert await log.page(EventQuery(), None, 100) == written[10:]


async def test_a_sign_up_outside_any_request_lands_in_the_trail_as_the_cli(
    container: Container, storage: Storage, clock: ManualClock
) -> None:
    users = container.users_service()
    alice = await users.signup("alice", "correct horse battery")
    reader = container.audit_reader()
    page = await reader.page(EventQuery(user_id=alice.id))
    assert [(e.type, e.actor, e.outcome) for e in page.events] == [("signup", "cli", "success")]
