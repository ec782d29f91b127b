"""The mails' words: one jinja2 template pair (plain text + HTML) per kind, in mail/templates/."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

TEMPLATES = Path(__file__).resolve().parent / "templates"

SUBJECTS = {
    "verify_email": "Confirm your email address",
    "reset_password": "Reset your password",
    "password_changed": "Your password was changed",
    "email_changed": "Your email address was changed",
    "new_device": "New sign-in to your account",
    "mfa_changed": "Your two-factor settings were changed",
    "invitation": "You have been invited: choose your password",
}


@dataclass(frozen=True, slots=True)
class RenderedMail:
    subject: str
    text: str
    html: str


class MailTemplates:
    def __init__(self, directory: Path = TEMPLATES) -> None:
        loader = jinja2.FileSystemLoader(directory)
        self._text = jinja2.Environment(loader=loader, autoescape=False, undefined=jinja2.StrictUndefined)  # noqa: S701
        self._html = jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined)

    def render(self, kind: str, **context: Any) -> RenderedMail:
        subject = SUBJECTS[kind]
        context = {"subject": subject, **context}
        return RenderedMail(
            subject=subject,
            text=self._text.get_template(f"{kind}.txt").render(context),
            html=self._html.get_template(f"{kind}.html").render(context),
        )
