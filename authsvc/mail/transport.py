"""How a mail leaves: written to the log (development) or handed to an SMTP relay (aiosmtplib)."""

from __future__ import annotations

import logging
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib

from authsvc.config import MailSettings
from authsvc.mail.models import Letter, mask_address
from authsvc.mail.ports import MailTransport

log = logging.getLogger("authsvc.mail")


def build_message(mail: Letter, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Date"] = formatdate(mail.created_at, usegmt=True)
    message["Message-ID"] = make_msgid(idstring=mail.id)
    message.set_content(mail.text)
    message.add_alternative(mail.html, subtype="html")
    return message


class LogTransport:
    """The development channel: the mail's text, link and token included, goes to the log. Production refuses it."""

    async def send(self, mail: Letter) -> None:
        log.info(
            "mail (log transport; not sent)\n%s",
            mail.text,
            extra={"event": "mail.logged", "kind": mail.kind, "to": mask_address(mail.to)},
        )


class SmtpTransport:
    def __init__(self, settings: MailSettings) -> None:
        self._settings = settings

    async def send(self, mail: Letter) -> None:
        smtp = self._settings.smtp
        await aiosmtplib.send(
            build_message(mail, self._settings.from_address),
            hostname=smtp.host,
            port=smtp.port,
            use_tls=smtp.tls,
            start_tls=smtp.starttls,
            username=smtp.username,
            password=smtp.password,
            timeout=smtp.timeout,
        )


def make_transport(settings: MailSettings) -> MailTransport:
    return SmtpTransport(settings) if settings.transport == "smtp" else LogTransport()
