"""The background sender: delivers due outbox mails, retrying failures with doubling back-off, never dropping one."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from authsvc.clock import Clock
from authsvc.config import MailSettings
from authsvc.errors import StorageUnavailable
from authsvc.mail.metrics import MailMetrics
from authsvc.mail.models import QueuedMail, mask_address
from authsvc.mail.outbox import Outbox
from authsvc.mail.ports import MailTransport

log = logging.getLogger("authsvc.mail")

# A claimed mail is put off this long past the SMTP timeout: a sender that dies mid-send lets another retry it.
LEASE_MARGIN = 60.0


class MailSender:
    def __init__(
        self, outbox: Outbox, transport: MailTransport, clock: Clock, settings: MailSettings, metrics: MailMetrics
    ) -> None:
        self._outbox = outbox
        self._transport = transport
        self._clock = clock
        self._settings = settings
        self._metrics = metrics
        self._stopped = False

    def stop(self) -> None:
        """Before cancelling run_forever: a send cut short is then not counted as a failure, nor retried here."""
        self._stopped = True

    def backoff(self, attempts: int) -> float:
        return float(min(self._settings.retry_initial * 2 ** (attempts - 1), self._settings.retry_max))

    async def deliver_due(self) -> int:
        """Send every mail due now; returns how many were delivered."""
        repository = self._outbox.repository
        delivered = 0
        while True:
            now = self._clock.now()
            mail = await repository.claim(now, now + self._settings.smtp.timeout + LEASE_MARGIN)
            if mail is None:
                break
            if await self._deliver(mail):
                delivered += 1
        self._metrics.pending(await repository.pending())
        return delivered

    async def _deliver(self, mail: QueuedMail) -> bool:
        repository = self._outbox.repository
        try:
            # A body no configured key opens (its key dropped from session.keys) fails as InvalidToken and waits.
            await self._transport.send(self._outbox.open(mail))
        except Exception as exc:  # any refusal or outage: the mail stays and is retried
            if self._stopped:  # aiosmtplib may turn the cancellation mid-send into a lost connection
                raise asyncio.CancelledError from exc
            attempts = mail.attempts + 1
            delay = self.backoff(attempts)
            # The exception's text may quote the address: only its type goes to the log and the outbox.
            error = type(exc).__name__
            await repository.failed(mail.id, attempts, self._clock.now() + delay, error)
            self._metrics.failed(mail.kind)
            log.warning(
                "mail delivery failed; will retry",
                extra={
                    "event": "mail.failed",
                    "kind": mail.kind,
                    "to": mask_address(mail.to),
                    "attempts": attempts,
                    "retry_in": delay,
                    "error": error,
                },
            )
            return False
        await repository.delivered(mail.id, self._clock.now())
        self._metrics.sent(mail.kind)
        log.info("mail delivered", extra={"event": "mail.sent", "kind": mail.kind, "to": mask_address(mail.to)})
        return True

    async def run_forever(self) -> None:
        """Deliver what is due, then wait for a new mail or send_interval, whichever comes first."""
        wake = self._outbox.wake
        self._stopped = False
        while not self._stopped:
            wake.clear()
            try:
                await self.deliver_due()
            except StorageUnavailable:
                log.warning("the outbox cannot be read; will retry", extra={"event": "mail.outbox_unavailable"})
            except Exception:  # the loop must outlive any one failure
                if self._stopped:
                    raise
                log.exception("the mail sender failed; will retry")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), self._settings.send_interval)
