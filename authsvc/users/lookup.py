"""Finding the user a typed name means, for every service that looks users up by name."""

from __future__ import annotations

from authsvc.users.models import User, normalize_username, tutorial_username
from authsvc.users.ports import UserRepository


async def find_by_typed_name(repository: UserRepository, typed: str) -> User | None:
    """The user a typed name means: its canonical form, else the form the tutorial's app would have stored."""
    canonical = normalize_username(typed)
    user = await repository.find_by_username(canonical)
    if user is None and (tutorial_form := tutorial_username(typed)) != canonical:
        user = await repository.find_by_username(tutorial_form)
    return user
