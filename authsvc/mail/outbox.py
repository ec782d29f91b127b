"""The outbox: a mail is stored with the action that causes it, and the background sender is woken for it."""

from __future__ import annotations

import asyncio
import secrets

from authsvc.clock import Clock
from authsvc.mail.models import QueuedMail
from authsvc.mail.ports import OutboxRepository
from authsvc.mail.templates import MailTemplates


class Outbox:
    def __init__(self, repository: OutboxRepository, templates: MailTemplates, clock: Clock) -> None:
        self.repository = repository
        self._templates = templates
        self._clock = clock
        self.wake = asyncio.Event()

    async def put(self, to: str, kind: str, **context: object) -> QueuedMail:
        """Render and store the mail (so it survives an SMTP outage and a restart), then wake the sender."""
        rendered = self._templates.render(kind, **context)
        now = self._clock.now()
        mail = QueuedMail(
            id=secrets.token_hex(12),
            to=to,
            kind=kind,
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            created_at=now,
            next_attempt_at=now,
        )
        await self.repository.add(mail)
        self.wake.set()
        return mail
