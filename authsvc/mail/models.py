"""What a queued mail, a mailed token and an email address are; how an address is checked, keyed and masked."""

from __future__ import annotations

import re
from dataclasses import dataclass

from authsvc.errors import Conflict

MAX_ADDRESS_LENGTH = 254
# Deliberately plain: one @, no spaces, no control characters (so no header injection), a dotted domain.
ADDRESS_PATTERN = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")

RESET = "reset"
VERIFY = "verify"
NOT_ME = "not_me"


class DuplicateEmail(Conflict):
    def __init__(self) -> None:
        super().__init__("This email address belongs to another account.")


@dataclass(frozen=True, slots=True)
class QueuedMail:
    """A mail as the outbox stores it: its body (text and HTML, links and tokens in them) sealed with the session
    keys, and erased ("") once delivered; the rest is what operators may see."""

    id: str
    to: str
    kind: str
    subject: str
    body: str
    created_at: float
    next_attempt_at: float
    attempts: int = 0
    delivered_at: float | None = None
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class Letter:
    """A queued mail opened for its transport: the plain body exists only in memory, while it is being sent."""

    id: str
    to: str
    kind: str
    subject: str
    text: str
    html: str
    created_at: float


@dataclass(frozen=True, slots=True)
class MailToken:
    """A token sent by mail, stored as the sha256 of its value; stamp ties it to the state it was issued for."""

    id_hash: str
    user_id: str
    purpose: str
    stamp: str
    created_at: float
    expires_at: float


@dataclass(frozen=True, slots=True)
class EmailAddress:
    user_id: str
    address: str
    key: str
    verified: bool


def address_problem(address: str) -> str | None:
    if len(address) > MAX_ADDRESS_LENGTH or not ADDRESS_PATTERN.fullmatch(address):
        return "must be an email address such as name@example.com"
    return None


def address_key(address: str) -> str:
    """Two addresses are one when they differ only in the case of the domain (the local part is the server's)."""
    local, _, domain = address.rpartition("@")
    return f"{local}@{domain.lower()}"


def mask_address(address: str) -> str:
    """a***@example.com: what logs and metrics may say about an address."""
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}***@{domain}"
