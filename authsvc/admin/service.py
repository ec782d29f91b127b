"""What an operator may do to accounts: find, create, invite, disable, enable, delete, set groups, end sessions,
reset second factors, send a reset link. Knows nothing of HTTP; the admin API and the `authsvc users` commands both
call it.

It reads the stored users directly (a disabled user is still listed); every login path reads them through
users.enabled.EnabledUsers, which hides a disabled one. Disabling stores the flag first and then ends every session:
on MongoDB both writes are announced in the revocations log, so every replica refuses within revocation_lag_ms.
"""

from __future__ import annotations

import base64
import binascii
import logging
import secrets

from authsvc.admin.models import Account, State, UserPage, UserQuery
from authsvc.admin.ports import UserDirectory
from authsvc.auth.factors import enrolled_methods
from authsvc.auth.ports import PasskeyRepository, SecondFactorRepository
from authsvc.auth.sessions import SessionRegistry
from authsvc.clock import Clock
from authsvc.config import AdminSettings
from authsvc.deadline import follow_up
from authsvc.errors import BadRequest, FieldRefused, NotFound
from authsvc.mail.models import address_key, address_problem
from authsvc.mail.ports import EmailAddressRepository
from authsvc.mail.service import AccountMail
from authsvc.users.lookup import find_by_typed_name
from authsvc.users.models import User, group_problem, normalize_username
from authsvc.users.ports import Notices, UserRepository
from authsvc.users.service import UsersService

audit = logging.getLogger("authsvc.audit")

NO_SUCH_USER = "There is no user with this id."
BAD_CURSOR = "The cursor is not one this API handed out."
DEFAULT_PAGE_SIZE = 50


def encode_cursor(username: str) -> str:
    return base64.urlsafe_b64encode(username.encode("utf-8", "surrogatepass")).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        padded = (cursor + "=" * (-len(cursor) % 4)).encode("ascii")
        return base64.b64decode(padded, altchars=b"-_", validate=True).decode("utf-8", "surrogatepass")
    except (binascii.Error, ValueError):  # UnicodeError is a ValueError
        raise BadRequest(BAD_CURSOR, errors=[{"pointer": "#/cursor", "detail": "cursor is malformed"}]) from None


class AdminService:
    def __init__(
        self,
        users: UserRepository,
        directory: UserDirectory,
        addresses: EmailAddressRepository,
        signup: UsersService,
        sessions: SessionRegistry,
        factors: SecondFactorRepository,
        passkeys: PasskeyRepository,
        mail: AccountMail,
        notices: Notices,
        clock: Clock,
        settings: AdminSettings,
    ) -> None:
        self._users = users
        self._directory = directory
        self._addresses = addresses
        self._signup = signup
        self._sessions = sessions
        self._factors = factors
        self._passkeys = passkeys
        self._mail = mail
        self._notices = notices
        self._clock = clock
        self.max_page_size = settings.max_page_size

    # Finding users

    async def list_users(
        self,
        *,
        prefix: str | None = None,
        email: str | None = None,
        state: State | None = None,
        group: str | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> UserPage:
        """One page of users in the order of their stored names; next_cursor is None on the last page."""
        limit = min(DEFAULT_PAGE_SIZE, self.max_page_size) if limit is None else limit
        if not 1 <= limit <= self.max_page_size:
            raise BadRequest(
                f"limit must be 1 to {self.max_page_size}.",
                errors=[{"pointer": "#/limit", "detail": f"limit must be 1 to {self.max_page_size}"}],
            )
        if group is not None and (problem := group_problem([group])):
            raise BadRequest("group is not a group name.", errors=[{"pointer": "#/group", "detail": problem}])
        query = UserQuery(normalize_username(prefix) if prefix else None, state, group)
        after = decode_cursor(cursor) if cursor else None
        if email is not None:
            return await self._by_email(email, query, after)
        users = await self._directory.page(query, after, limit + 1)  # one more: is there a next page?
        more = len(users) > limit
        users = users[:limit]
        return UserPage(users, encode_cursor(users[-1].username) if more else None)

    async def _by_email(self, email: str, query: UserQuery, after: str | None) -> UserPage:
        """An address belongs to one user at most: a page of one, or none."""
        if address_problem(email):
            return UserPage([], None)
        holder = await self._addresses.find_by_key(address_key(email))
        user = await self._users.find_by_id(holder.user_id) if holder is not None else None
        if user is None or (after is not None and user.username <= after):
            return UserPage([], None)
        if (
            (query.prefix and not user.username.startswith(query.prefix))
            or (query.state is not None and user.disabled != (query.state == "disabled"))
            or (query.group is not None and query.group not in user.groups)
        ):
            return UserPage([], None)
        return UserPage([user], None)

    async def named(self, username: str) -> User:
        """The user a typed name means, disabled or not (for the command line, which names users)."""
        user = await find_by_typed_name(self._users, username)
        if user is None:
            raise NotFound("There is no user with this name.")
        return user

    async def user(self, user_id: str) -> User:
        user = await self._users.find_by_id(user_id)
        if user is None:
            raise NotFound(NO_SUCH_USER)
        return user

    async def account(self, user_id: str) -> Account:
        user = await self.user(user_id)
        address = await self._addresses.get(user.id)
        factors = await self._factors.get(user.id)
        methods = enrolled_methods(factors, len(await self._passkeys.list_for_user(user.id)))
        sessions = len(await self._sessions.list(user.id))
        return Account(
            user,
            address.address if address is not None else None,
            address is not None and address.verified,
            methods,
            sessions,
        )

    # Creating users

    async def create(self, actor: str, username: str, password: str, email: str | None = None) -> User:
        """A user with the password the administrator chose (and an address, mailed a verification link)."""
        if email is not None:
            await self._mail.ensure_free(self._mail.check_address(email))
        user = await self._signup.signup(username, password, by_administrator=True)
        if email is not None:
            await self._mail.set_address(user, email)
        audit.info(
            "user created by an administrator", extra={"event": "admin.create", "actor": actor, "user_id": user.id}
        )
        return user

    async def invite(self, actor: str, username: str, email: str) -> User:
        """A user whose owner chooses the password through a mailed link; until then no password logs in."""
        if problem := address_problem(email):
            raise FieldRefused("The email address is not valid.", {"email": f"email {problem}"})
        await self._mail.ensure_free(email)
        # Nobody knows this password; it only fills the place until the invitation link replaces it.
        user = await self._signup.signup(username, secrets.token_urlsafe(48), by_administrator=True)
        await self._mail.invite(user, email)
        audit.info("user invited", extra={"event": "account.invited", "actor": actor, "user_id": user.id})
        return user

    # Changing users

    async def disable(self, actor: str, user_id: str) -> User:
        """No login path accepts the user any more; every session ends, and with the revocation generation every
        pending login, reset link and device cookie issued before."""
        user = await self.user(user_id)
        await self._users.set_disabled(user.id, True, self._clock.now())
        count = await self._sessions.revoke_user(user.id)
        audit.info(
            "account disabled", extra={"event": "account.disabled", "actor": actor, "user_id": user.id, "count": count}
        )
        return await self.user(user_id)

    async def enable(self, actor: str, user_id: str) -> User:
        user = await self.user(user_id)
        await self._users.set_disabled(user.id, False, self._clock.now())
        audit.info("account enabled", extra={"event": "account.enabled", "actor": actor, "user_id": user.id})
        return await self.user(user_id)

    async def delete(self, actor: str, user_id: str) -> None:
        """The account and everything of it: sessions, second factors, passkeys, address."""
        user = await self.user(user_id)
        await self._sessions.revoke_user(user.id)
        await self._factors.delete(user.id)  # no secret outlives its account
        await self._passkeys.delete_for_user(user.id)
        await self._addresses.delete(user.id)
        await self._users.delete(user.id)
        audit.info(
            "account deleted by an administrator",
            extra={"event": "account.deleted", "actor": actor, "user_id": user.id},
        )

    async def set_groups(self, actor: str, user_id: str, groups: list[str]) -> User:
        """Replace the user's groups (sorted, each once) under the command line's rule, with its user.groups event;
        the access rules see them on the user's next check (every replica's within the revocation lag)."""
        if problem := group_problem(groups):
            raise BadRequest("The groups break the input rules.", errors=[{"pointer": "#/groups", "detail": problem}])
        user = await self.user(user_id)
        if not await self._signup.store_groups(user.id, groups, actor):
            raise NotFound(NO_SUCH_USER)  # deleted meanwhile
        return await self.user(user_id)

    async def end_sessions(self, actor: str, user_id: str) -> int:
        user = await self.user(user_id)
        count = await self._sessions.revoke_user(user.id)
        audit.info(
            "sessions ended by an administrator",
            extra={"event": "session.revoke_all", "actor": actor, "user_id": user.id, "count": count},
        )
        return count

    async def reset_second_factors(self, actor: str, user_id: str) -> bool:
        """Every second factor removed (a lost phone) and every session ended; whether there was one. The owner is
        told at the verified address."""
        user = await self.user(user_id)
        removed = await self._factors.delete(user.id)
        removed = await self._passkeys.delete_for_user(user.id) > 0 or removed
        await self._sessions.revoke_user(user.id)
        audit.info(
            "second factors reset by an administrator", extra={"event": "mfa.reset", "actor": actor, "user_id": user.id}
        )
        if removed:  # after the change: a notice that cannot be sent now is skipped and logged
            notice = self._notices.second_factor_changed(user, "all_removed")
            await follow_up("a second-factor notice", notice, user_id=user.id)
        return removed

    async def send_reset_link(self, actor: str, user_id: str) -> bool:
        """A reset link to the verified address; False when the user has none."""
        user = await self.user(user_id)
        sent = await self._mail.send_reset_link(user)
        audit.info(
            "reset link sent by an administrator",
            extra={"event": "admin.reset_link", "actor": actor, "user_id": user.id, "sent": sent},
        )
        return sent
