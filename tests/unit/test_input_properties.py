"""Property-based tests of the input rules (hypothesis)."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from authsvc.users.models import USERNAME_PATTERN, normalize_username, username_problem
from authsvc.users.passwords import PasswordPolicy

POLICY = PasswordPolicy(8, 1024, frozenset({"password", "12345678"}))


@given(st.from_regex(r"[A-Za-z0-9._@-]{3,64}", fullmatch=True))
def test_names_differing_only_in_case_or_width_are_one_name(raw: str) -> None:
    fullwidth = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in raw)
    assert normalize_username(raw.upper()) == normalize_username(raw.lower()) == normalize_username(fullwidth)


@given(st.text(max_size=80))
def test_accepted_usernames_are_ascii_of_the_documented_set_and_length(raw: str) -> None:
    username = normalize_username(raw)
    if username_problem(username, 3, 64) is None:
        assert 3 <= len(username) <= 64
        assert USERNAME_PATTERN.fullmatch(username)
        assert username.isascii() and username == username.lower()
        assert not any(c.isspace() or unicodedata.category(c) == "Cc" for c in username)


@given(st.from_regex(r"[A-Za-z0-9._@-]{3,64}", fullmatch=True))
def test_every_documented_username_is_accepted_in_any_case(raw: str) -> None:
    assert username_problem(normalize_username(raw), 3, 64) is None


@given(
    st.text(alphabet=st.characters(categories=["Zs", "Cc"]), min_size=1, max_size=3), st.text(min_size=0, max_size=10)
)
def test_whitespace_or_control_characters_are_refused(bad: str, rest: str) -> None:
    assert username_problem(normalize_username("abc" + bad + rest), 3, 64) is not None


@given(st.text(min_size=8, max_size=1024))
def test_any_password_of_allowed_length_passes_unless_common_or_the_username(password: str) -> None:
    problem = POLICY.problem(password, "someone")
    normalized = unicodedata.normalize("NFKC", password).lower()
    if normalized in {"password", "12345678", "someone"}:
        assert problem is not None
    else:
        assert problem is None


@given(st.text(max_size=7))
def test_short_passwords_are_refused(password: str) -> None:
    assert POLICY.problem(password, "someone") is not None
