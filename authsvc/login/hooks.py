"""What runs once a login's every factor is proven (Kratos' login hooks): the gates before any session opens, the
session itself, then the hooks after it.

A gate refuses by raising (EmailNotVerified): nothing is opened, nothing is left to end. A hook after the session
cannot undo it: a notice that cannot be sent now is skipped and logged (deadline.follow_up), never an error for a
login that happened.
"""

from __future__ import annotations

import logging
from typing import Protocol

from authsvc.auth.service import AuthService, ClientInfo
from authsvc.auth.sessions import SessionRegistry
from authsvc.deadline import follow_up
from authsvc.login.outcomes import EmailNotVerified, InvalidCredentials, SignedIn
from authsvc.mail.service import AccountMail
from authsvc.metrics import Metrics
from authsvc.users.models import User
from authsvc.users.ports import UserRepository

audit = logging.getLogger("authsvc.audit")


class Gate(Protocol):
    async def __call__(self, user: User) -> None:
        """Refuse (raise a Problem) a login whose factors are all proven; return to let it open its session."""
        ...


class AfterLogin(Protocol):
    async def __call__(self, signed_in: SignedIn, client: ClientInfo) -> None: ...


class VerifiedAddressGate:
    """users.require_verified_email: no session without a verified address. Checked after every factor, so only the
    account's owner learns it; an address that cannot be read is a 503 (StorageUnavailable), with nothing opened."""

    def __init__(self, mail: AccountMail, required: bool) -> None:
        self._mail, self._required = mail, required

    async def __call__(self, user: User) -> None:
        if not self._required:
            return
        address = await self._mail.address_of(user.id)
        if address is None or not address.verified:
            audit.info("login refused: no verified address", extra={"event": "login.refused", "user_id": user.id})
            raise EmailNotVerified()


class SessionIssuer:
    """Opens the session of a login that passed its gates; the client's previous session ends with it.

    `user` is as it was read before the proof: when a remedy (SessionRegistry.revoke_user) moved the user's generation
    on meanwhile, the new session ends at once and the login is refused."""

    def __init__(self, auth: AuthService, sessions: SessionRegistry, users: UserRepository, metrics: Metrics) -> None:
        self._auth, self._sessions, self._users, self._metrics = auth, sessions, users, metrics

    async def __call__(
        self,
        user: User,
        client: ClientInfo,
        previous_session_id: str | None,
        *,
        remember: bool,
        factors: tuple[str, ...],
    ) -> SignedIn:
        if previous_session_id is not None:
            await self._auth.logout(previous_session_id)
        session_id, _ = await self._sessions.create(
            user.id, client.ip, client.user_agent, remember=remember, factors=factors
        )
        # By name: read from the database itself, never from a replica's cache, so the lag does not apply here.
        now = await self._users.find_by_username(user.username)
        if now is None or now.id != user.id or now.generation != user.generation:
            await self._sessions.revoke(session_id)
            self._metrics.login("failure")
            audit.info("login refused: revoked meanwhile", extra={"event": "login.revoked", "user_id": user.id})
            raise InvalidCredentials()
        return SignedIn(user, session_id, factors)


class Audited:
    """The login's success in the metrics and the audit trail."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    async def __call__(self, signed_in: SignedIn, client: ClientInfo) -> None:
        self._metrics.login("success")
        audit.info("login succeeded", extra={"event": "login.success", "user_id": signed_in.user.id, "ip": client.ip})


class NewDeviceNotice:
    """A login from a browser without a device cookie of this user: a notice to the user's verified address."""

    def __init__(self, mail: AccountMail) -> None:
        self._mail = mail

    async def __call__(self, signed_in: SignedIn, client: ClientInfo) -> None:
        user = signed_in.user
        if client.device is not None and client.device.vouches_for(user):
            return
        notice = self._mail.new_device(user, client.ip, client.user_agent)
        await follow_up("a new-device notice", notice, user_id=user.id)
