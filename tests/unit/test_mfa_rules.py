"""The second factors' rule parts, without HTTP: which TOTP codes count, what a recovery code looks like, and the
sealed token of a login that waits for its second factor."""

from __future__ import annotations

import json

import pyotp
import pytest
from cryptography.fernet import Fernet

from authsvc.auth.factors import (
    TOTP,
    TOTP_PERIOD,
    WEBAUTHN,
    PendingLogins,
    hash_recovery_code,
    looks_like_totp,
    matching_step,
    new_recovery_codes,
)
from authsvc.auth.factors import enrolled_methods as methods_of
from authsvc.auth.models import SecondFactors
from authsvc.users.models import User
from tests.helpers import ManualClock

SECRET = pyotp.random_base32(32)
NOW = 4_000_000_000.0
CURRENT = int(NOW // TOTP_PERIOD)


def code_of(step: int) -> str:
    return pyotp.TOTP(SECRET, interval=TOTP_PERIOD).at(step * TOTP_PERIOD)


def test_a_code_of_the_current_step_or_one_either_side_is_accepted_and_names_its_step() -> None:
    for step in (CURRENT - 1, CURRENT, CURRENT + 1):
        assert matching_step(SECRET, code_of(step), NOW, last_used_step=0) == step


def test_a_code_two_steps_away_is_refused() -> None:
    assert matching_step(SECRET, code_of(CURRENT - 2), NOW, last_used_step=0) is None
    assert matching_step(SECRET, code_of(CURRENT + 2), NOW, last_used_step=0) is None


def test_a_code_of_a_step_already_used_is_refused_and_a_later_one_accepted() -> None:
    assert matching_step(SECRET, code_of(CURRENT), NOW, last_used_step=CURRENT) is None
    assert matching_step(SECRET, code_of(CURRENT + 1), NOW, last_used_step=CURRENT) == CURRENT + 1


@pytest.mark.parametrize("code", ["", "12345", "1234567", "12345a", " 123456"])
def test_only_six_digits_can_be_a_totp_code(code: str) -> None:
    assert not looks_like_totp(code)
    assert matching_step(SECRET, code, NOW, last_used_step=0) is None


def test_ten_distinct_recovery_codes_in_groups_of_four_each_with_a_hash() -> None:
    codes = new_recovery_codes()
    assert len(codes) == len(set(codes)) == 10
    for code in codes:
        assert [len(group) for group in code.split("-")] == [4, 4, 4, 4]
        assert hash_recovery_code(code) is not None


def test_a_recovery_code_is_the_same_typed_without_dashes_in_capitals_or_with_spaces() -> None:
    code = new_recovery_codes()[0]
    expected = hash_recovery_code(code)
    assert hash_recovery_code(code.replace("-", "")) == expected
    assert hash_recovery_code(code.upper()) == expected
    assert hash_recovery_code(code.replace("-", " ")) == expected
    assert hash_recovery_code(new_recovery_codes()[0]) != expected


@pytest.mark.parametrize("typed", ["abcd-efgh-ijkl-mno", "abcd-efgh-ijkl-mnopq", "abcd-efgh-ijkl-mno1", "123456"])
def test_what_cannot_be_a_recovery_code_has_no_hash(typed: str) -> None:
    assert hash_recovery_code(typed) is None


def factors(confirmed: bool) -> SecondFactors:
    return SecondFactors("u1", "sealed", confirmed, 0, (), 0.0)


def test_the_methods_a_login_can_use() -> None:
    assert methods_of(None, 0) == []
    assert methods_of(factors(confirmed=False), 0) == []
    assert methods_of(factors(confirmed=True), 0) == [TOTP]
    assert methods_of(None, 2) == [WEBAUTHN]
    assert methods_of(factors(confirmed=True), 1) == [TOTP, WEBAUTHN]


KEY = Fernet.generate_key()


def pending_logins(clock: ManualClock, lifetime: int = 300) -> PendingLogins:
    return PendingLogins([KEY], clock, lifetime)


ALICE = User("u1", "alice", "hash", NOW, NOW, generation=7)


def test_a_pending_login_opens_with_what_it_was_issued_for_until_its_lifetime_ends() -> None:
    clock = ManualClock(NOW)
    logins = pending_logins(clock)
    token = logins.issue(ALICE, remember=True)
    clock.advance(300)
    opened = logins.open(token)
    assert opened is not None
    assert (opened.user_id, opened.remember, opened.issued_at, opened.generation) == ("u1", True, NOW, 7)
    another = logins.open(logins.issue(ALICE, remember=True))
    assert another is not None and another.login_id != opened.login_id
    clock.advance(1)
    assert logins.open(token) is None


def sealed(payload: object, at: float = NOW) -> str:
    return Fernet(KEY).encrypt_at_time(json.dumps(payload).encode(), int(at)).decode()


@pytest.mark.parametrize(
    "payload",
    [
        ["not", "an", "object"],
        {"session": {"uid": "u1", "lid": "l1", "rem": False}},
        {"pending": "u1"},
        {"pending": {"uid": 1, "lid": "l1", "rem": False}},
        {"pending": {"uid": "u1", "lid": None, "rem": False}},
        {"pending": {"uid": "u1", "lid": "l1", "rem": "yes"}},
    ],
)
def test_a_sealed_token_of_another_shape_is_no_pending_login(payload: object) -> None:
    assert pending_logins(ManualClock(NOW)).open(sealed(payload)) is None


def test_a_well_formed_sealed_token_is_a_pending_login() -> None:
    opened = pending_logins(ManualClock(NOW)).open(sealed({"pending": {"uid": "u1", "lid": "l1", "rem": False}}))
    assert opened is not None and (opened.user_id, opened.login_id, opened.remember) == ("u1", "l1", False)


@pytest.mark.parametrize("token", [None, "", "not a token", "é", Fernet(Fernet.generate_key()).encrypt(b"{}").decode()])
def test_no_token_a_garbled_one_or_one_sealed_with_another_key_is_no_pending_login(token: str | None) -> None:
    assert pending_logins(ManualClock(NOW)).open(token) is None
