"""The notices mailed to an account's owner: what changed, with a "this was not me" link. Knows nothing of HTTP.

Implements users.ports.Notices for the services that change an account (a password, a second factor); the account
flows (mail/service.py) use it for the address-change and new-device notices. Each notice goes to the verified
address only, and its link's token records the event (NoticeEvent), so "this was not me" knows what to undo.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass

from authsvc.clock import Clock
from authsvc.config import MailSettings, ServerSettings
from authsvc.mail.models import NOT_ME, MailToken
from authsvc.mail.outbox import Outbox
from authsvc.mail.ports import EmailAddressRepository, MailTokenRepository
from authsvc.users.models import User
from authsvc.users.ports import FactorChange, PasswordChange

EMAIL_CHANGED = "email_changed"
HOW: dict[PasswordChange, str] = {"changed": "changed", "reset": "reset with a link mailed to you"}
CHANGES: dict[FactorChange, str] = {
    "totp_added": "an authenticator app was added",
    "totp_removed": "the authenticator app was removed",
    "passkey_added": "a passkey was added",
    "passkey_removed": "a passkey was removed",
    "recovery_codes_replaced": "new recovery codes were made; the old ones no longer work",
    "all_removed": "every second factor was removed by an administrator",
}


@dataclass(frozen=True, slots=True)
class NoticeEvent:
    """What a notice's "this was not me" link is about, as its token's stamp records it."""

    kind: str | None  # the notice: email_changed, password_changed, mfa_changed, new_device; None for old tokens
    at: float  # when it happened: the factors added since are removed
    to: str | None  # the address the notice went to, verified before the event; None for old tokens

    def stamp(self) -> str:
        return json.dumps({"event": self.kind, "at": self.at, "to": self.to})

    @classmethod
    def of(cls, token: MailToken) -> NoticeEvent:
        """The event of a notice token; a token from before events were recorded knows only its time."""
        try:
            data = json.loads(token.stamp)
            kind, at, to = data["event"], float(data["at"]), data["to"]
        except (ValueError, TypeError, KeyError):
            return cls(None, token.created_at, None)
        if not isinstance(kind, str) or not isinstance(to, str):
            return cls(None, token.created_at, None)
        return cls(kind, at, to)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class MailedNotices:
    """The notices, and the mailed links' tokens (stored only as sha256; the plain token is only in the mail)."""

    def __init__(
        self,
        addresses: EmailAddressRepository,
        tokens: MailTokenRepository,
        outbox: Outbox,
        clock: Clock,
        settings: MailSettings,
        server: ServerSettings,
    ) -> None:
        self._addresses = addresses
        self._tokens = tokens
        self._outbox = outbox
        self._clock = clock
        self._settings = settings
        self._base_url = server.public_url or f"http://{server.host}:{server.port}"

    def link(self, page: str, token: str) -> str:
        return f"{self._base_url}/{page}?token={token}"

    async def issue(self, user_id: str, purpose: str, stamp: str, ttl: int) -> str:
        """A new mailed token; only its hash is stored."""
        token = secrets.token_urlsafe(32)
        now = self._clock.now()
        await self._tokens.add(MailToken(hash_token(token), user_id, purpose, stamp, now, now + ttl))
        return token

    async def password_changed(self, user: User, how: PasswordChange) -> None:
        await self._notify_verified(user, "password_changed", how=HOW[how])

    async def second_factor_changed(self, user: User, change: FactorChange, added_at: float | None = None) -> None:
        # An addition's event is the factor's addition (never later than now): its "this was not me" removes it.
        at = None if added_at is None else min(added_at, self._clock.now())
        await self._notify_verified(user, "mfa_changed", at=at, change=CHANGES[change])

    async def email_changed(self, user: User, old_address: str, new_address: str, at: float) -> None:
        """To the address that was verified before the change."""
        await self._notify(user, old_address, EMAIL_CHANGED, at=at, new_address=new_address)

    async def new_device(self, user: User, address: str, ip: str, user_agent: str) -> None:
        await self._notify(user, address, "new_device", ip=ip, user_agent=user_agent)

    async def _notify(self, user: User, address: str, kind: str, *, at: float | None = None, **context: object) -> None:
        """Mail a notice of an event (at: when it happened, now by default) with its "this was not me" link."""
        event = NoticeEvent(kind, self._clock.now() if at is None else at, address)
        token = await self.issue(user.id, NOT_ME, event.stamp(), self._settings.not_me_token_ttl)
        await self._outbox.put(address, kind, username=user.username, not_me_link=self.link("not-me", token), **context)

    async def _notify_verified(self, user: User, kind: str, *, at: float | None = None, **context: object) -> None:
        address = await self._addresses.get(user.id)
        if address is not None and address.verified:
            await self._notify(user, address.address, kind, at=at, **context)
