"""The admin service's storage on every backend: the disabled flag, and paging through 10,000 users with the same
answers everywhere (each backend's pages equal one expectation computed here, so they equal each other)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable

import pytest

from authsvc.admin.models import UserQuery
from authsvc.containers import Container, running
from authsvc.storage.ports import Storage
from tests.driver import PASSWORD
from tests.helpers import HASH, NOW

pytestmark = pytest.mark.driver_contract

USERS = 10_000
PAGE = 1000  # admin.max_page_size at its highest: FerretDB sorts a whole scan for every page (real MongoDB reads
# the username index), so fewer, larger pages keep this test to a minute


async def test_a_disabled_user_is_stored_as_such_and_hidden_from_login_look_ups(
    container: Container, storage: Storage
) -> None:
    alice = await storage.users.create("alice", HASH, NOW)
    assert await storage.users.set_disabled(alice.id, True, NOW + 1)
    stored = await storage.users.find_by_id(alice.id)
    assert stored is not None and stored.disabled and stored.updated_at == NOW + 1
    seen_by_logins = container.users_repository()
    assert await seen_by_logins.find_by_id(alice.id) is None
    assert await seen_by_logins.find_by_username("alice") is None
    assert await seen_by_logins.canonical_name_taken("alice")  # the name stays taken
    assert await storage.users.set_disabled(alice.id, False, NOW + 2)
    assert await seen_by_logins.find_by_id(alice.id) == await storage.users.find_by_id(alice.id)
    assert not await storage.users.set_disabled("6267c2a07b61b72e5f4689b0", True, NOW)


async def test_directory_pages_in_name_order_from_a_cursor(storage: Storage) -> None:
    for name in ("carol", "alice", "bob", "alina", "dave"):
        await storage.users.create(name, HASH, NOW)
    page = await storage.directory.page(UserQuery(), None, 2)
    assert [user.username for user in page] == ["alice", "alina"]
    page = await storage.directory.page(UserQuery(), "alina", 10)
    assert [user.username for user in page] == ["bob", "carol", "dave"]
    assert [user.username for user in await storage.directory.page(UserQuery(prefix="al"), None, 10)] == [
        "alice",
        "alina",
    ]
    assert await storage.directory.page(UserQuery(prefix="a.*"), None, 10) == []  # a prefix, not a pattern


async def test_directory_pages_a_groups_members_in_name_order_from_a_cursor(storage: Storage) -> None:
    made = {name: await storage.users.create(name, HASH, NOW) for name in ("erin", "bob", "dave", "alice", "carol")}
    for name, groups in {"alice": ("dev",), "bob": ("ops",), "carol": ("dev", "ops"), "erin": ("dev",)}.items():
        assert await storage.users.set_groups(made[name].id, groups, NOW)
    await storage.users.set_disabled(made["erin"].id, True, NOW)
    dev = UserQuery(group="dev")
    assert [user.username for user in await storage.directory.page(dev, None, 2)] == ["alice", "carol"]
    assert [user.username for user in await storage.directory.page(dev, "carol", 2)] == ["erin"]
    assert [user.username for user in await storage.directory.page(UserQuery(group="ops"), None, 10)] == [
        "bob",
        "carol",
    ]
    both = UserQuery(prefix="c", state="active", group="ops")
    assert [user.username for user in await storage.directory.page(both, None, 10)] == ["carol"]
    assert await storage.directory.page(UserQuery(group="de"), None, 10) == []  # a whole name, not a prefix
    assert await storage.directory.page(UserQuery(group="dev", state="active"), "carol", 10) == []


async def test_admin_set_groups_stores_them_for_a_disabled_user_too(container: Container, storage: Storage) -> None:
    admin = container.admin_service()
    bob = await container.users_service().signup("bob", PASSWORD)
    await admin.disable("cli", bob.id)
    changed = await admin.set_groups("admin:root", bob.id, ["ops", "dev", "ops"])
    assert changed.groups == ("dev", "ops") and changed.disabled
    page = await admin.list_users(group="ops")
    assert [(user.username, user.groups) for user in page.users] == [("bob", ("dev", "ops"))]


# The drivers differ in nothing the directory does that test_directory_pages_in_name_order_from_a_cursor does not
# already run on both: the 10,000 users run on memory and one MongoDB driver.
@pytest.mark.parametrize(
    "backend",
    ["memory", pytest.param("mongodb+pymongo", marks=pytest.mark.mongodb)],
    indirect=True,
)
async def test_paging_through_10000_users_gives_the_same_answers_on_every_backend(
    make_container: Callable[..., Container],
) -> None:
    container = make_container(admin={"max_page_size": PAGE})
    async with running(container) as storage:
        await page_through_10000_users(container, storage)


async def page_through_10000_users(container: Container, storage: Storage) -> None:
    shuffled = random.Random(26)
    names = [f"{shuffled.choice(['ann', 'bea', 'cy', 'dora'])}{i:05d}" for i in range(USERS)]
    shuffled.shuffle(names)
    started = time.monotonic()
    ids: dict[str, str] = {}
    for batch in range(0, USERS, 250):  # through the repository, no bcrypt: a constant hash
        created = await asyncio.gather(*(storage.users.create(name, HASH, NOW) for name in names[batch : batch + 250]))
        ids |= {user.username: user.id for user in created}
    disabled = sorted(names)[::97]
    for name in disabled:
        await storage.users.set_disabled(ids[name], True, NOW)
    seeded = time.monotonic()
    admin = container.admin_service()

    async def every_page(**query: str) -> list[tuple[str, str, bool]]:
        seen: list[tuple[str, str, bool]] = []
        cursor = None
        while True:
            page = await admin.list_users(cursor=cursor, limit=PAGE, **query)  # type: ignore[arg-type]
            assert len(page.users) == PAGE or page.next_cursor is None
            seen += [(user.username, user.id, user.disabled) for user in page.users]
            if (cursor := page.next_cursor) is None:
                return seen

    assert await every_page() == [(name, ids[name], name in disabled) for name in sorted(names)]
    assert [name for name, _, _ in await every_page(prefix="Dora")] == sorted(n for n in names if n.startswith("dora"))
    assert [name for name, _, _ in await every_page(state="disabled")] == disabled
    active = await every_page(state="active", prefix="cy")
    assert [name for name, _, _ in active] == sorted(n for n in names if n.startswith("cy") and n not in disabled)
    print(f"\n10,000 users: seeded in {seeded - started:.1f} s, paged in {time.monotonic() - seeded:.1f} s")
