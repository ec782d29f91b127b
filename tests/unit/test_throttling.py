"""The login throttle's rules (throttle/rules.py) through the login flow, AuthService and UsersService, with a clock
that moves when told; tests/contract runs every one of them again on mongodb+pymongo.

Client addresses come from ClientInfo(ip=...), devices from ClientInfo(device=...): the values the HTTP edge passes.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from authsvc.auth.service import AuthService, ClientInfo
from authsvc.containers import Container
from authsvc.errors import DuplicateUsername, TooManyRequests, Unauthorized, WrongPassword
from authsvc.throttle.rules import Device, client_of
from authsvc.users.models import User
from authsvc.users.service import UsersService
from tests.driver import PASSWORD
from tests.helpers import ManualClock, sign_in

WRONG = "wrong password"
START = ManualClock().now()  # where the `clock` fixture starts


async def with_alice(container: Container) -> tuple[UsersService, AuthService, User]:
    users, auth = container.users_service(), container.auth_service()
    return users, auth, await users.signup("alice", PASSWORD)


async def fail(container: Container, name: str, client: ClientInfo) -> None:
    with pytest.raises(Unauthorized):
        await sign_in(container, name, WRONG, client)


def kind(outcome: object) -> str:
    """A login's refusal by the family it answers as (InvalidCredentials is an Unauthorized)."""
    return "Unauthorized" if isinstance(outcome, Unauthorized) else type(outcome).__name__


async def refused(container: Container, name: str, password: str, client: ClientInfo) -> int:
    """Assert the login answers 429; returns its Retry-After."""
    with pytest.raises(TooManyRequests) as throttled:
        await sign_in(container, name, password, client)
    retry_after = throttled.value.retry_after
    assert isinstance(retry_after, int) and retry_after >= 1
    assert throttled.value.headers["Retry-After"] == str(retry_after)
    return retry_after


# 1. One client on one account


async def test_v6_3_1_one_client_is_throttled_by_its_11th_failure_while_the_owner_logs_in_elsewhere(
    container: Container,
) -> None:
    await with_alice(container)
    guesser = ClientInfo(ip="203.0.113.7")
    for _ in range(10):
        await fail(container, "alice", guesser)
    await refused(container, "alice", WRONG, guesser)
    await refused(container, "alice", PASSWORD, guesser)  # the right password waits too: no oracle
    user, _ = await sign_in(container, "alice", PASSWORD, ClientInfo(ip="198.51.100.7"))
    assert user.username == "alice"


async def test_back_off_doubles_from_one_second_up_to_fifteen_minutes(container: Container, clock: ManualClock) -> None:
    await with_alice(container)
    guesser = ClientInfo(ip="203.0.113.8")
    for _ in range(10):
        await fail(container, "alice", guesser)
    waits = []
    for _ in range(13):
        waits.append(await refused(container, "alice", WRONG, guesser))
        clock.advance(waits[-1])
        await fail(container, "alice", guesser)  # one guess per back-off, never a ban
    assert waits == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900]


async def test_success_resets_the_clients_count(container: Container) -> None:
    await with_alice(container)
    client = ClientInfo(ip="203.0.113.9")
    for _ in range(2):
        for _ in range(9):
            await fail(container, "alice", client)
        await sign_in(container, "alice", PASSWORD, client)


async def test_client_counts_are_forgotten_a_day_after_the_last_attempt(
    container: Container, clock: ManualClock
) -> None:
    await with_alice(container)
    client = ClientInfo(ip="203.0.113.10")
    for _ in range(10):
        await fail(container, "alice", client)
    clock.advance(86400)
    for _ in range(9):
        await fail(container, "alice", client)


async def test_12_addresses_of_one_ipv6_64_count_as_one_client(container: Container) -> None:
    await with_alice(container)
    for n in range(1, 11):
        await fail(container, "alice", ClientInfo(ip=f"2001:db8:1:2::{n:x}"))
    await refused(container, "alice", WRONG, ClientInfo(ip="2001:db8:1:2::b"))
    await refused(container, "alice", PASSWORD, ClientInfo(ip="2001:db8:1:2:ffff:ffff:ffff:c"))
    await sign_in(container, "alice", PASSWORD, ClientInfo(ip="2001:db8:1:3::1"))  # the next /64 is another client


def test_client_of_an_address() -> None:
    assert client_of("192.0.2.1", 64) == "192.0.2.1"
    assert client_of("::ffff:192.0.2.1", 64) == "192.0.2.1"
    assert client_of("2001:db8:1:2:3:4:5:6", 64) == "2001:db8:1:2::/64"
    assert client_of("fe80::1%eth0", 64) == "fe80::/64"
    assert client_of("2001:db8::1", 128) == "2001:db8::1/128"
    assert client_of(None, 64) == client_of("", 64)


async def test_60_concurrent_wrong_logins_from_one_client_get_429s(container: Container) -> None:
    await with_alice(container)
    client = ClientInfo(ip="203.0.113.11")
    results = await asyncio.gather(
        *(sign_in(container, "alice", WRONG, client) for _ in range(60)), return_exceptions=True
    )
    outcomes = Counter(kind(result) for result in results)
    assert set(outcomes) == {"Unauthorized", "TooManyRequests"}
    assert outcomes["Unauthorized"] <= 10  # counted before bcrypt: no guess overtakes the count


# 2. One account across clients, and the device cookie


async def test_v6_3_1_account_lock_refuses_new_devices_but_not_the_owners_device(container: Container) -> None:
    _, _, alice = await with_alice(container)
    outcomes: Counter[str] = Counter()
    for n in range(25):  # 25 addresses x 5 failures: each below its client allowance
        for _ in range(5):
            try:
                await sign_in(container, "alice", WRONG, ClientInfo(ip=f"198.18.0.{n}"))
            except (Unauthorized, TooManyRequests) as error:
                outcomes[kind(error)] += 1
    assert outcomes == {"Unauthorized": 100, "TooManyRequests": 25}  # NIST SP 800-63B 5.2.2: at most 100
    retry_after = await refused(container, "alice", PASSWORD, ClientInfo(ip="192.0.2.200"))
    assert retry_after <= 3600
    owner = ClientInfo(ip="192.0.2.200", device=Device(alice.id, "the owner's browser"))
    user, _ = await sign_in(container, "alice", PASSWORD, owner)
    assert user.id == alice.id


async def test_account_lock_counts_unknown_names_alike_and_ends_with_its_window(
    make_container: Any, clock: ManualClock
) -> None:
    container = make_container(throttle={"account_max_failures": 3})
    await with_alice(container)
    for name in ("alice", "nobody"):
        for n in range(3):
            await fail(container, name, ClientInfo(ip=f"198.18.1.{n}"))
    waits = [await refused(container, name, PASSWORD, ClientInfo(ip="198.18.1.99")) for name in ("alice", "nobody")]
    assert waits[0] == waits[1]  # a 429 says nothing about whether the account exists
    clock.advance(waits[0])
    await sign_in(container, "alice", PASSWORD, ClientInfo(ip="198.18.1.99"))


async def test_stolen_device_cookie_is_worth_one_clients_allowance(container: Container) -> None:
    _, _, alice = await with_alice(container)
    stolen = Device(alice.id, "stolen")
    for n in range(10):  # from ten addresses: the allowance is the device's, wherever it is used from
        await fail(container, "alice", ClientInfo(ip=f"198.18.2.{n}", device=stolen))
    await refused(container, "alice", WRONG, ClientInfo(ip="198.18.2.99", device=stolen))


async def test_device_cookie_of_another_user_does_not_skip_the_account_lock(make_container: Any) -> None:
    container = make_container(throttle={"account_max_failures": 3})
    users, _, _ = await with_alice(container)
    bob = await users.signup("bob", PASSWORD)
    bobs_browser = Device(bob.id, "bob's browser")
    for n in range(3):
        await fail(container, "alice", ClientInfo(ip=f"198.18.3.{n}"))
    await refused(container, "alice", PASSWORD, ClientInfo(ip="198.18.3.99", device=bobs_browser))
    await sign_in(container, "bob", PASSWORD, ClientInfo(ip="198.18.3.99", device=bobs_browser))


async def test_a_device_cookie_from_before_the_users_last_revocation_does_not_skip_the_account_lock(
    make_container: Any, clock: ManualClock
) -> None:
    container = make_container(throttle={"account_max_failures": 3})
    _, _, alice = await with_alice(container)
    attackers_browser = Device(alice.id, "from a login with the password", alice.generation)
    await container.session_registry().revoke_user(alice.id)  # the owner signs out everywhere
    for n in range(3):
        await fail(container, "alice", ClientInfo(ip=f"198.18.4.{n}"))
    await refused(container, "alice", PASSWORD, ClientInfo(ip="198.18.4.99", device=attackers_browser))
    revoked = await container.users_repository().find_by_id(alice.id)
    assert revoked is not None and revoked.generation > alice.generation
    owners_browser = Device(alice.id, "logged in since", revoked.generation)
    await sign_in(container, "alice", PASSWORD, ClientInfo(ip="198.18.4.99", device=owners_browser))


# 3. One address across accounts


async def test_40_unknown_names_failing_from_one_address_leave_its_correct_login_through(
    container: Container,
) -> None:
    await with_alice(container)
    office = ClientInfo(ip="203.0.113.50")
    for n in range(40):
        await fail(container, f"ghost{n}", office)
    user, _ = await sign_in(container, "alice", PASSWORD, office)
    assert user.username == "alice"


async def test_spraying_past_50_names_slows_only_that_addresses_unknown_devices(
    container: Container, clock: ManualClock
) -> None:
    _, _, alice = await with_alice(container)
    sprayer = ClientInfo(ip="203.0.113.60")
    for n in range(51):
        await fail(container, f"ghost{n}", sprayer)
    waits = [await refused(container, "ghost99", WRONG, sprayer)]
    await refused(container, "alice", PASSWORD, sprayer)
    await sign_in(container, "alice", PASSWORD, ClientInfo(ip="203.0.113.60", device=Device(alice.id, "alice's")))
    await sign_in(container, "alice", PASSWORD, ClientInfo(ip="203.0.113.61"))
    for n in range(51, 61):  # within one address_window (the clock starts 500 s before one ends)
        clock.advance(waits[-1])
        await fail(container, f"ghost{n}", sprayer)  # slowed, never banned
        waits.append(await refused(container, "ghost99", WRONG, sprayer))
    assert waits[:7] == [1, 2, 4, 8, 16, 32, 60]
    assert set(waits[7:]) == {60}  # address_backoff_max


# 4. Re-authentication and sign-up


async def test_wrong_current_password_and_wrong_deletion_password_count_like_failed_logins(
    container: Container,
) -> None:
    _, auth, _ = await with_alice(container)
    client = ClientInfo(ip="203.0.113.70")
    user, session_id = await sign_in(container, "alice", PASSWORD, client)
    me = await auth.authenticate(session_id, user.id)
    assert me is not None
    for _ in range(5):
        with pytest.raises(WrongPassword):
            await auth.change_password(me, WRONG, "a brand new passphrase", client)
        with pytest.raises(WrongPassword):
            await auth.delete_account(me, WRONG, client)
    with pytest.raises(TooManyRequests):
        await auth.change_password(me, PASSWORD, "a brand new passphrase", client)
    await refused(container, "alice", PASSWORD, client)


async def test_signups_are_limited_per_client_and_a_lost_race_does_not_count(make_container: Any) -> None:
    users = make_container(throttle={"signup_burst": 3}).users_service()
    ip = "203.0.113.80"
    raced = await asyncio.gather(*(users.signup("racer", PASSWORD, ip) for _ in range(2)), return_exceptions=True)
    assert sorted(type(r).__name__ for r in raced) == ["DuplicateUsername", "User"]
    await users.signup("second", PASSWORD, ip)
    await users.signup("third", PASSWORD, ip)
    with pytest.raises(TooManyRequests) as throttled:
        await users.signup("fourth", PASSWORD, ip)
    assert throttled.value.retry_after == 60  # one sign-up regained per signup_refill_seconds
    with pytest.raises(DuplicateUsername):
        await users.signup("racer", PASSWORD, ip)  # a taken name is still told apart: before any count
    await users.signup("fourth", PASSWORD, "203.0.113.81")


async def test_a_nats_21st_signup_in_one_go_gets_through_within_a_minute(
    container: Container, clock: ManualClock
) -> None:
    users, office = container.users_service(), "198.51.100.7"
    for n in range(20):
        await users.signup(f"colleague{n}", PASSWORD, office)
    with pytest.raises(TooManyRequests) as throttled:
        await users.signup("colleague20", PASSWORD, office)
    assert 0 < throttled.value.retry_after <= 60
    clock.advance(throttled.value.retry_after)
    await users.signup("colleague20", PASSWORD, office)
    for n in range(21, 31):  # the rest of the office, one a minute: none of them waits
        clock.advance(60)
        await users.signup(f"colleague{n}", PASSWORD, office)


async def test_a_scripted_signup_flood_makes_the_burst_then_one_account_a_minute(
    container: Container, clock: ManualClock
) -> None:
    users, made = container.users_service(), 0
    for n in range(120):  # a try every 30 s for an hour
        try:
            await users.signup(f"bot{n}", PASSWORD, "192.0.2.66")
            made += 1
        except TooManyRequests:
            pass
        clock.advance(30)
    assert made == 20 + 3600 // 60 - 1  # the burst, then one per minute: the refusals never lengthened the wait


async def test_an_accounts_reset_mails_are_spaced_then_five_in_a_row_then_one_per_fifth_of_a_day(
    container: Container, clock: ManualClock
) -> None:
    throttle = container.login_throttle()
    allowed = []
    for _ in range(12):  # asking every 100 s for 20 minutes
        allowed.append(await throttle.reset_mail_allowed("u1"))
        clock.advance(100)
    assert allowed == [True, False, False] * 4  # one per throttle.reset_mail_interval (300 s)
    for _ in range(50):  # every 300 s until 4.5 h
        allowed.append(await throttle.reset_mail_allowed("u1"))
        clock.advance(300)
    assert allowed.count(True) == 5  # five in a row; the sixth waits for a fifth of a day after the first
    clock.advance(START + 17280 - 1 - clock.now())
    assert not await throttle.reset_mail_allowed("u1")
    clock.advance(1)  # refused by the day's share a second ago: its spacing was given back
    assert await throttle.reset_mail_allowed("u1")
    assert await throttle.reset_mail_allowed("u2")  # another account


async def test_forgot_requests_from_one_client_are_capped_whatever_account_they_name(
    container: Container, clock: ManualClock
) -> None:
    throttle = container.login_throttle()
    assert [await throttle.forgot_allowed("203.0.113.9") for _ in range(11)] == [True] * 10 + [False]
    assert await throttle.forgot_allowed("203.0.113.10")
    clock.advance(359)
    assert not await throttle.forgot_allowed("203.0.113.9")
    clock.advance(1)  # throttle.forgot_refill_seconds
    assert await throttle.forgot_allowed("203.0.113.9")


# 5. Small keys


async def test_login_name_over_the_cap_gets_the_same_401_without_a_look_up(container: Container) -> None:
    await with_alice(container)
    repository, hasher = container.users_repository(), container.password_hasher()
    looked_up: list[str] = []
    verified: list[str] = []
    find, verify = repository.find_by_username, hasher.verify

    async def counting_find(username: str) -> User | None:
        looked_up.append(username)
        return await find(username)

    async def counting_verify(password: str, stored: str) -> bool:
        verified.append(stored[:15])
        return await verify(password, stored)

    repository.find_by_username = counting_find
    hasher.verify = counting_verify  # type: ignore[method-assign]
    client = ClientInfo(ip="203.0.113.90")
    answers = []
    for name in ["a" * 257, "\ufdfa" * 200, "nobody"]:  # U+FDFA: NFKC makes 18 characters of each
        with pytest.raises(Unauthorized) as unauthorized:
            await sign_in(container, name, WRONG, client)
        answers.append(unauthorized.value.body())
    assert answers[0] == answers[1] == answers[2]
    assert looked_up == ["nobody"]
    assert verified == ["$bcrypt-sha256$"] * 3  # the same bcrypt work for each
