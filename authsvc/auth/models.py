"""What the server remembers of a session; the cookie only points at it."""

from __future__ import annotations

from dataclasses import dataclass

# How a session was proven (SessionRecord.factors): two different ones make it two-factor.
PASSWORD, TOTP_CODE, RECOVERY_CODE, PASSKEY = "password", "totp", "recovery_code", "passkey"
USER_VERIFICATION = "user_verification"  # the passkey's PIN or biometric, asked for every passwordless login


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id_hash: str  # sha256 of the session id; the id itself is never stored
    user_id: str
    created_at: float
    last_seen_at: float
    expires_at: float  # min(last_seen_at + idle timeout, created_at + absolute lifetime)
    absolute_expires_at: float
    ip: str | None = None
    user_agent: str | None = None
    factors: tuple[str, ...] = ()  # how it was proven: password, totp, recovery_code, passkey, user_verification
    proven_at: float | None = None  # when the last of them was

    @property
    def two_factors(self) -> bool:
        """Proven with two different factors: what a two_factor access rule asks for."""
        return len(set(self.factors)) >= 2

    @property
    def handle(self) -> str:
        """A public, non-secret name for the session: a prefix of the hash, never the id."""
        return self.id_hash[:16]

    def live(self, now: float) -> bool:
        return now < self.expires_at


@dataclass(frozen=True, slots=True)
class SecondFactors:
    """A user's second factors: a TOTP secret (sealed with the session keys) and the hashes of the recovery codes."""

    user_id: str
    totp_secret: str  # sealed; usable only once confirmed
    totp_confirmed: bool
    last_used_step: int  # the last TOTP time step accepted: a code is never accepted twice
    recovery_code_hashes: tuple[str, ...]
    created_at: float  # when the enrolment began
    confirmed_at: float | None = None  # when it was confirmed; None while pending (and on records older than it)

    @property
    def added_at(self) -> float:
        """When the factor became usable, as far as the record knows."""
        return self.confirmed_at if self.confirmed_at is not None else self.created_at


@dataclass(frozen=True, slots=True)
class Passkey:
    """A WebAuthn credential: its public key and the last signature counter it reported."""

    credential_id: str  # base64url, as the browser names it; also its public id in the API
    user_id: str
    name: str
    public_key: bytes  # COSE_Key
    sign_count: int
    transports: tuple[str, ...]
    created_at: float
    last_used_at: float | None = None


@dataclass(frozen=True, slots=True)
class PasskeyChallenge:
    """A challenge handed out for one ceremony, bound to what it is for: the subject must match when it comes back."""

    challenge: str  # base64url
    purpose: str  # register | second_factor | passwordless
    subject: str  # the user (register), the pending login (second_factor), the browser's challenge cookie
    expires_at: float
