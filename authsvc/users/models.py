"""What a user is, and the rules a username must follow."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# ASCII only after NFKC: Unicode letters would let a Cyrillic look-alike of "alice" pose as alice.
USERNAME_PATTERN = re.compile(r"[a-z0-9._@-]+")


@dataclass(frozen=True, slots=True)
class User:
    id: str
    username: str
    password_hash: str
    created_at: float
    updated_at: float
    disabled: bool = False  # by an administrator: no login path accepts the user until enabled again


def normalize_username(raw: str) -> str:
    """The one form a username is stored and looked up in: NFKC, then lower case."""
    return unicodedata.normalize("NFKC", raw).lower()


def tutorial_username(raw: str) -> str:
    """The form the NestJS tutorial's app stored a typed name in: JavaScript's toLowerCase(), no normalisation.

    str.lower() is the same full Unicode lower-casing, final sigma (ΑΣ -> ας) and İ -> i + U+0307 included. The one
    difference is the Unicode version: letters added after Python's (14.0 in 3.11; node 20 knows 17.0, e.g. U+A7CB,
    U+10D50-10D65) stay as typed here, where a newer node lower-cases them.
    """
    return raw.lower()


def username_problem(username: str, min_length: int, max_length: int) -> str | None:
    """Why a normalised username cannot be registered, or None when it can."""
    if not min_length <= len(username) <= max_length:
        return f"must be {min_length} to {max_length} characters long"
    if not USERNAME_PATTERN.fullmatch(username):
        return "may contain only letters a-z, digits and . _ - @"
    return None
