"""Password-guessing throttles that stop a guesser without locking the owner, or a whole site, out.

Three rules, each counted in the shared storage backend before the password is checked (concurrent guesses cannot
overtake the count) and given back when the attempt succeeds or never runs:

1. one client on one account: a few free failures, then a back-off that doubles up to a ceiling; a success resets it;
2. one account across clients: past the NIST ceiling in a window, unknown devices are refused until it ends. A device
   the user logged in from before (the device cookie, read at the HTTP edge) skips it and has rule 1's allowance of
   its own instead, so a stolen device cookie buys one client's allowance and no more;
3. one address across accounts: many distinct failing names slow that address's unknown devices down, never ban it.

Sign-ups, forgotten-password requests and passwordless challenges are token buckets per client (a burst, then a
steady refill), and reset mails per account too: a NAT's many people get through within minutes, a flood stays
bounded, and a refusal takes nothing, so a flood that keeps asking does not lengthen its own wait.

Keys are short hashes: no counter holds a name or an address. Nothing here knows HTTP.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from ipaddress import IPv6Address, ip_address, ip_network
from typing import Protocol

from authsvc.clock import Clock
from authsvc.config import ThrottleSettings
from authsvc.errors import ServiceUnavailable, StorageUnavailable, TooManyRequests
from authsvc.metrics import Metrics
from authsvc.throttle.ports import AttemptCounter

log = logging.getLogger("authsvc")

TOO_MANY = "Too many attempts; try again later."
MAX_DOUBLINGS = 30  # 2**30 s is past any ceiling: no float overflow however long a guesser keeps on
ADDRESS_SET_SLACK = 16  # distinct names kept past address_free_names: enough for the back-off to reach its ceiling
DAY = 86400.0
STORE_KEY = "ws:store"  # the one bucket of the challenge store, shared by every client and replica
STORE_FULL = "Too many passkey sign-ins are under way; try again shortly, or sign in with your password."


class Known(Protocol):
    """A user as a device cookie knows one (users.models.User is one; the throttle imports no package above it)."""

    @property
    def id(self) -> str: ...

    @property
    def generation(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Device:
    """What a valid device cookie vouches for: this browser logged in as user_id before."""

    user_id: str
    device_id: str  # random, per cookie: the key of the device's own allowance
    generation: int = 0  # the user's revocation generation when it was issued

    def vouches_for(self, user: Known) -> bool:
        """Issued to this very user, since their last revocation."""
        return secrets.compare_digest(self.user_id.encode(), user.id.encode()) and self.generation == user.generation


def digest(*parts: str) -> str:
    """A short keyed-by-purpose hash: counters are keyed by it, never by a name or an address."""
    hashed = hashlib.blake2b(digest_size=12, person=b"authsvc-throttle")
    for part in parts:
        hashed.update(part.encode("utf-8", "surrogatepass") + b"\0")
    return hashed.hexdigest()


def client_of(ip: str | None, ipv6_prefix: int) -> str:
    """The client an address stands for: an IPv4 address, or the /ipv6_prefix network of an IPv6 one (one
    subscriber usually holds a whole /64, so its addresses are one client)."""
    if not ip:
        return "-"
    try:
        address = ip_address(ip.split("%", 1)[0])  # no zone index: fe80::1%eth0 is fe80::1
    except ValueError:
        return ip
    if isinstance(address, IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ip_network(f"{address}/{ipv6_prefix}", strict=False))
    return str(address)


def _doubling(base: float, steps: int, ceiling: float) -> float:
    return float(min(base * 2 ** min(steps, MAX_DOUBLINGS), ceiling))


class Attempt:
    """One counted attempt. A failure keeps what was counted; succeeded() and abandoned() undo it."""

    def __init__(self) -> None:
        self._on_success: list[Callable[[], Awaitable[None]]] = []
        self._on_abandon: list[Callable[[], Awaitable[None]]] = []

    def undo(self, on_success: Callable[[], Awaitable[None]], on_abandon: Callable[[], Awaitable[None]]) -> None:
        self._on_success.append(on_success)
        self._on_abandon.append(on_abandon)

    async def succeeded(self) -> None:
        for action in self._on_success:
            await action()

    async def abandoned(self) -> None:
        """The attempt never reached a verdict (throttled by a later rule, an error, a dropped connection). The
        give-backs are independent: they run together, so a request that met an outage waits once, not once each."""
        outcomes = await asyncio.gather(*(action() for action in self._on_abandon), return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, StorageUnavailable):  # the count stays: erring on the side of counting
                log.warning("a throttle count was not given back: the storage is unavailable")
            elif isinstance(outcome, BaseException):
                log.warning("could not give a throttled attempt back", exc_info=outcome)


class LoginThrottle:
    def __init__(self, counter: AttemptCounter, clock: Clock, settings: ThrottleSettings, metrics: Metrics) -> None:
        self._counter = counter
        self._clock = clock
        self._settings = settings
        self._metrics = metrics
        self._store_full = False

    async def begin(self, username: str, ip: str | None, device: Device | None) -> Attempt:
        """Count a password attempt for username (normalised) from ip, or from a device that vouches for it;
        raises TooManyRequests, having counted nothing, when a rule refuses it."""
        now = self._clock.now()
        attempt = Attempt()
        try:
            if device is not None:
                await self._allowance(attempt, f"d:{digest('device', device.device_id)}", now, "device")
            else:
                # The address first: a spraying address's refused attempts then leave no records behind. Clients
                # without an address are no one address: none of them is slowed for what the others sprayed.
                client = client_of(ip, self._settings.ipv6_prefix)
                if ip:
                    await self._address(attempt, digest("client", client), digest("name", username), now)
                await self._allowance(attempt, f"p:{digest('pair', client, username)}", now, "client")
                await self._account(attempt, digest("name", username), now)
        except BaseException:
            await attempt.abandoned()
            raise
        return attempt

    async def begin_for(self, username: str, ip: str | None, device: Device | None, user: Known | None) -> Attempt:
        """Count an attempt (a password, a code, a passkey) for username (normalised) and the user it names, when
        known: the device cookie counts only when it names this very user and was issued since their last
        revocation."""
        if device is not None and (user is None or not device.vouches_for(user)):
            device = None
        return await self.begin(username, ip, device)

    async def begin_signup(self, ip: str | None) -> Attempt:
        """Take one of the client's sign-ups (a bucket: signup_burst at once, then one every signup_refill_seconds),
        or raise TooManyRequests; abandoned() gives it back (the name was taken, the hashing queue was full).

        Taken before the password is hashed, so concurrent sign-ups cannot overtake the count."""
        settings = self._settings
        key = f"u:{digest('client', client_of(ip, settings.ipv6_prefix))}"
        await self._take("signup", key, settings.signup_burst, settings.signup_refill_seconds)

        async def give_back() -> None:
            await self._counter.return_token(key, self._clock.now(), settings.signup_refill_seconds)

        attempt = Attempt()
        attempt.undo(_nothing, give_back)
        return attempt

    async def forgot_allowed(self, ip: str | None) -> bool:
        """Whether a forgotten-password request from ip may go on (forgot_burst at once, then one every
        forgot_refill_seconds); counts every request, whatever account it names."""
        settings = self._settings
        key = f"f:{digest('client', client_of(ip, settings.ipv6_prefix))}"
        return await self._took("forgot_address", key, settings.forgot_burst, settings.forgot_refill_seconds)

    async def reset_mail_allowed(self, user_id: str) -> bool:
        """Whether the account may be mailed a reset link now: at most one per reset_mail_interval, and
        reset_mails_per_day in a row, then one more every day / reset_mails_per_day. Counts the mail it allows."""
        settings, account = self._settings, digest("account", user_id)
        spacing, per_day = f"m:{account}", settings.reset_mails_per_day  # m: the spacing, md: the day's share
        if not await self._took("reset_mail", spacing, 1, settings.reset_mail_interval):
            return False
        if await self._took("reset_mail", f"md:{account}", per_day, DAY / per_day):
            return True
        await self._counter.return_token(spacing, self._clock.now(), settings.reset_mail_interval)
        return False

    async def verify_mail_allowed(self, user_id: str) -> bool:
        """Whether the account may be mailed its verification link again now: like reset mails, at most one per
        reset_mail_interval and reset_mails_per_day in a row (a signed-in page must not become a mail cannon)."""
        settings, account = self._settings, digest("account", user_id)
        spacing, per_day = f"v:{account}", settings.reset_mails_per_day
        if not await self._took("verify_mail", spacing, 1, settings.reset_mail_interval):
            return False
        if await self._took("verify_mail", f"vd:{account}", per_day, DAY / per_day):
            return True
        await self._counter.return_token(spacing, self._clock.now(), settings.reset_mail_interval)
        return False

    async def begin_passwordless(self, ip: str | None, store_max: int, lifetime: float) -> None:
        """Count a request for a passwordless challenge: the client's bucket (passwordless_burst, then one every
        passwordless_refill_seconds; else TooManyRequests), then the store's (else ServiceUnavailable, 503: a full
        store is not this client's doing, and frees itself as challenges expire).

        The store's bucket hands out half of store_max at once and the rest over one challenge lifetime, so however
        they are asked for, no more than store_max challenges are ever live: one update per request on any backend,
        where counting the live challenges costs a scan (870 ms per count of 10,000 on FerretDB)."""
        settings, now = self._settings, self._clock.now()
        key = f"w:{digest('client', client_of(ip, settings.ipv6_prefix))}"
        await self._take("passwordless", key, settings.passwordless_burst, settings.passwordless_refill_seconds)
        at_once = max(1, store_max // 2)
        opens = await self._counter.take_token(STORE_KEY, now, at_once, lifetime / (store_max - at_once + 1))
        if opens is None:
            self._store_full = False
            return
        await self._counter.return_token(key, now, settings.passwordless_refill_seconds)  # the client got nothing
        if not self._store_full:  # one line per episode, not one per refused request
            log.warning("passwordless challenges refused: as many as webauthn.passwordless_max_challenges may be live")
        self._store_full = True
        raise ServiceUnavailable(STORE_FULL, headers={"Retry-After": str(max(1, math.ceil(opens - now)))})

    async def _take(self, rule: str, key: str, burst: int, interval: float) -> None:
        now = self._clock.now()
        opens = await self._counter.take_token(key, now, burst, interval)
        if opens is not None:
            self._refuse(rule, opens - now)

    async def _took(self, rule: str, key: str, burst: int, interval: float) -> bool:
        """A token taken, or False (counted as refused by rule) where the caller must not say so."""
        if await self._counter.take_token(key, self._clock.now(), burst, interval) is None:
            return True
        self._metrics.throttled(rule)
        return False

    async def clear_account(self, username: str, ip: str | None) -> None:
        """After a password reset: the account's window of unknown-device failures, and the resetting client's own
        allowance on it, start over (the owner just proved control of the account's address)."""
        settings, now = self._settings, self._clock.now()
        start = math.floor(now / settings.account_window) * settings.account_window
        await self._counter.reset(f"a:{digest('name', username)}:{start}")
        client = client_of(ip, settings.ipv6_prefix)
        await self._counter.reset(f"p:{digest('pair', client, username)}")

    async def _allowance(self, attempt: Attempt, key: str, now: float, rule: str) -> None:
        """Rule 1: client_max_failures free, then one attempt per back-off, doubling from backoff_base."""
        settings = self._settings
        count = await self._counter.hit(key, now, now + settings.client_forget_after)
        attempt.undo(partial(self._counter.reset, key), self._give_back(key))
        if count < settings.client_max_failures:
            return
        wait = _doubling(settings.backoff_base, count - settings.client_max_failures, settings.backoff_max)
        opens = await self._counter.hold(key, now, now + wait)
        if opens is not None:
            self._refuse(rule, opens - now)

    async def _account(self, attempt: Attempt, name: str, now: float) -> None:
        """Rule 2: at most account_max_failures attempts from unknown devices per window."""
        settings = self._settings
        start = math.floor(now / settings.account_window) * settings.account_window
        key = f"a:{name}:{start}"
        count = await self._counter.hit(key, now, start + settings.account_window)
        attempt.undo(self._give_back(key), self._give_back(key))
        if count > settings.account_max_failures:
            self._refuse("account", start + settings.account_window - now)

    async def _address(self, attempt: Attempt, client: str, name: str, now: float) -> None:
        """Rule 3: address_free_names distinct names per window, then one unknown-device attempt per back-off."""
        settings = self._settings
        start = math.floor(now / settings.address_window) * settings.address_window
        key = f"s:{client}:{start}"
        cap = settings.address_free_names + ADDRESS_SET_SLACK
        names, added = await self._counter.add_distinct(key, name, now, start + settings.address_window, cap)
        discard = partial(self._counter.discard, key, name)
        attempt.undo(discard, discard if added else _nothing)
        if names <= settings.address_free_names:
            return
        wait = _doubling(1.0, names - settings.address_free_names - 1, settings.address_backoff_max)
        opens = await self._counter.hold(key, now, now + wait)
        if opens is not None:
            self._refuse("address", opens - now)

    def _give_back(self, key: str) -> Callable[[], Awaitable[None]]:
        async def give_back() -> None:
            await self._counter.give_back(key, self._clock.now())

        return give_back

    def _refuse(self, rule: str, seconds: float) -> None:
        self._metrics.throttled(rule)
        raise TooManyRequests(TOO_MANY, retry_after=math.ceil(seconds))


async def _nothing() -> None:
    return None
