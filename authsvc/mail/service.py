"""The account flows that go through the mailbox: email verification, password reset and "this was not me" (the
notices themselves: mail/notices.py). Knows nothing of HTTP.

Order within each call, since the database has no transactions: the state change first, its mail second, so a crash
in between can lose a mail but never send one for a change that did not happen. Tokens are stored only as sha256;
the plain token exists only in the mail's body in the outbox, sealed with the session keys and erased once delivered.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable

from authsvc.auth.service import AuthService
from authsvc.clock import Clock
from authsvc.config import MailSettings
from authsvc.errors import FieldRefused
from authsvc.mail.models import (
    NOT_ME,
    RESET,
    VERIFY,
    DuplicateEmail,
    EmailAddress,
    MailToken,
    address_key,
    address_problem,
)
from authsvc.mail.notices import EMAIL_CHANGED, MailedNotices, NoticeEvent, hash_token
from authsvc.mail.outbox import Outbox
from authsvc.mail.ports import EmailAddressRepository, MailTokenRepository
from authsvc.throttle.rules import LoginThrottle
from authsvc.users.lookup import find_by_typed_name
from authsvc.users.models import User
from authsvc.users.ports import UserRepository

audit = logging.getLogger("authsvc.audit")

# /users/password/forgot answers no sooner than this, known user or not: the mail work must not tell them apart.
FORGOT_MIN_SECONDS = 0.2
BAD_LINK = "The link is invalid, used or expired; ask for a new one."
UNVERIFIED = "Verify your email address first: open the link in the mail we sent you."


def reset_stamp(user: User) -> str:
    """Ties a reset token to the password and the revocation generation it was issued under: any other change of
    the password, and any remedy (SessionRegistry.revoke_user), kills it."""
    return hashlib.sha256(f"{user.generation}:{user.password_hash}".encode()).hexdigest()


class AccountMail:
    """The account's mail flows: the address and its verification, password reset, "this was not me". The password
    itself is set by AuthService.set_password, and a remedy's revocation by AuthService.recover: this only mails and
    keeps its own tokens and addresses."""

    def __init__(
        self,
        users: UserRepository,
        addresses: EmailAddressRepository,
        tokens: MailTokenRepository,
        outbox: Outbox,
        notices: MailedNotices,
        account: AuthService,
        throttle: LoginThrottle,
        clock: Clock,
        settings: MailSettings,
        stored_users: UserRepository,
    ) -> None:
        self._users = users
        # Disabled users too: their address stays theirs (`users` hides them, as every login path must).
        self._stored_users = stored_users
        self._addresses = addresses
        self._tokens = tokens
        self._outbox = outbox
        self._notices = notices
        self._account = account
        self._throttle = throttle
        self._clock = clock
        self._settings = settings

    async def _live_token(self, token: str, purpose: str) -> MailToken | None:
        id_hash = hash_token(token)
        record = await self._tokens.get(id_hash, purpose, self._clock.now())
        # Found by its hash; compared once more in constant time, whatever the backend's lookup does.
        if record is None or not hmac.compare_digest(record.id_hash, id_hash):
            return None
        return record

    async def _take(self, record: MailToken) -> bool:
        return await self._tokens.take(record.id_hash, record.purpose, self._clock.now()) is not None

    # Addresses

    def check_address(self, address: str) -> str:
        """The address as given, or FieldRefused."""
        if problem := address_problem(address):
            raise FieldRefused("The email address is not valid.", {"email": f"email {problem}"})
        return address

    async def verified_address(self, user_id: str) -> str | None:
        """The user's address once verified (for the gateway's email header); None otherwise."""
        address = await self._addresses.get(user_id)
        return address.address if address is not None and address.verified else None

    async def ensure_free(self, address: str, user_id: str | None = None) -> None:
        """DuplicateEmail when the address belongs to another existing account."""
        holder = await self._addresses.find_by_key(address_key(address))
        if holder is None or holder.user_id == user_id:
            return
        if await self._stored_users.find_by_id(holder.user_id) is None:  # its account was deleted: the address is free
            await self._addresses.delete(holder.user_id)
            return
        raise DuplicateEmail()

    async def check_free(self, address: str, user_id: str | None = None) -> None:
        """FieldRefused for an address that is not one, DuplicateEmail when another existing account holds it."""
        await self.ensure_free(self.check_address(address), user_id)

    async def set_address(self, user: User, address: str) -> None:
        """Store the address, unverified, and mail a verification link to it; the old address is told."""
        self.check_address(address)
        await self.ensure_free(address, user.id)
        key = address_key(address)
        old, changed_at = await self._addresses.get(user.id), self._clock.now()
        if old is not None and old.address == address:
            if old.verified:
                return
        else:
            await self._addresses.set(EmailAddress(user.id, address, key, verified=False))
            audit.info("email address set", extra={"event": "email.set", "user_id": user.id})
        await self._tokens.delete_for_user(user.id, VERIFY)
        token = await self._notices.issue(user.id, VERIFY, key, self._settings.verify_token_ttl)
        await self._outbox.put(
            address,
            "verify_email",
            username=user.username,
            address=address,
            link=self._notices.link("verify-email", token),
            hours=self._settings.verify_token_ttl // 3600 or 1,
        )
        if old is not None and old.key != key and old.verified:
            await self._notices.email_changed(user, old.address, address, changed_at)

    async def address_of(self, user_id: str) -> EmailAddress | None:
        """The user's address and whether it is verified (the account page shows both)."""
        return await self._addresses.get(user_id)

    async def resend_verification(self, user: User) -> bool | None:
        """A fresh verification link to the user's unverified address (the old link dies); False when there is none,
        None when the account was mailed one too recently (throttle.reset_mail_interval, as reset mails)."""
        address = await self._addresses.get(user.id)
        if address is None or address.verified:
            return False
        if not await self._throttle.verify_mail_allowed(user.id):
            return None
        await self.set_address(user, address.address)
        return True

    async def verify_address(self, token: str) -> None:
        record = await self._live_token(token, VERIFY)
        if record is None:
            raise FieldRefused(BAD_LINK, {"token": "token is invalid, used or expired"})
        address = await self._addresses.get(record.user_id)
        if address is None or address.key != record.stamp or not await self._take(record):
            raise FieldRefused(BAD_LINK, {"token": "token is invalid, used or expired"})
        await self._addresses.mark_verified(record.user_id, record.stamp)
        audit.info("email address verified", extra={"event": "email.verify", "user_id": record.user_id})

    async def new_device(self, user: User, ip: str | None, user_agent: str | None) -> None:
        """A login from a browser without this user's device cookie: a notice to the verified address, if any."""
        await self._new_device(user, ip, user_agent)

    async def _new_device(
        self, user: User, ip: str | None, user_agent: str | None, address: EmailAddress | None = None
    ) -> None:
        address = address or await self._addresses.get(user.id)
        if address is not None and address.verified:
            agent = (user_agent or "unknown browser")[:200]
            await self._notices.new_device(user, address.address, ip or "unknown", agent)

    # Password reset

    async def forgot(self, *, username: str | None = None, email: str | None = None, ip: str | None = None) -> None:
        """Mail a reset link to the account's verified address, if there is one; the caller learns nothing."""
        await self._forgot(lambda: self._find(username, email), ip)

    async def forgot_any(self, name_or_address: str, ip: str | None = None) -> None:
        """The portal's one field: a username, else a verified address."""

        async def find() -> User | None:
            return await self._find(name_or_address, None) or await self._find(None, name_or_address)

        await self._forgot(find, ip)

    async def _forgot(self, find: Callable[[], Awaitable[User | None]], ip: str | None) -> None:
        """Sent, limited (the client's or the account's), unknown or without a verified address: the same nothing,
        no sooner than FORGOT_MIN_SECONDS."""
        started = time.monotonic()
        try:
            if not await self._throttle.forgot_allowed(ip):
                return
            user = await find()
            address = await self._addresses.get(user.id) if user is not None else None
            if (
                user is not None
                and address is not None
                and address.verified
                and await self._throttle.reset_mail_allowed(user.id)  # counted only for a mail it would send
            ):
                await self._send_reset(user, address.address)
        finally:
            await asyncio.sleep(max(0.0, FORGOT_MIN_SECONDS - (time.monotonic() - started)))

    async def _find(self, username: str | None, email: str | None) -> User | None:
        if username is not None:
            return await find_by_typed_name(self._users, username)
        if email is None or address_problem(email):
            return None
        address = await self._addresses.find_by_key(address_key(email))
        return await self._users.find_by_id(address.user_id) if address is not None and address.verified else None

    async def _send_reset(self, user: User, address: str) -> None:
        await self._tokens.delete_for_user(user.id, RESET)  # one live reset link per account: the new one replaces it
        token = await self._notices.issue(user.id, RESET, reset_stamp(user), self._settings.reset_token_ttl)
        await self._outbox.put(
            address,
            "reset_password",
            username=user.username,
            link=self._notices.link("reset", token),
            minutes=self._settings.reset_token_ttl // 60,
        )
        audit.info("password reset mailed", extra={"event": "password.reset_mailed", "user_id": user.id})

    async def send_reset_link(self, user: User) -> bool:
        """An administrator's "send a reset link": to the verified address, unthrottled; False when there is none."""
        address = await self._addresses.get(user.id)
        if address is None or not address.verified:
            return False
        await self._send_reset(user, address.address)
        return True

    async def invite(self, user: User, address: str) -> None:
        """Mail a new account's owner a link to choose the password (the reset page), valid as long as a
        verification link. The address is stored verified: an administrator typed it, and only its owner can use
        the link."""
        self.check_address(address)
        await self.ensure_free(address, user.id)
        await self._addresses.set(EmailAddress(user.id, address, address_key(address), verified=True))
        ttl = self._settings.verify_token_ttl
        token = await self._notices.issue(user.id, RESET, reset_stamp(user), ttl)
        await self._outbox.put(
            address,
            "invitation",
            username=user.username,
            link=self._notices.link("reset", token),
            hours=ttl // 3600 or 1,
        )
        audit.info("invitation mailed", extra={"event": "invitation.mailed", "user_id": user.id})

    async def reset(self, token: str, new_password: str, ip: str | None = None) -> User:
        """Set the password a reset link was mailed for (AuthService.set_password: every session ends, the account's
        counters clear, the owner is told)."""
        refused = FieldRefused(BAD_LINK, {"token": "token is invalid, used or expired"})
        record = await self._live_token(token, RESET)
        user = await self._users.find_by_id(record.user_id) if record is not None else None
        if record is None or user is None:
            raise refused
        if not hmac.compare_digest(record.stamp, reset_stamp(user)):
            await self._tokens.delete_for_user(user.id, RESET)  # the password changed or a remedy ran: the link is dead
            raise refused
        self._account.check_new_password(user, new_password)  # a refused password does not spend the link
        if not await self._take(record):
            raise refused
        await self._tokens.delete_for_user(user.id, RESET)  # any other link: dead by its stamp once the hash changes
        await self._account.set_password(user, new_password, "reset", ip=ip)
        return user

    async def not_me(self, token: str) -> None:
        """ "This was not me": the account goes back to the owner as it was before the event the notice was about.

        Every session, pending login, reset link and device cookie ends and every second factor added since the
        event is removed (AuthService.recover); an address-change notice puts the previous (verified) address back.
        A reset link then goes to the address the notice went to, verified before the event, and only there.
        """
        record = await self._live_token(token, NOT_ME)
        if record is None or not await self._take(record):
            raise FieldRefused(BAD_LINK, {"token": "token is invalid, used or expired"})
        user = await self._users.find_by_id(record.user_id)
        if user is None:
            return
        event = NoticeEvent.of(record)
        await self._account.recover(user.id, event.at)
        address = await self._address_before(user, event)
        revoked = await self._users.find_by_id(user.id)  # the reset link is stamped with the new generation
        if address is not None and revoked is not None:
            await self._send_reset(revoked, address)

    async def _address_before(self, user: User, event: NoticeEvent) -> str | None:
        """The address verified before the event, put back when the event changed it; None when there is none
        (an old token, an address taken by another account since, or one changed after the event)."""
        if event.to is None:
            return None
        key = address_key(event.to)
        current = await self._addresses.get(user.id)
        if current is not None and current.verified and current.key == key:
            return current.address
        if event.kind != EMAIL_CHANGED:
            return None  # the address changed after this event: that change's own notice went to this one
        try:
            await self.ensure_free(event.to, user.id)
            await self._addresses.set(EmailAddress(user.id, event.to, key, verified=True))
        except DuplicateEmail:
            audit.info("address not restored: taken", extra={"event": "email.not_restored", "user_id": user.id})
            return None
        await self._tokens.delete_for_user(user.id, VERIFY)  # the replaced address's link dies
        audit.info("email address restored", extra={"event": "email.restore", "user_id": user.id})
        return event.to
