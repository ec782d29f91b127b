"""Passkey ceremonies (WebAuthn, py_webauthn): the options a browser gets and the checks of what it sends back.

No HTTP, no storage. Every refusal is one exception whatever the reason, so callers answer alike for all of them;
the reason goes to the audit log only.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import secrets
from dataclasses import dataclass
from typing import Any

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import parse_authentication_credential_json, parse_registration_credential_json
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from authsvc.auth.models import Passkey
from authsvc.config import WebAuthnSettings
from authsvc.users.models import User

audit = logging.getLogger("authsvc.audit")

CHALLENGE_BYTES = 32
REGISTER, SECOND_FACTOR, PASSWORDLESS = "register", "second_factor", "passwordless"


class CeremonyRefused(Exception):
    """The browser's answer does not prove what it must; the reason is for the log, never for the caller."""


@dataclass(frozen=True, slots=True)
class NewCredential:
    credential_id: str
    public_key: bytes
    sign_count: int
    transports: tuple[str, ...]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def challenge_of(credential: dict[str, Any]) -> str | None:
    """The challenge the browser signed, read from clientDataJSON without trusting anything else in it yet."""
    try:
        client_data = json.loads(_unb64url(credential["response"]["clientDataJSON"]))
        challenge = client_data["challenge"]
    except (KeyError, TypeError, ValueError, binascii.Error):
        return None
    return challenge if isinstance(challenge, str) and 0 < len(challenge) <= 128 else None


def credential_id_of(credential: dict[str, Any]) -> str | None:
    value = credential.get("id")
    return value if isinstance(value, str) and 0 < len(value) <= 1400 else None


class Ceremonies:
    def __init__(self, settings: WebAuthnSettings) -> None:
        self._settings = settings
        self._uv = UserVerificationRequirement(settings.user_verification)

    @property
    def lifetime(self) -> int:
        return self._settings.challenge_seconds

    def new_challenge(self) -> bytes:
        return secrets.token_bytes(CHALLENGE_BYTES)

    def registration_options(self, user: User, existing: list[Passkey], challenge: bytes) -> dict[str, Any]:
        """A discoverable credential (usable without a user name), none of the user's existing ones again."""
        options = generate_registration_options(
            rp_id=self._settings.rp_id,
            rp_name=self._settings.rp_name,
            user_id=user.id.encode("utf-8"),
            user_name=user.username,
            challenge=challenge,
            timeout=self.lifetime * 1000,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.REQUIRED, user_verification=self._uv
            ),
            exclude_credentials=[_descriptor(passkey) for passkey in existing],
        )
        return _json(options_to_json(options))

    def authentication_options(self, allowed: list[Passkey], challenge: bytes) -> dict[str, Any]:
        """allowed empty: any discoverable credential of this site (passwordless), which must verify its user."""
        options = generate_authentication_options(
            rp_id=self._settings.rp_id,
            challenge=challenge,
            timeout=self.lifetime * 1000,
            allow_credentials=[_descriptor(passkey) for passkey in allowed],
            user_verification=self._uv if allowed else UserVerificationRequirement.REQUIRED,
        )
        return _json(options_to_json(options))

    def verify_registration(self, credential: dict[str, Any], challenge: str) -> NewCredential:
        try:
            parsed = parse_registration_credential_json(credential)
            verified = verify_registration_response(
                credential=parsed,
                expected_challenge=_unb64url(challenge),
                expected_rp_id=self._settings.rp_id,
                expected_origin=self._settings.origins,
                require_user_verification=self._uv == UserVerificationRequirement.REQUIRED,
            )
        except Exception as exc:  # a crafted answer can fail in any of the parsers: each is a refusal
            raise CeremonyRefused(f"registration refused: {type(exc).__name__}: {exc}") from None
        transports = tuple(t.value for t in parsed.response.transports or () if isinstance(t, AuthenticatorTransport))
        return NewCredential(
            b64url(verified.credential_id), verified.credential_public_key, verified.sign_count, transports
        )

    def verify_assertion(
        self, credential: dict[str, Any], challenge: str, passkey: Passkey, *, passwordless: bool
    ) -> int:
        """The authenticator's new signature counter, once its signature over this challenge checks out.

        A counter that does not increase (when either is non-zero) is refused: a cloned authenticator may be in use.
        """
        try:
            parsed = parse_authentication_credential_json(credential)
            if passwordless and parsed.response.user_handle != passkey.user_id.encode("utf-8"):
                raise CeremonyRefused("the user handle is not the credential's user")
            verified = verify_authentication_response(
                credential=parsed,
                expected_challenge=_unb64url(challenge),
                expected_rp_id=self._settings.rp_id,
                expected_origin=self._settings.origins,
                credential_public_key=passkey.public_key,
                credential_current_sign_count=0,  # compared below, after the signature, to log a clone
                require_user_verification=passwordless or self._uv == UserVerificationRequirement.REQUIRED,
            )
        except CeremonyRefused:
            raise
        except Exception as exc:  # a crafted answer can fail in any of the parsers: each is a refusal
            raise CeremonyRefused(f"assertion refused: {type(exc).__name__}: {exc}") from None
        new, stored = verified.new_sign_count, passkey.sign_count
        if (new > 0 or stored > 0) and new <= stored:
            audit.warning(
                "passkey counter did not increase: a cloned authenticator may be in use",
                extra={"event": "webauthn.counter_regression", "user_id": passkey.user_id},
            )
            raise CeremonyRefused(f"sign counter {new} not above {stored}")
        return new


def _descriptor(passkey: Passkey) -> PublicKeyCredentialDescriptor:
    transports = [AuthenticatorTransport(t) for t in passkey.transports if t in _TRANSPORTS]
    return PublicKeyCredentialDescriptor(id=_unb64url(passkey.credential_id), transports=transports or None)


_TRANSPORTS = {t.value for t in AuthenticatorTransport}


def _json(text: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(text)
    return value
