"""Passkeys: registering, listing and removing them, their challenges and checking an assertion (the logins that use
them are the login flow's: authsvc/login/).

The rules only; no HTTP. A challenge is stored when it is handed out and taken (atomically, once) when it comes back,
bound to what it was for: the session that asked to register, the pending login, or the browser that asked to sign
in. Signature counters are compare-and-set in storage, so replicas sharing the store never accept one twice.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from typing import Any

from authsvc.auth.models import Passkey, PasskeyChallenge
from authsvc.auth.ports import PasskeyChallengeRepository, PasskeyRepository
from authsvc.auth.service import Authenticated, AuthService
from authsvc.auth.sessions import SessionRegistry
from authsvc.auth.webauthn import (
    PASSWORDLESS,
    REGISTER,
    Ceremonies,
    CeremonyRefused,
    b64url,
    challenge_of,
    credential_id_of,
)
from authsvc.clock import Clock
from authsvc.errors import Conflict, FieldRefused, NotFound
from authsvc.throttle.rules import LoginThrottle
from authsvc.users.models import User

audit = logging.getLogger("authsvc.audit")

MAX_PASSKEYS = 20  # per user: excludeCredentials lists them all in every registration
NAME_MAX = 64
PASSKEY_REFUSED = "The passkey was not accepted."
UNKNOWN_PASSKEY = "passkey:unknown"  # the throttle's name for assertions of no known credential


def subject_of_session(auth: Authenticated) -> str:
    return f"session:{auth.session.id_hash}"


def subject_of_browser(nonce: str) -> str:
    return "browser:" + hashlib.sha256(nonce.encode("utf-8")).hexdigest()


class PasskeyService:
    def __init__(
        self,
        auth: AuthService,
        passkeys: PasskeyRepository,
        challenges: PasskeyChallengeRepository,
        sessions: SessionRegistry,
        ceremonies: Ceremonies,
        clock: Clock,
        throttle: LoginThrottle,
        max_passwordless: int,
    ) -> None:
        self._auth = auth  # tells the owner of a passkey added or removed
        self._passkeys = passkeys
        self._challenges = challenges
        self._sessions = sessions
        self._ceremonies = ceremonies
        self._clock = clock
        self._throttle = throttle
        self._max_passwordless = max_passwordless

    async def list(self, user_id: str) -> list[Passkey]:
        return await self._passkeys.list_for_user(user_id)

    async def _issue(self, purpose: str, subject: str) -> bytes:
        challenge = self._ceremonies.new_challenge()
        expires_at = self._clock.now() + self._ceremonies.lifetime
        await self._challenges.put(PasskeyChallenge(b64url(challenge), purpose, subject, expires_at))
        return challenge

    async def _take(self, credential: dict[str, Any], purpose: str, subject: str, user: User | None = None) -> str:
        """The challenge this answer signed, if we handed it out for this purpose and subject and it is unused (and,
        for a user, handed out since their last revocation)."""
        challenge = challenge_of(credential)
        found = await self._challenges.take(challenge, self._clock.now()) if challenge else None
        if found is None or found.purpose != purpose or not secrets.compare_digest(found.subject, subject):
            raise CeremonyRefused("unknown, used, expired or someone else's challenge")
        if user is not None and user.issued_before_revocation(found.expires_at - self._ceremonies.lifetime):
            raise CeremonyRefused("a challenge handed out before the user's last revocation")
        return found.challenge

    # Registration

    async def registration_options(self, auth: Authenticated) -> dict[str, Any]:
        existing = await self._passkeys.list_for_user(auth.user.id)
        if len(existing) >= MAX_PASSKEYS:
            raise Conflict(f"At most {MAX_PASSKEYS} passkeys per account; remove one first.")
        challenge = await self._issue(REGISTER, subject_of_session(auth))
        return self._ceremonies.registration_options(auth.user, existing, challenge)

    async def register(self, auth: Authenticated, name: str, credential: dict[str, Any]) -> Passkey:
        """Check the browser's answer to the options; store the credential and end the user's other sessions; the
        owner is told."""
        name = " ".join(name.split())
        if not 1 <= len(name) <= NAME_MAX:
            raise FieldRefused("Name the passkey.", {"name": f"name must be 1 to {NAME_MAX} characters"})
        try:
            challenge = await self._take(credential, REGISTER, subject_of_session(auth))
            new = self._ceremonies.verify_registration(credential, challenge)
        except CeremonyRefused as refused:
            audit.info("passkey refused", extra={"event": "webauthn.register_refused", "user_id": auth.user.id})
            audit.debug("passkey refused: %s", refused)
            raise FieldRefused(PASSKEY_REFUSED, {"credential": "credential was not accepted"}) from None
        passkey = Passkey(
            new.credential_id, auth.user.id, name, new.public_key, new.sign_count, new.transports, self._clock.now()
        )
        if not await self._passkeys.add(passkey):
            raise Conflict("This passkey is registered already.")
        await self._sessions.revoke_all(auth.user.id, keep_session_id=auth.session_id)
        audit.info("passkey registered", extra={"event": "webauthn.register", "user_id": auth.user.id})
        await self._auth.second_factor_changed(auth.user, "passkey_added", passkey.created_at)
        return passkey

    async def remove(self, auth: Authenticated, credential_id: str) -> None:
        """After the caller's proof (MfaService.remove_passkey): the passkey goes, the other sessions end, the owner
        is told."""
        if not await self._passkeys.delete(auth.user.id, credential_id):
            raise NotFound("No such passkey.")
        await self._sessions.revoke_all(auth.user.id, keep_session_id=auth.session_id)
        audit.info("passkey removed", extra={"event": "webauthn.remove", "user_id": auth.user.id})
        await self._auth.second_factor_changed(auth.user, "passkey_removed")

    async def owns(self, user_id: str, credential_id: str) -> bool:
        passkey = await self._passkeys.find(credential_id)
        return passkey is not None and passkey.user_id == user_id

    # Assertions

    async def login_options(self, user_id: str | None, purpose: str, subject: str) -> dict[str, Any]:
        """Options for navigator.credentials.get: the user's passkeys, or (user_id None) any discoverable one."""
        allowed = await self._passkeys.list_for_user(user_id) if user_id is not None else []
        challenge = await self._issue(purpose, subject)
        return self._ceremonies.authentication_options(allowed, challenge)

    async def check_assertion(
        self, credential: dict[str, Any], purpose: str, subject: str, user_id: str | None, user: User | None = None
    ) -> Passkey | None:
        """The passkey whose signature over our challenge this is (of user_id, when given), its use recorded; or
        None, whatever the reason (which goes to the audit log). With user, a challenge handed out before the
        user's last revocation is refused too (a passwordless one: handed out before the user was known)."""
        try:
            challenge = await self._take(credential, purpose, subject, user)
            credential_id = credential_id_of(credential)
            passkey = await self._passkeys.find(credential_id) if credential_id else None
            if passkey is None or (user_id is not None and passkey.user_id != user_id):
                raise CeremonyRefused("no such credential for this user")
            new_count = self._ceremonies.verify_assertion(
                credential, challenge, passkey, passwordless=purpose == PASSWORDLESS
            )
            if not await self._passkeys.record_use(
                passkey.credential_id, passkey.sign_count, new_count, self._clock.now()
            ):
                raise CeremonyRefused("another use of the credential came first")
        except CeremonyRefused as refused:
            audit.info("passkey assertion refused", extra={"event": "webauthn.assertion_refused", "user_id": user_id})
            audit.debug("passkey assertion refused: %s", refused)
            return None
        return passkey

    # Passwordless

    async def passwordless_options(self, browser_nonce: str, ip: str | None) -> dict[str, Any]:
        """Anyone may ask: each client's asks are counted, and the challenges handed out capped for the store."""
        await self._throttle.begin_passwordless(ip, self._max_passwordless, self._ceremonies.lifetime)
        return await self.login_options(None, PASSWORDLESS, subject_of_browser(browser_nonce))

    async def remove_all(self, user_id: str) -> int:
        return await self._passkeys.delete_for_user(user_id)
