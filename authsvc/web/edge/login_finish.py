"""The end of every login, at the HTTP edge: whatever proved it (a password, a code, a passkey) and whoever answers
(the JSON routes, the portal's pages), a finished login runs the same checks and sets the same cookies."""

from __future__ import annotations

from aiohttp import web

from authsvc.auth.service import AuthService, ClientInfo
from authsvc.mail.service import AccountMail
from authsvc.users.models import User
from authsvc.web.edge.cookie_header import cookie_header, cookie_values
from authsvc.web.edge.cookies import SessionCookies, SessionIds
from authsvc.web.edge.devices import DeviceCookies
from authsvc.web.edge.pending_cookie import PendingLoginCookie


class LoginFinish:
    def __init__(
        self,
        auth: AuthService,
        mail: AccountMail,
        cookies: SessionCookies,
        devices: DeviceCookies,
        pending: PendingLoginCookie,
    ) -> None:
        self._auth, self._mail = auth, mail
        self._cookies, self._devices, self._pending = cookies, devices, pending

    async def __call__(
        self, request: web.Request, response: web.StreamResponse, client: ClientInfo, user: User, session_id: str
    ) -> web.StreamResponse:
        """The mail checks (Forbidden, and the new session ended, for a required address not verified; a new
        device's notice), then the session cookie, a fresh device cookie, and no pending login left behind."""
        known_device = client.device is not None and client.device.vouches_for(user)
        await self._mail.after_login(
            user, session_id, self._auth.logout, ip=client.ip, user_agent=client.user_agent, known_device=known_device
        )
        await self._cookies.issue(request, SessionIds(session_id, user.id))
        self._devices.issue(request, user)  # the login is complete only now
        if cookie_values(cookie_header(request), self._pending.name):
            self._pending.clear(response)
        return response
