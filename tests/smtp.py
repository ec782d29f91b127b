"""A real SMTP server for the tests: aiosmtpd on 127.0.0.1, started by the fixture, stopped after; it can be stopped
and started again on the same port to play an outage."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.helpers import free_port

TOKEN = re.compile(r"[?&]token=([A-Za-z0-9_-]+)")


class Inbox:
    """Collects what the server accepts; the server runs in its own thread."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        message = message_from_bytes(content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.messages.append(message)
        return "250 Message accepted for delivery"


class _Connection(SMTP):
    """One client's session, known to the controller until its transport has really closed."""

    def __init__(self, handler: Inbox, open_connections: set[SMTP]) -> None:
        super().__init__(handler)
        self._open = open_connections

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._open.add(self)
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._open.discard(self)


class _Controller(Controller):
    """aiosmtpd's controller, hanging up on its clients before it stops: its own stop() stops the loop with the
    sessions' transports half closed, and each is then collected with a ResourceWarning in whatever test runs next
    (a mail the app was still sending when the test ended)."""

    def __init__(self, inbox: Inbox, port: int) -> None:
        super().__init__(inbox, hostname="127.0.0.1", port=port)
        self.inbox = inbox
        self.open: set[SMTP] = set()

    def factory(self) -> SMTP:
        return _Connection(self.inbox, self.open)

    async def hang_up(self) -> None:
        # The listening socket stays open until stop(): closing it while a connection is being accepted trips
        # asyncio's own assertion and leaks that transport the same way.
        for _ in range(500):  # connection_lost runs a loop turn or two after close()
            for connection in list(self.open):
                if connection.transport is not None:
                    connection.transport.close()
            if not self.open:
                return
            await asyncio.sleep(0.002)

    def stop(self, no_assert: bool = False) -> None:
        if self.loop.is_running():
            asyncio.run_coroutine_threadsafe(self.hang_up(), self.loop).result(timeout=5)
        super().stop(no_assert)


class SmtpServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.inbox = Inbox()
        self._controller: Controller | None = None

    def start(self) -> SmtpServer:
        self._controller = _Controller(self.inbox, self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def messages(self) -> list[EmailMessage]:
        return list(self.inbox.messages)

    async def wait_for(self, to: str, kind_subject: str) -> EmailMessage:
        """The first mail to this address with this subject, waiting (10 s at most) for the background sender."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for message in self.messages:
                if message["To"] == to and message["Subject"] == kind_subject:
                    return message
            await asyncio.sleep(0.02)  # waiting on another thread's socket, not on a clock
        got = [(m["To"], m["Subject"]) for m in self.messages]
        raise AssertionError(f"no mail {kind_subject!r} to {to}; got {got}")

    def mails_to(self, to: str) -> list[EmailMessage]:
        return [message for message in self.messages if message["To"] == to]


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def token_in(message: EmailMessage, page: str) -> str:
    """The token of the link to this page in the mail's text (the HTML part carries the same link)."""
    text = text_of(message)
    match = re.search(rf"/{re.escape(page)}\?token=([A-Za-z0-9_-]+)", text)
    assert match, text
    assert match.group(0) in html_of(message)
    return match.group(1)


async def nth_mail(server: SmtpServer, to: str, subject: str, count: int) -> EmailMessage:
    """The count-th mail (1-based) of this subject to this address, waiting (10 s at most) for the background sender."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = [m for m in server.mails_to(to) if m["Subject"] == subject]
        if len(found) >= count:
            return found[count - 1]
        await asyncio.sleep(0.02)  # the sender delivers on a real socket, not on a clock
    raise AssertionError(f"fewer than {count} mails {subject!r} to {to}")


def smtp_sections(server: SmtpServer, **mail: Any) -> dict[str, Any]:
    """Config sections that send through this server, retrying quickly."""
    return {
        "mail": {
            "transport": "smtp",
            "from": "authsvc <no-reply@example.com>",
            "smtp": {"host": "127.0.0.1", "port": server.port, "timeout": 2},
            "retry_initial": 10,
            **mail,
        },
        "server": {"public_url": "https://auth.example.com"},
    }


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()
