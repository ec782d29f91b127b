"""Server-side sessions: the cookie carries a random id and the user id, the registry decides if it is live."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import secrets
from dataclasses import dataclass

from authsvc.auth.models import SessionRecord
from authsvc.auth.ports import SessionRepository
from authsvc.clock import Clock
from authsvc.config import SessionSettings
from authsvc.metrics import Metrics
from authsvc.users.ports import UserRepository

SESSION_ID_BYTES = 32  # 256 bits from secrets


@functools.lru_cache(maxsize=10_000)  # every check of a session hashes its id: once per id instead
def hash_session_id(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class ResolvedSession:
    record: SessionRecord
    renewed: bool  # last_seen_at moved: the cookie should be re-issued


class SessionRegistry:
    """sha256(session id) -> who, since when, until when; every check goes through here."""

    def __init__(
        self,
        repository: SessionRepository,
        clock: Clock,
        settings: SessionSettings,
        metrics: Metrics,
        users: UserRepository,
    ) -> None:
        self._repository = repository
        self._users = users
        self._clock = clock
        self._settings = settings
        self._metrics = metrics

    async def create(
        self,
        user_id: str,
        ip: str | None = None,
        user_agent: str | None = None,
        *,
        remember: bool = False,
        factors: tuple[str, ...] = (),
    ) -> tuple[str, SessionRecord]:
        """A new session; `remember` ("keep me signed in") lives session.remember_me_lifetime when that is on;
        `factors`: how the login proved who it is."""
        session_id = secrets.token_urlsafe(SESSION_ID_BYTES)
        now = self._clock.now()
        lifetime = self._settings.absolute_lifetime
        if remember and self._settings.remember_me_lifetime > 0:
            lifetime = self._settings.remember_me_lifetime
        absolute = now + lifetime
        record = SessionRecord(
            id_hash=hash_session_id(session_id),
            user_id=user_id,
            created_at=now,
            last_seen_at=now,
            expires_at=min(now + self._settings.idle_timeout, absolute),
            absolute_expires_at=absolute,
            ip=ip,
            user_agent=user_agent[:256] if user_agent else None,
            factors=factors,
            proven_at=now,
        )
        await self._repository.create(record)
        self._metrics.sessions_created()
        await self._end_least_recently_used(record)
        return session_id, record

    async def _end_least_recently_used(self, new: SessionRecord) -> None:
        """At most max_per_user live sessions: the others used least recently end first, never the new one."""
        live = await self._repository.list_for_user(new.user_id, new.created_at)
        others = [record for record in live if record.id_hash != new.id_hash]
        excess = len(others) + 1 - self._settings.max_per_user
        for record in sorted(others, key=lambda r: r.last_seen_at)[: max(0, excess)]:
            await self._delete(record.id_hash)

    async def resolve(self, session_id: str, user_id: str, *, touch: bool = True) -> ResolvedSession | None:
        """The live session for this id and user, renewed when enough of the idle window has passed."""
        now = self._clock.now()
        record = await self._repository.get(hash_session_id(session_id), now)
        if record is None or not secrets.compare_digest(record.user_id.encode(), user_id.encode()):
            return None
        renew_window = self._settings.idle_timeout * self._settings.renew_after
        if not touch or now - record.last_seen_at < renew_window:
            return ResolvedSession(record, renewed=False)
        expires_at = min(now + self._settings.idle_timeout, record.absolute_expires_at)
        await self._repository.touch(record.id_hash, now, expires_at, seen_before=now - renew_window)
        return ResolvedSession(dataclasses.replace(record, last_seen_at=now, expires_at=expires_at), renewed=True)

    async def step_up(self, session_id: str, record: SessionRecord, factor: str) -> str:
        """The session proven once more (a second factor): a new id for it (no fixation of the stronger session),
        the same lifetime, the factor added; the old id ends."""
        new_id = secrets.token_urlsafe(SESSION_ID_BYTES)
        now = self._clock.now()
        stronger = dataclasses.replace(
            record,
            id_hash=hash_session_id(new_id),
            last_seen_at=now,
            expires_at=min(now + self._settings.idle_timeout, record.absolute_expires_at),
            factors=tuple(dict.fromkeys((*record.factors, factor))),
            proven_at=now,
        )
        await self._repository.create(stronger)
        await self._delete(hash_session_id(session_id))
        return new_id

    async def _delete(self, id_hash: str) -> bool:
        deleted = await self._repository.delete(id_hash)
        self._metrics.sessions_revoked(int(deleted))
        return deleted

    async def revoke(self, session_id: str) -> bool:
        return await self._delete(hash_session_id(session_id))

    async def revoke_by_handle(self, user_id: str, handle: str) -> bool:
        for record in await self.list(user_id):
            if secrets.compare_digest(record.handle.encode(), handle.encode("utf-8", "surrogatepass")):
                return await self._delete(record.id_hash)
        return False

    async def revoke_all(self, user_id: str, keep_session_id: str | None = None) -> int:
        keep = hash_session_id(keep_session_id) if keep_session_id else None
        count = await self._repository.delete_for_user(user_id, keep)
        self._metrics.sessions_revoked(count)
        return count

    async def revoke_user(self, user_id: str, keep_session_id: str | None = None) -> int:
        """Every remedy's one call (password change or reset, "this was not me", revoke-all, mfa-reset, account
        deletion): the user's revocation generation moves on, so every pending login, reset link, passwordless
        challenge and device cookie issued before is refused; then every session but keep_session_id ends.

        In this order: a login that read the old generation and opens its session after the sessions ended finds
        the new one when it checks again (login.hooks.SessionIssuer)."""
        await self._users.bump_generation(user_id, self._clock.now())
        return await self.revoke_all(user_id, keep_session_id)

    async def list(self, user_id: str) -> list[SessionRecord]:
        """The user's live sessions, oldest first; at most max_per_user (the most recently used) even after a race."""
        records = await self._repository.list_for_user(user_id, self._clock.now())
        recent = sorted(records, key=lambda r: r.last_seen_at)[-self._settings.max_per_user :]
        return sorted(recent, key=lambda r: r.created_at)
