"""The outbox: a mail is stored with the action that causes it, and the background sender is woken for it.

Its body holds the links and their tokens, so it is stored sealed with the session keys (a MultiFernet: rotating the
keys keeps it readable while the old key stays listed) and erased once delivered: a copy of the database shows no
live link.
"""

from __future__ import annotations

import asyncio
import json
import secrets

from authsvc.auth.factors import SecretBox
from authsvc.clock import Clock
from authsvc.mail.models import Letter, QueuedMail
from authsvc.mail.ports import OutboxRepository
from authsvc.mail.templates import MailTemplates


class Outbox:
    def __init__(self, repository: OutboxRepository, templates: MailTemplates, clock: Clock, box: SecretBox) -> None:
        self.repository = repository
        self._templates = templates
        self._clock = clock
        self._box = box
        self.wake = asyncio.Event()

    async def put(self, to: str, kind: str, **context: object) -> QueuedMail:
        """Render, seal and store the mail (so it survives an SMTP outage and a restart), then wake the sender."""
        rendered = self._templates.render(kind, **context)
        now = self._clock.now()
        mail = QueuedMail(
            id=secrets.token_hex(12),
            to=to,
            kind=kind,
            subject=rendered.subject,
            body=self._box.seal(json.dumps({"text": rendered.text, "html": rendered.html})),
            created_at=now,
            next_attempt_at=now,
        )
        await self.repository.add(mail)
        self.wake.set()
        return mail

    def open(self, mail: QueuedMail) -> Letter:
        """The mail with its body unsealed, for the transport; raises InvalidToken when no configured key opens it."""
        body = json.loads(self._box.open(mail.body))
        return Letter(mail.id, mail.to, mail.kind, mail.subject, body["text"], body["html"], mail.created_at)
