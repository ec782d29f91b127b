"""What a user is, and the rules a username must follow."""

from __future__ import annotations

import math
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
    # The revocation generation: moved on by every remedy (SessionRegistry.revoke_user); what was issued under an
    # older one (a pending login, a reset link, a device cookie) is refused. Milliseconds of the last move, so that
    # what is issued before its user is known (a passwordless challenge) can be ordered against it too.
    generation: int = 0
    groups: tuple[str, ...] = ()  # names the access rules match with `group:`; sorted, no duplicates
    disabled: bool = False  # by an administrator: no login path accepts the user until enabled again

    def issued_before_revocation(self, issued_at: float) -> bool:
        """Whether something issued at this time (seconds) predates the user's last revocation."""
        return issued_at * 1000 < self.generation


def next_generation(previous: int, now: float) -> int:
    """The generation after previous: the revocation's time in milliseconds, always above previous."""
    return max(previous + 1, math.ceil(now * 1000))


GROUP_PATTERN = re.compile(r"[A-Za-z0-9._:@-]{1,64}")
GROUPS_MAX = 64


def group_problem(groups: list[str]) -> str | None:
    """Why these group names cannot be stored, or None when they can (header-safe: they travel in Remote-Groups)."""
    if len(set(groups)) > GROUPS_MAX:
        return f"at most {GROUPS_MAX} groups"
    if bad := [group for group in groups if not GROUP_PATTERN.fullmatch(group)]:
        return f"{bad[0]!r} is not a group name (1 to 64 of A-Z a-z 0-9 . _ : @ -)"
    return None


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
