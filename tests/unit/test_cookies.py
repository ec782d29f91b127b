"""The session cookie codec: only our keys, only within max age, decrypted once."""

from __future__ import annotations

import json
import time

from cryptography.fernet import Fernet

from authsvc.web.edge.cookies import DECODED_CACHE_SIZE, SessionCookies
from tests.conftest import make_settings

KEY = Fernet.generate_key()


def storage(*keys: bytes) -> SessionCookies:
    settings = make_settings(session={"cookie_name": "sid", "secure": True, "idle_timeout": 1800}).session
    return SessionCookies(list(keys or (KEY,)), settings)


def token(sid: str = "s" * 43, uid: str = "u" * 24, *, key: bytes = KEY, at: float | None = None) -> str:
    data = json.dumps({"created": int(time.time()), "session": {"sid": sid, "uid": uid}}).encode()
    return Fernet(key).encrypt_at_time(data, int(at if at is not None else time.time())).decode()


def test_cookie_of_our_key_yields_ids() -> None:
    assert storage().session_ids(token()) == ("s" * 43, "u" * 24)


def test_forged_or_foreign_cookie_yields_nothing() -> None:
    codec = storage()
    assert codec.session_ids(token(key=Fernet.generate_key())) is None
    assert codec.session_ids("not-a-token") is None
    assert codec.session_ids("") is None


def test_cookie_older_than_max_age_yields_nothing_even_when_cached() -> None:
    codec = storage()
    value = token(at=time.time() - 1700)
    assert codec.session_ids(value) is not None
    old = token(at=time.time() - 1801)
    assert codec.session_ids(old) is None
    codec._decoded[value] = ("s", "u", int(time.time()) - 1801)
    assert codec.session_ids(value) is None


def test_cookie_without_session_ids_yields_nothing() -> None:
    data = json.dumps({"created": 1, "session": {"sid": 5}}).encode()
    assert storage().session_ids(Fernet(KEY).encrypt(data).decode()) is None


def test_decoded_cache_is_bounded() -> None:
    codec = storage()
    for n in range(DECODED_CACHE_SIZE + 50):
        codec.session_ids(token(sid=f"{n:043d}"))
    assert len(codec._decoded) == DECODED_CACHE_SIZE


def test_value_is_found_among_other_cookies_quoted_or_not() -> None:
    codec = storage()
    value = token()
    for header in (f"sid={value}", f'a=1; sid="{value}"; b=2', f"  theme=dark;sid={value}  "):
        assert codec.value_in(header) == value
    assert codec.value_in("sidx=1; xsid=2") is None
    assert codec.value_in(None) is None
