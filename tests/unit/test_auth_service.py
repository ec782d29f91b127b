"""AuthService and SessionRegistry rules, on the memory backend, with a clock that moves when told."""

from __future__ import annotations

from typing import Any

import bcrypt
import pytest

from authsvc.auth.service import AuthService, ClientInfo
from authsvc.containers import Container, running
from authsvc.errors import DuplicateUsername, FieldRefused, Unauthorized, UnprocessableContent
from authsvc.users.models import User
from authsvc.users.passwords import PREFIX
from authsvc.users.service import UsersService
from tests.driver import PASSWORD
from tests.helpers import ManualClock, sign_in

CLIENT = ClientInfo(ip="192.0.2.10", user_agent="pytest")


async def services(container: Container) -> tuple[UsersService, AuthService]:
    return container.users_service(), container.auth_service()


async def alice_logged_in(container: Container) -> tuple[AuthService, User, str]:
    """Arrange: alice signed up and logged in once."""
    users, auth = await services(container)
    await users.signup("alice", PASSWORD)
    user, session_id = await sign_in(container, "alice", PASSWORD, CLIENT)
    return auth, user, session_id


async def tutorial_user(container: Container, username: str, password: str) -> User:
    """Arrange: a user as the tutorial's app wrote it (toLowerCase()d name, node bcrypt of the first 72 bytes)."""
    legacy_hash = bcrypt.hashpw(password.encode("utf-8")[:72], bcrypt.gensalt(4)).decode("ascii")
    return await container.users_repository().create(username, legacy_hash, container.clock().now())


async def test_signup_normalises_and_refuses_taken_name_in_any_case(container: Container) -> None:
    users, _ = await services(container)
    user = await users.signup("\uff21lice.Smith", PASSWORD)  # fullwidth A: NFKC folds it
    assert user.username == "alice.smith"
    with pytest.raises(DuplicateUsername):
        await users.signup("ALICE.SMITH", PASSWORD)


@pytest.mark.parametrize("username", ["ab", "a" * 65, "has space", "tab\there", "emoji🙂", "semi;colon", "nul\x00"])
async def test_signup_refuses_bad_usernames(container: Container, username: str) -> None:
    users, _ = await services(container)
    with pytest.raises(UnprocessableContent) as raised:
        await users.signup(username, PASSWORD)
    assert raised.value.errors and raised.value.errors[0]["pointer"] == "#/username"


async def test_login_opens_a_session_that_authenticates(container: Container) -> None:
    users, auth = await services(container)
    await users.signup("alice", PASSWORD)
    user, session_id = await sign_in(container, "ALICE", PASSWORD, CLIENT)
    assert len(session_id) >= 32
    authenticated = await auth.authenticate(session_id, user.id)
    assert authenticated is not None and authenticated.user.username == "alice"
    assert authenticated.session.ip == CLIENT.ip


async def test_a_login_whose_password_check_overlaps_a_revocation_gets_no_session(container: Container) -> None:
    """The password was right when checked, but the owner signed out everywhere (or changed the password) before
    the session opened: the session the login opened is ended at once and the login refused."""
    users, auth = await services(container)
    alice = await users.signup("alice", PASSWORD)
    hasher = container.password_hasher()
    verify = hasher.verify

    async def verify_then_owner_revokes(password: str, stored: str) -> bool:
        verified = await verify(password, stored)
        await container.session_registry().revoke_user(alice.id)  # lands while this login is under way
        return verified

    hasher.verify = verify_then_owner_revokes  # type: ignore[method-assign]
    with pytest.raises(Unauthorized):
        await sign_in(container, "alice", PASSWORD, CLIENT)
    assert await auth.list_sessions(alice.id) == []
    hasher.verify = verify  # type: ignore[method-assign]
    _, session_id = await sign_in(container, "alice", PASSWORD, CLIENT)  # a login after the revocation is a login
    assert await auth.authenticate(session_id, alice.id) is not None


async def test_unknown_user_and_wrong_password_fail_alike(container: Container) -> None:
    users, _ = await services(container)
    await users.signup("alice", PASSWORD)
    with pytest.raises(Unauthorized) as wrong:
        await sign_in(container, "alice", "wrong password", CLIENT)
    with pytest.raises(Unauthorized) as unknown:
        await sign_in(container, "nobody", "wrong password", CLIENT)
    assert wrong.value.body() == unknown.value.body()


async def test_session_ends_after_idle_timeout(container: Container, clock: ManualClock) -> None:
    auth, user, session_id = await alice_logged_in(container)
    clock.advance(1800)
    assert await auth.authenticate(session_id, user.id) is None


async def test_activity_renews_idle_timer_until_absolute_lifetime(container: Container, clock: ManualClock) -> None:
    auth, user, session_id = await alice_logged_in(container)
    renewals = 0
    for _ in range(43200 // 900 - 1):
        clock.advance(900)
        authenticated = await auth.authenticate(session_id, user.id)
        assert authenticated is not None
        renewals += authenticated.renewed
    assert renewals > 0
    clock.advance(900)
    assert await auth.authenticate(session_id, user.id) is None


async def test_renewal_only_after_configured_share_of_idle_window(container: Container, clock: ManualClock) -> None:
    auth, user, session_id = await alice_logged_in(container)
    clock.advance(100)  # < 0.1 * 1800
    first = await auth.authenticate(session_id, user.id)
    clock.advance(100)  # 200 s since login > 180 s
    second = await auth.authenticate(session_id, user.id)
    assert first is not None and not first.renewed
    assert second is not None and second.renewed


async def test_touch_false_does_not_extend_session(container: Container, clock: ManualClock) -> None:
    auth, user, session_id = await alice_logged_in(container)
    for _ in range(3):
        clock.advance(1000)
        await auth.authenticate(session_id, user.id, touch=False)
    assert await auth.authenticate(session_id, user.id) is None


async def test_session_of_another_user_id_does_not_authenticate(container: Container) -> None:
    users, auth = await services(container)
    await users.signup("alice", PASSWORD)
    bob = await users.signup("bob", PASSWORD)
    _, session_id = await sign_in(container, "alice", PASSWORD, CLIENT)
    assert await auth.authenticate(session_id, bob.id) is None


async def test_deleted_user_is_logged_out(container: Container) -> None:
    auth, user, session_id = await alice_logged_in(container)
    authenticated = await auth.authenticate(session_id, user.id)
    assert authenticated is not None
    await auth.delete_account(authenticated, PASSWORD)
    assert await auth.authenticate(session_id, user.id) is None


async def test_password_change_ends_other_sessions_only(container: Container) -> None:
    users, auth = await services(container)
    await users.signup("alice", PASSWORD)
    user, keep = await sign_in(container, "alice", PASSWORD, CLIENT)
    _, other = await sign_in(container, "alice", PASSWORD, CLIENT)
    current = await auth.authenticate(keep, user.id)
    assert current is not None
    await auth.change_password(current, PASSWORD, "a brand new passphrase")
    assert await auth.authenticate(keep, user.id) is not None
    assert await auth.authenticate(other, user.id) is None
    await sign_in(container, "alice", "a brand new passphrase", CLIENT)


async def test_login_upgrades_old_cost_hash(make_container: Any) -> None:
    container = make_container()
    users, _ = await services(container)
    await users.signup("alice", PASSWORD)
    stronger = make_container(passwords={"bcrypt_cost": 5})
    stronger.storage.override(container.storage)
    await sign_in(stronger, "alice", PASSWORD, CLIENT)
    repository = container.users_repository()
    user = await repository.find_by_username("alice")
    assert user is not None and "$2b$05$" in user.password_hash


async def test_v6_3_2_no_default_accounts(container: Container) -> None:
    async with running(container):  # the store as the app opens it: whatever start-up would seed is there
        users, _ = await services(container)
        await users.signup("alice", PASSWORD)  # a store with a user in it, so a look-up can find something
        for name in ("admin", "root", "sa", "administrator", "test", "guest", "user", "authsvc"):
            assert await container.users_repository().find_by_username(name) is None, name
            with pytest.raises(Unauthorized):
                await sign_in(container, name, name, CLIENT)
        assert (await sign_in(container, "alice", PASSWORD, CLIENT))[0].username == "alice"  # the check can succeed


async def test_v6_3_8_unknown_user_costs_one_bcrypt_check_like_a_wrong_password(container: Container) -> None:
    users, _ = await services(container)
    await users.signup("alice", PASSWORD)
    hasher = container.password_hasher()
    checks: list[str] = []
    original = hasher.verify

    async def counting_verify(password: str, stored: str) -> bool:
        checks.append(stored[:16])
        return await original(password, stored)

    hasher.verify = counting_verify  # type: ignore[method-assign]
    with pytest.raises(Unauthorized):
        await sign_in(container, "alice", "wrong password", CLIENT)
    with pytest.raises(Unauthorized):
        await sign_in(container, "nobody-at-all", "wrong password", CLIENT)
    assert len(checks) == 2 and all(c.startswith("$bcrypt-sha256$") for c in checks)


async def test_v6_2_10_password_does_not_expire(container: Container, clock: ManualClock) -> None:
    users, _ = await services(container)
    await users.signup("alice", PASSWORD)
    clock.advance(3 * 365 * 86400)
    user, _ = await sign_in(container, "alice", PASSWORD, CLIENT)
    assert user.username == "alice"


async def test_v7_4_5_administrator_ends_every_session_of_a_user(container: Container) -> None:
    users, auth = await services(container)
    await users.signup("alice", PASSWORD)
    user, first = await sign_in(container, "alice", PASSWORD, CLIENT)
    _, second = await sign_in(container, "alice", PASSWORD, CLIENT)
    assert await auth.end_sessions_of("ALICE") == 2
    assert await auth.authenticate(first, user.id) is None
    assert await auth.authenticate(second, user.id) is None
    assert await auth.end_sessions_of("nobody") is None


# Beside the tutorial's app: its names, its hashes


async def test_a_name_the_tutorial_stored_unnormalised_logs_in_as_typed_there(container: Container) -> None:
    carol = await tutorial_user(container, "\uff43arol", PASSWORD)  # typed with a fullwidth C, JS toLowerCase()d
    _, auth = await services(container)
    for typed in ("\uff23arol", "\uff43arol"):
        user, _ = await sign_in(container, typed, PASSWORD, CLIENT)
        assert user.id == carol.id, typed
    with pytest.raises(Unauthorized):
        await sign_in(container, "carol", PASSWORD, CLIENT)  # not a name the tutorial's app would have found either
    assert await auth.end_sessions_of("\uff23arol") == 2


@pytest.mark.parametrize("look_alike", ["carol", "CAROL", "\uff23arol", "\uff43arol", "\uff23\uff21\uff32\uff2f\uff2c"])
async def test_no_sign_up_shadows_a_name_the_tutorial_stored_unnormalised(
    container: Container, look_alike: str
) -> None:
    carol = await tutorial_user(container, "\uff43arol", PASSWORD)
    users, _ = await services(container)
    with pytest.raises(DuplicateUsername):
        await users.signup(look_alike, "someone else's passphrase")
    user, _ = await sign_in(container, "\uff23arol", PASSWORD, CLIENT)
    assert user.id == carol.id


async def test_a_login_with_a_typo_past_72_bytes_keeps_the_real_password(container: Container) -> None:
    real = "x" * 70 + "🔑 the real tail"  # the key's 4 bytes straddle the 72-byte cut
    dave = await tutorial_user(container, "dave", real)
    _, _ = await services(container)
    typo = real[:72] + " a typo node's bcrypt never read"
    await sign_in(container, "dave", typo, CLIENT)
    await sign_in(container, "dave", real, CLIENT)
    stored = await container.users_repository().find_by_id(dave.id)
    assert stored is not None and stored.password_hash == dave.password_hash  # already at the configured cost
    with pytest.raises(Unauthorized):
        await sign_in(container, "dave", "x" * 70, CLIENT)


async def test_tutorial_compatible_mode_upgrades_nothing_and_stores_node_bcrypt(make_container: Any) -> None:
    container = make_container(passwords={"tutorial_compatible": True})
    alice = await tutorial_user(container, "alice", PASSWORD)
    users, auth = await services(container)
    user, session_id = await sign_in(container, "alice", PASSWORD, CLIENT)
    assert user.password_hash == alice.password_hash
    stored = await container.users_repository().find_by_id(alice.id)
    assert stored is not None and stored.password_hash == alice.password_hash
    bob = await users.signup("bob", "a fresh passphrase")
    assert bob.password_hash.startswith("$2b$04$") and bcrypt.checkpw(b"a fresh passphrase", bob.password_hash.encode())
    authenticated = await auth.authenticate(session_id, user.id)
    assert authenticated is not None
    await auth.change_password(authenticated, PASSWORD, "a changed passphrase")
    changed = await container.users_repository().find_by_id(alice.id)
    assert changed is not None and bcrypt.checkpw(b"a changed passphrase", changed.password_hash.encode())


async def test_tutorial_compatible_mode_refuses_new_passwords_over_72_bytes(make_container: Any) -> None:
    container = make_container(passwords={"tutorial_compatible": True})
    users, auth = await services(container)
    with pytest.raises(FieldRefused) as refused:
        await users.signup("bob", "p" * 80)
    assert "at most 72 bytes" in refused.value.fields["password"]
    await users.signup("alice", PASSWORD)
    user, session_id = await sign_in(container, "alice", PASSWORD, CLIENT)
    authenticated = await auth.authenticate(session_id, user.id)
    assert authenticated is not None
    with pytest.raises(FieldRefused) as refused:
        await auth.change_password(authenticated, PASSWORD, "p" * 80)
    assert "the tutorial's app" in refused.value.fields["newPassword"]


async def test_turning_tutorial_compatible_mode_off_upgrades_at_the_next_login(make_container: Any) -> None:
    compatible = make_container(passwords={"tutorial_compatible": True})
    users, _ = await services(compatible)
    await users.signup("alice", PASSWORD)
    after = make_container()
    after.storage.override(compatible.storage)
    user, _ = await sign_in(after, "alice", PASSWORD, CLIENT)
    stored = await after.users_repository().find_by_id(user.id)
    assert stored is not None and stored.password_hash.startswith(PREFIX)
