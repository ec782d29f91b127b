"""The one place that hashes and checks passwords.

New hashes are ``$bcrypt-sha256$`` + a bcrypt hash of base64(sha256(NFKC password)): the pre-hash lets every
character of a long password count (bcrypt alone reads 72 bytes) and the prefix says how to check it. Plain
``$2a$``/``$2b$``/``$2y$`` hashes, as the NestJS tutorial's node bcrypt wrote them, still verify the way node did
(first 72 bytes). A login upgrades them only where the new hash accepts the same passwords: a typed password of 72
bytes or more is re-hashed as plain bcrypt of its first 72 bytes (only to raise the cost), never in full, or a typo in
the ignored tail would become the password. In tutorial-compatible mode new hashes are plain ``$2b$`` bcrypt of the
UTF-8 bytes, as node's bcrypt writes them, and nothing is upgraded.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import unicodedata
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

import bcrypt

from authsvc.deadline import off_the_clock
from authsvc.errors import Busy

log = logging.getLogger("authsvc")

PREFIX = "$bcrypt-sha256$"
LEGACY_PREFIXES = ("$2a$", "$2b$", "$2y$")
BCRYPT_MAX_BYTES = 72
BUSY = "The server is busy checking passwords; try again shortly."
T = TypeVar("T")


def _prehash(password: str) -> bytes:
    digest = hashlib.sha256(unicodedata.normalize("NFKC", password).encode("utf-8")).digest()
    return base64.b64encode(digest)  # 44 bytes, no NUL: safe for bcrypt


def _cost_of(bcrypt_hash: str) -> int:
    try:
        return int(bcrypt_hash.split("$")[2])
    except (IndexError, ValueError):
        return 0


def _hash_sync(password: str, cost: int) -> str:
    return PREFIX + bcrypt.hashpw(_prehash(password), bcrypt.gensalt(cost)).decode("ascii")


def _legacy_hash_sync(password: bytes, cost: int) -> str:
    """What node's bcrypt.hash writes: $2b$ over the bytes; more than 72 raise ValueError rather than be cut here."""
    return bcrypt.hashpw(password, bcrypt.gensalt(cost, prefix=b"2b")).decode("ascii")


def _verify_sync(password: str, stored: str) -> tuple[bool, int | None]:
    """Whether the password matches, and the cost of the bcrypt work done (None: none was done)."""
    try:
        if stored.startswith(PREFIX):
            bcrypt_hash = stored[len(PREFIX) :]
            return bcrypt.checkpw(_prehash(password), bcrypt_hash.encode("ascii")), _cost_of(bcrypt_hash)
        if stored.startswith(LEGACY_PREFIXES):
            # node's bcrypt hashed the UTF-8 bytes and ignored everything past 72 of them.
            return bcrypt.checkpw(password.encode("utf-8")[:BCRYPT_MAX_BYTES], stored.encode("ascii")), _cost_of(stored)
    except (ValueError, UnicodeEncodeError):  # a malformed stored hash never matches
        return False, None
    return False, None


class PasswordHasher:
    """bcrypt off the event loop, in a bounded thread pool (bcrypt releases the GIL), behind a bounded queue: when
    `threads + queue` hashes are already waiting or running, the next one answers 503 instead of waiting seconds.

    Every check costs what one check at the configured cost costs: a cheaper stored hash (a tutorial account's
    ``$2a$10$``, a malformed one) is topped up with dummy checks at costs s, s+1, ..., cost-1, since
    2^s + (2^s + ... + 2^(cost-1)) = 2^cost. So a wrong password on a legacy account answers as slowly as an unknown
    user, and timing does not tell unmigrated accounts apart.
    """

    def __init__(
        self, executor: Executor, cost: int, tutorial_compatible: bool = False, threads: int = 1, queue: int = 1_000_000
    ) -> None:
        self._executor = executor
        self.cost = cost
        self._capacity = threads + queue
        self._in_flight = 0
        self.tutorial_compatible = tutorial_compatible
        # The tutorial's app would silently ignore the rest, so a longer new password is refused instead.
        self.max_bytes = BCRYPT_MAX_BYTES if tutorial_compatible else None
        if tutorial_compatible:
            log.warning(
                "passwords.tutorial_compatible is on: no hash is upgraded and new ones are plain bcrypt (72 bytes); "
                "turn it off once the tutorial's app is retired"
            )
        self._dummy_hashes: dict[int, bytes] = {}
        self._dummy_hash = _hash_sync("dummy password for unknown users", cost)

    async def _run(self, function: Callable[..., T], *args: Any) -> T:
        if self._in_flight >= self._capacity:
            raise Busy(BUSY)
        self._in_flight += 1
        try:
            with off_the_clock():  # waiting for a thread and hashing are not the storage deadline's to bound
                return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)
        finally:
            self._in_flight -= 1

    async def hash(self, password: str) -> str:
        if self.tutorial_compatible:
            return await self._run(_legacy_hash_sync, password.encode("utf-8"), self.cost)
        return await self._run(_hash_sync, password, self.cost)

    async def verify(self, password: str, stored: str) -> bool:
        return await self._run(self._verify_evenly, password, stored)

    def _verify_evenly(self, password: str, stored: str) -> bool:
        matched, spent = _verify_sync(password, stored)
        for cost in range(spent, self.cost) if spent is not None else (self.cost,):
            bcrypt.checkpw(b"top-up", self._dummy_at(cost))
        return matched

    def _dummy_at(self, cost: int) -> bytes:
        dummy = self._dummy_hashes.get(cost)
        if dummy is None:  # made once per cost; a race only makes it twice
            dummy = self._dummy_hashes[cost] = bcrypt.hashpw(b"top-up", bcrypt.gensalt(max(4, cost)))
        return dummy

    async def verify_dummy(self, password: str) -> None:
        """Spend the time a real check takes, so an unknown user answers as slowly as a wrong password."""
        await self.verify(password, self._dummy_hash)

    async def upgrade(self, password: str, stored: str) -> str | None:
        """The hash to store in place of `stored`, which `password` has just verified; None to keep it.

        Never one that accepts other passwords than `stored` does (up to NFKC, authsvc's rule for every password).
        """
        if self.tutorial_compatible:
            return None  # the tutorial's app must still verify every hash
        if stored.startswith(PREFIX):
            return None if _cost_of(stored[len(PREFIX) :]) == self.cost else await self.hash(password)
        typed = password.encode("utf-8")
        if stored.startswith(LEGACY_PREFIXES) and len(typed) >= BCRYPT_MAX_BYTES:
            # The legacy hash accepts anything that starts with these 72 bytes: keep exactly that.
            if _cost_of(stored) == self.cost:
                return None
            return await self._run(_legacy_hash_sync, typed[:BCRYPT_MAX_BYTES], self.cost)
        return await self.hash(password)


def load_common_passwords() -> frozenset[str]:
    """zxcvbn's list of the 30,000 most common passwords (from leaked password corpora)."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


class PasswordPolicy:
    """NIST SP 800-63B: length, not composition; no common password; not the username."""

    def __init__(
        self,
        min_length: int,
        max_length: int,
        common: frozenset[str] = frozenset(),
        context_words: tuple[str, ...] | list[str] = (),
        max_bytes: int | None = None,
    ) -> None:
        self.min_length = min_length
        self.max_length = max_length
        self.max_bytes = max_bytes
        self._common = common
        self._context_words = [unicodedata.normalize("NFKC", word).lower() for word in context_words if word]

    def problem(self, password: str, username: str) -> str | None:
        """Why this password cannot be chosen, or None when it can."""
        if len(password) < self.min_length:
            return f"must be at least {self.min_length} characters long"
        if len(password) > self.max_length:
            return f"must be at most {self.max_length} characters long"
        if self.max_bytes is not None and len(password.encode("utf-8")) > self.max_bytes:
            return (
                f"must be at most {self.max_bytes} bytes in UTF-8 while passwords.tutorial_compatible is on: "
                "the tutorial's app, which reads the same hashes, would ignore the rest"
            )
        normalized = unicodedata.normalize("NFKC", password).lower()
        if normalized in self._common:
            return "is one of the most common passwords; choose another"
        if normalized == username:
            return "must not be the username"
        if any(word in normalized for word in self._context_words):
            return "must not contain the name of this service or organisation"
        return None
