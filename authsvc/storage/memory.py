"""The embedded in-memory backend: the development default, one process, gone on restart."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

from authsvc.auth.models import Passkey, PasskeyChallenge, SecondFactors, SessionRecord
from authsvc.errors import DuplicateUsername
from authsvc.storage.directory_memory import MemoryUserDirectory
from authsvc.storage.mail_memory import MemoryEmailAddresses, MemoryMailTokens, MemoryOutbox
from authsvc.users.models import User, next_generation, normalize_username


class MemoryUserRepository:
    def __init__(self) -> None:
        self._by_id: dict[str, User] = {}
        self._id_by_name: dict[str, str] = {}
        self._ids_by_canonical: dict[str, set[str]] = {}

    async def create(self, username: str, password_hash: str, now: float) -> User:
        # No await between the check and the write: the event loop makes this atomic.
        if username in self._id_by_name:
            raise DuplicateUsername()
        user = User(secrets.token_hex(12), username, password_hash, now, now)
        self._by_id[user.id] = user
        self._id_by_name[username] = user.id
        self._ids_by_canonical.setdefault(normalize_username(username), set()).add(user.id)
        return user

    async def find_by_username(self, username: str) -> User | None:
        user_id = self._id_by_name.get(username)
        return self._by_id.get(user_id) if user_id else None

    async def canonical_name_taken(self, canonical: str) -> bool:
        return bool(self._ids_by_canonical.get(canonical))

    async def find_by_id(self, user_id: str) -> User | None:
        return self._by_id.get(user_id)

    async def update_password_hash(self, user_id: str, password_hash: str, now: float) -> bool:
        user = self._by_id.get(user_id)
        if user is None:
            return False
        self._by_id[user_id] = dataclasses.replace(user, password_hash=password_hash, updated_at=now)
        return True

    async def bump_generation(self, user_id: str, now: float) -> int | None:
        user = self._by_id.get(user_id)
        if user is None:
            return None
        self._by_id[user_id] = dataclasses.replace(user, generation=next_generation(user.generation, now))
        return self._by_id[user_id].generation

    async def set_groups(self, user_id: str, groups: tuple[str, ...], now: float) -> bool:
        user = self._by_id.get(user_id)
        if user is None:
            return False
        self._by_id[user_id] = dataclasses.replace(user, groups=groups, updated_at=now)
        return True

    async def delete(self, user_id: str) -> bool:
        user = self._by_id.pop(user_id, None)
        if user is None:
            return False
        del self._id_by_name[user.username]
        self._ids_by_canonical[normalize_username(user.username)].discard(user_id)
        return True

    async def set_disabled(self, user_id: str, disabled: bool, now: float) -> bool:
        user = self._by_id.get(user_id)
        if user is None:
            return False
        self._by_id[user_id] = dataclasses.replace(user, disabled=disabled, updated_at=now)
        return True

    def everyone(self) -> Iterator[User]:
        """Every stored user, in no particular order (for the admin directory)."""
        return iter(list(self._by_id.values()))


class MemorySessionRepository:
    def __init__(self) -> None:
        self._records: dict[str, SessionRecord] = {}
        self._by_user: dict[str, set[str]] = {}

    async def create(self, record: SessionRecord) -> None:
        self._records[record.id_hash] = record
        self._by_user.setdefault(record.user_id, set()).add(record.id_hash)

    async def get(self, id_hash: str, now: float) -> SessionRecord | None:
        record = self._records.get(id_hash)
        if record is None or not record.live(now):
            return None
        return record

    async def touch(self, id_hash: str, last_seen_at: float, expires_at: float, seen_before: float) -> bool:
        record = self._records.get(id_hash)
        if record is None or record.last_seen_at >= seen_before:
            return False
        self._records[id_hash] = dataclasses.replace(record, last_seen_at=last_seen_at, expires_at=expires_at)
        return True

    async def delete(self, id_hash: str) -> bool:
        record = self._records.pop(id_hash, None)
        if record is None:
            return False
        self._by_user.get(record.user_id, set()).discard(id_hash)
        return True

    async def delete_for_user(self, user_id: str, keep_id_hash: str | None = None) -> int:
        doomed = [h for h in self._by_user.get(user_id, ()) if h != keep_id_hash]
        for id_hash in doomed:
            await self.delete(id_hash)
        return len(doomed)

    async def list_for_user(self, user_id: str, now: float) -> list[SessionRecord]:
        records = (self._records[h] for h in self._by_user.get(user_id, ()))
        return sorted((r for r in records if r.live(now)), key=lambda r: r.created_at)

    async def purge_expired(self, now: float) -> int:
        expired = [h for h, r in self._records.items() if not r.live(now)]
        for id_hash in expired:
            await self.delete(id_hash)
        return len(expired)


# A record is one unit, each member of a set one more. At ~233 bytes a unit (bench/throttle_memory.py measures it),
# 200,000 units cap the counters near 45 MiB whatever a flood of random names or addresses does.
MAX_COUNTER_UNITS = 200_000
EVICT_TO = 0.75  # a full store evicts down to this share, so eviction runs once per many inserts


@dataclass(slots=True)
class _Record:
    count: int
    until: float
    expires_at: float
    members: set[str] | None = None

    def units(self) -> int:
        return 1 + len(self.members or ())


class MemoryAttemptCounter:
    """Counters in a dict, bounded by max_units; a full store drops expired records, then the least telling ones.

    Least telling: no closed gate and the fewest counted attempts, so a flood of one-off random names evicts its own
    records before a counter that is holding a guesser back.
    """

    def __init__(self, max_units: int = MAX_COUNTER_UNITS) -> None:
        self._records: dict[str, _Record] = {}
        self._units = 0
        self._max_units = max_units

    @property
    def units(self) -> int:
        return self._units

    def _live(self, key: str, now: float) -> _Record | None:
        record = self._records.get(key)
        if record is not None and record.expires_at <= now:
            self._drop(key)
            return None
        return record

    def _record(self, key: str, now: float, expires_at: float) -> _Record:
        record = self._live(key, now)
        if record is None:
            self._make_room(now, 1)
            record = self._records[key] = _Record(0, 0.0, expires_at)
            self._units += 1
        elif expires_at > record.expires_at:
            record.expires_at = expires_at
        return record

    def _drop(self, key: str) -> None:
        record = self._records.pop(key, None)
        if record is not None:
            self._units -= record.units()

    def _make_room(self, now: float, units: int) -> None:
        if self._units + units <= self._max_units:
            return
        self._purge(now)
        target = int(self._max_units * EVICT_TO)
        if self._units + units <= target:
            return
        ranked = sorted(
            self._records.items(), key=lambda item: (item[1].until > now, item[1].count + len(item[1].members or ()))
        )
        for key, _ in ranked:
            if self._units + units <= target:
                break
            self._drop(key)

    def _purge(self, now: float) -> int:
        expired = [key for key, record in self._records.items() if record.expires_at <= now]
        for key in expired:
            self._drop(key)
        return len(expired)

    # No await in any method: the event loop makes each one atomic.

    async def hit(self, key: str, now: float, expires_at: float) -> int:
        record = self._record(key, now, expires_at)
        record.count += 1
        return record.count

    async def count(self, key: str, now: float) -> int:
        record = self._live(key, now)
        return record.count if record is not None else 0

    async def give_back(self, key: str, now: float) -> None:
        record = self._live(key, now)
        if record is not None and record.count > 0:
            record.count -= 1
            if record.count == 0 and record.until <= now and not record.members:
                self._drop(key)  # nothing left to remember

    async def hold(self, key: str, now: float, until: float) -> float | None:
        record = self._record(key, now, until)
        if record.until > now:
            return record.until
        record.until = until
        return None

    async def add_distinct(self, key: str, member: str, now: float, expires_at: float, cap: int) -> tuple[int, bool]:
        record = self._record(key, now, expires_at)
        members = record.members if record.members is not None else set()
        if member in members or len(members) >= cap:
            return len(members), False
        self._make_room(now, 1)
        if self._records.get(key) is not record:  # evicted to make room: start it again
            record = self._record(key, now, expires_at)
            members = set()
        members.add(member)
        record.members = members
        self._units += 1
        return len(members), True

    async def discard(self, key: str, member: str) -> None:
        record = self._records.get(key)
        if record is not None and record.members is not None and member in record.members:
            record.members.discard(member)
            self._units -= 1

    async def take_token(self, key: str, now: float, burst: int, interval: float) -> float | None:
        record = self._live(key, now)
        full_at = max(record.until, now) if record is not None else now
        tolerance = (burst - 1) * interval
        if full_at - now > tolerance:
            return full_at - tolerance
        record = self._record(key, now, full_at + interval)
        record.until = full_at + interval
        return None

    async def return_token(self, key: str, now: float, interval: float) -> None:
        record = self._live(key, now)
        if record is not None and record.until > now:
            record.until -= interval

    async def reset(self, key: str) -> None:
        self._drop(key)

    async def purge_expired(self, now: float) -> int:
        return self._purge(now)


class MemorySecondFactorRepository:
    """No await between a check and its write: the event loop makes each method atomic."""

    def __init__(self) -> None:
        self._by_user: dict[str, SecondFactors] = {}

    async def get(self, user_id: str) -> SecondFactors | None:
        return self._by_user.get(user_id)

    async def begin_totp(self, user_id: str, sealed_secret: str, now: float) -> bool:
        existing = self._by_user.get(user_id)
        if existing is not None and existing.totp_confirmed:
            return False
        self._by_user[user_id] = SecondFactors(user_id, sealed_secret, False, -1, (), now)
        return True

    async def confirm_totp(self, user_id: str, step: int, recovery_code_hashes: list[str], now: float) -> bool:
        existing = self._by_user.get(user_id)
        if existing is None or existing.totp_confirmed:
            return False
        self._by_user[user_id] = dataclasses.replace(
            existing,
            totp_confirmed=True,
            last_used_step=step,
            recovery_code_hashes=tuple(recovery_code_hashes),
            confirmed_at=now,
        )
        return True

    async def use_totp_step(self, user_id: str, step: int) -> bool:
        existing = self._by_user.get(user_id)
        if existing is None or not existing.totp_confirmed or existing.last_used_step >= step:
            return False
        self._by_user[user_id] = dataclasses.replace(existing, last_used_step=step)
        return True

    async def use_recovery_code(self, user_id: str, code_hash: str) -> bool:
        existing = self._by_user.get(user_id)
        if existing is None or not existing.totp_confirmed or code_hash not in existing.recovery_code_hashes:
            return False
        left = tuple(h for h in existing.recovery_code_hashes if h != code_hash)
        self._by_user[user_id] = dataclasses.replace(existing, recovery_code_hashes=left)
        return True

    async def replace_recovery_codes(self, user_id: str, recovery_code_hashes: list[str]) -> bool:
        existing = self._by_user.get(user_id)
        if existing is None or not existing.totp_confirmed:
            return False
        self._by_user[user_id] = dataclasses.replace(existing, recovery_code_hashes=tuple(recovery_code_hashes))
        return True

    async def delete(self, user_id: str) -> bool:
        return self._by_user.pop(user_id, None) is not None


class MemoryPasskeyRepository:
    """No await between a check and its write: the event loop makes each method atomic."""

    def __init__(self) -> None:
        self._by_id: dict[str, Passkey] = {}

    async def add(self, passkey: Passkey) -> bool:
        if passkey.credential_id in self._by_id:
            return False
        self._by_id[passkey.credential_id] = passkey
        return True

    async def find(self, credential_id: str) -> Passkey | None:
        return self._by_id.get(credential_id)

    async def list_for_user(self, user_id: str) -> list[Passkey]:
        return sorted((p for p in self._by_id.values() if p.user_id == user_id), key=lambda p: p.created_at)

    async def record_use(self, credential_id: str, seen_count: int, new_count: int, now: float) -> bool:
        existing = self._by_id.get(credential_id)
        if existing is None or existing.sign_count != seen_count:
            return False
        self._by_id[credential_id] = dataclasses.replace(existing, sign_count=new_count, last_used_at=now)
        return True

    async def delete(self, user_id: str, credential_id: str) -> bool:
        existing = self._by_id.get(credential_id)
        if existing is None or existing.user_id != user_id:
            return False
        del self._by_id[credential_id]
        return True

    async def delete_for_user(self, user_id: str) -> int:
        doomed = [key for key, passkey in self._by_id.items() if passkey.user_id == user_id]
        for key in doomed:
            del self._by_id[key]
        return len(doomed)


class MemoryPasskeyChallenges:
    def __init__(self) -> None:
        self._by_challenge: dict[str, PasskeyChallenge] = {}

    async def put(self, challenge: PasskeyChallenge) -> None:
        self._by_challenge[challenge.challenge] = challenge

    async def take(self, challenge: str, now: float) -> PasskeyChallenge | None:
        found = self._by_challenge.pop(challenge, None)
        return found if found is not None and now < found.expires_at else None

    async def purge_expired(self, now: float) -> int:
        doomed = [key for key, found in self._by_challenge.items() if found.expires_at <= now]
        for key in doomed:
            del self._by_challenge[key]
        return len(doomed)


class MemoryStorage:
    def __init__(self) -> None:
        self.users = MemoryUserRepository()
        self.sessions = MemorySessionRepository()
        self.attempts = MemoryAttemptCounter()
        self.outbox = MemoryOutbox()
        self.mail_tokens = MemoryMailTokens()
        self.email_addresses = MemoryEmailAddresses()
        self.second_factors = MemorySecondFactorRepository()
        self.passkeys = MemoryPasskeyRepository()
        self.passkey_challenges = MemoryPasskeyChallenges()
        self.directory = MemoryUserDirectory(self.users)

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def ping(self) -> None:
        return None

    def readiness(self) -> dict[str, str]:
        return {}

    async def purge_expired(self, now: float) -> int:
        purged = await self.sessions.purge_expired(now) + await self.attempts.purge_expired(now)
        purged += await self.passkey_challenges.purge_expired(now)
        return purged + await self.mail_tokens.purge_expired(now)
