"""Second factors' rule parts: TOTP codes (RFC 6238), recovery codes, secrets sealed with the session keys, and the
token of a login that waits for its second factor. No HTTP, no storage."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from dataclasses import dataclass

import pyotp
import segno
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from authsvc.auth.models import SecondFactors
from authsvc.clock import Clock
from authsvc.users.models import User

TOTP = "totp"
WEBAUTHN = "webauthn"
TOTP_PERIOD = 30  # seconds: what every authenticator app assumes
TOTP_DRIFT_STEPS = 1  # a code from the step before or after the current one is accepted too
RECOVERY_CODES = 10
RECOVERY_CODE_BYTES = 10  # 80 bits: a plain sha256 of it cannot be searched
ENROLMENT_SECONDS = 600  # to scan the QR code and type the first code, after the password was given
_TOTP_CODE = re.compile(r"[0-9]{6}")


def enrolled_methods(factors: SecondFactors | None, passkeys: int) -> list[str]:
    """The second factors a login can use: a confirmed TOTP secret, registered passkeys."""
    methods = [TOTP] if factors is not None and factors.totp_confirmed else []
    return [*methods, WEBAUTHN] if passkeys else methods


class SecretBox:
    """Secrets at rest, encrypted with the session keys: the first encrypts, any decrypts (keys rotate)."""

    def __init__(self, keys: list[bytes]) -> None:
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode("utf-8")).decode("ascii")

    def open(self, sealed: str) -> str:
        return self._fernet.decrypt(sealed.encode("ascii")).decode("utf-8")


def new_totp_secret() -> str:
    return pyotp.random_base32(32)  # 160 bits, as RFC 4226 recommends


def totp_uri(secret: str, username: str, issuer: str) -> str:
    return pyotp.TOTP(secret, interval=TOTP_PERIOD).provisioning_uri(name=username, issuer_name=issuer)


def qr_svg(text: str) -> str:
    """The QR code of text as an inline SVG document (no XML declaration)."""
    return str(segno.make(text, error="m").svg_inline(scale=4, dark="#000", light="#fff"))


def matching_step(secret: str, code: str, now: float, last_used_step: int) -> int | None:
    """The time step whose code this is (the current one or one either side) and not used yet, or None."""
    if not _TOTP_CODE.fullmatch(code):
        return None
    totp = pyotp.TOTP(secret, interval=TOTP_PERIOD)
    current = int(now // TOTP_PERIOD)
    found = None
    for step in range(current - TOTP_DRIFT_STEPS, current + TOTP_DRIFT_STEPS + 1):
        # Every candidate is compared (constant time each), whichever matches.
        if secrets.compare_digest(totp.at(step * TOTP_PERIOD).encode(), code.encode()) and step > last_used_step:
            found = step
    return found


def looks_like_totp(code: str) -> bool:
    return _TOTP_CODE.fullmatch(code) is not None


def new_recovery_codes() -> list[str]:
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = base32(secrets.token_bytes(RECOVERY_CODE_BYTES))
        codes.append("-".join(raw[i : i + 4] for i in range(0, len(raw), 4)))
    return codes


def base32(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=").lower()


def hash_recovery_code(code: str) -> str | None:
    """The stored form of a recovery code (typed with or without dashes, any case), or None if it cannot be one."""
    normalized = code.replace("-", "").replace(" ", "").lower()
    if not re.fullmatch(r"[a-z2-7]{16}", normalized):
        return None
    return hashlib.sha256(normalized.encode("ascii")).hexdigest()


@dataclass(frozen=True, slots=True)
class PendingLogin:
    user_id: str
    login_id: str  # names this pending login in the attempt counters
    issued_at: float
    remember: bool
    generation: int  # the user's revocation generation when the password step passed


class PendingLogins:
    """The token of a login whose password was right and whose second factor is awaited: sealed, short-lived."""

    def __init__(self, keys: list[bytes], clock: Clock, lifetime: int) -> None:
        self._fernet = MultiFernet([Fernet(key) for key in keys])
        self._clock = clock
        self.lifetime = lifetime

    def issue(self, user: User, remember: bool) -> str:
        login_id = secrets.token_urlsafe(16)
        data = json.dumps({"pending": {"uid": user.id, "lid": login_id, "rem": remember, "gen": user.generation}})
        return self._fernet.encrypt_at_time(data.encode("utf-8"), int(self._clock.now())).decode("ascii")

    def open(self, token: str | None) -> PendingLogin | None:
        if not token:
            return None
        try:
            raw = token.encode("ascii")
            now = int(self._clock.now())
            data = json.loads(self._fernet.decrypt_at_time(raw, self.lifetime, now))
            issued_at = self._fernet.extract_timestamp(raw)
        except (InvalidToken, ValueError, UnicodeEncodeError):
            return None
        pending = data.get("pending") if isinstance(data, dict) else None
        if not isinstance(pending, dict):
            return None
        user_id, login_id, remember = pending.get("uid"), pending.get("lid"), pending.get("rem")
        generation = pending.get("gen", 0)
        if not isinstance(user_id, str) or not isinstance(login_id, str) or not isinstance(remember, bool):
            return None
        if type(generation) is not int:
            return None
        return PendingLogin(user_id, login_id, float(issued_at), remember, generation)


class EnrolmentTokens:
    """The token a proven TOTP enrolment hands out with its secret, and its confirmation must bring back: bound to
    the user, the session and that pending secret, sealed with the session keys, short-lived. A session cookie alone
    can then neither start nor finish an enrolment."""

    def __init__(self, keys: list[bytes], clock: Clock) -> None:
        self._fernet = MultiFernet([Fernet(key) for key in keys])
        self._clock = clock

    @staticmethod
    def _binding(user_id: str, session_id_hash: str, sealed_secret: str) -> str:
        return hashlib.sha256("\0".join((user_id, session_id_hash, sealed_secret)).encode("utf-8")).hexdigest()

    def issue(self, user_id: str, session_id_hash: str, sealed_secret: str) -> str:
        data = json.dumps({"enrol": self._binding(user_id, session_id_hash, sealed_secret)})
        return self._fernet.encrypt_at_time(data.encode("utf-8"), int(self._clock.now())).decode("ascii")

    def valid(self, token: str, user_id: str, session_id_hash: str, sealed_secret: str) -> bool:
        try:
            raw = self._fernet.decrypt_at_time(token.encode("ascii"), ENROLMENT_SECONDS, int(self._clock.now()))
            data = json.loads(raw)
        except (InvalidToken, ValueError, UnicodeEncodeError):
            return False
        bound = data.get("enrol") if isinstance(data, dict) else None
        expected = self._binding(user_id, session_id_hash, sealed_secret)
        return isinstance(bound, str) and secrets.compare_digest(bound.encode(), expected.encode())
