"""A software passkey authenticator for the tests: EC P-256 keys made here, real ES256 signatures over real
authenticator data, "none" or "packed" (self) attestation in CBOR. It answers options as a browser's
navigator.credentials.create/get would, in the JSON shape browsers send (base64url fields).

Knobs let a test play an attacker: another origin or rp id, a counter that goes back, no user verification.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import encode_cbor

UP, UV, AT = 0x01, 0x04, 0x40
AAGUID = bytes(16)
ES256 = -7


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class StoredCredential:
    credential_id: bytes
    key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    sign_count: int = 0


@dataclass
class SoftAuthenticator:
    origin: str = "http://localhost:8080"
    user_verified: bool = True
    attestation: str = "none"  # or "packed"
    counts: bool = True  # False: an authenticator that reports 0 every time (many synced passkeys do)
    credentials: list[StoredCredential] = field(default_factory=list)

    def create(self, options: dict[str, Any], *, origin: str | None = None, rp_id: str | None = None) -> dict[str, Any]:
        """navigator.credentials.create({publicKey: options}) answered."""
        rp = rp_id or options["rp"]["id"]
        excluded = {unb64url(c["id"]) for c in options.get("excludeCredentials", [])}
        assert not excluded & {c.credential_id for c in self.credentials if c.rp_id == rp}, "already registered"
        assert any(p["alg"] == ES256 for p in options["pubKeyCredParams"])
        stored = StoredCredential(
            secrets.token_bytes(32), ec.generate_private_key(ec.SECP256R1()), rp, unb64url(options["user"]["id"])
        )
        self.credentials.append(stored)
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        numbers = stored.key.public_key().public_numbers()
        cose_key = {1: 2, 3: ES256, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")}
        attested = AAGUID + struct.pack(">H", len(stored.credential_id)) + stored.credential_id + encode_cbor(cose_key)
        auth_data = self._auth_data(rp, AT, stored.sign_count) + attested
        statement: dict[str, Any] = {}
        if self.attestation == "packed":
            statement = {"alg": ES256, "sig": self._sign(stored, auth_data, client_data)}
        attestation_object = encode_cbor({"fmt": self.attestation, "attStmt": statement, "authData": auth_data})
        return {
            "id": b64url(stored.credential_id),
            "rawId": b64url(stored.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation_object),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    def get(
        self,
        options: dict[str, Any],
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        sign_count: int | None = None,
        credential: StoredCredential | None = None,
    ) -> dict[str, Any]:
        """navigator.credentials.get({publicKey: options}) answered with a credential it holds for the rp id
        (one of allowCredentials when the options name some)."""
        rp = rp_id or options["rpId"]
        allowed = {unb64url(c["id"]) for c in options.get("allowCredentials", [])}
        if credential is None:
            candidates = [c for c in self.credentials if c.rp_id == rp and (not allowed or c.credential_id in allowed)]
            assert candidates, "no credential for this relying party"
            credential = candidates[-1]
        if sign_count is not None:
            credential.sign_count = sign_count
        elif self.counts:
            credential.sign_count += 1
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        auth_data = self._auth_data(rp, 0, credential.sign_count)
        return {
            "id": b64url(credential.credential_id),
            "rawId": b64url(credential.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(self._sign(credential, auth_data, client_data)),
                "userHandle": b64url(credential.user_handle),
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        data = {"type": kind, "challenge": challenge, "origin": origin or self.origin, "crossOrigin": False}
        return json.dumps(data, separators=(",", ":")).encode("utf-8")

    def _auth_data(self, rp_id: str, extra_flags: int, sign_count: int) -> bytes:
        flags = UP | (UV if self.user_verified else 0) | extra_flags
        return hashlib.sha256(rp_id.encode("utf-8")).digest() + bytes([flags]) + struct.pack(">I", sign_count)

    @staticmethod
    def _sign(credential: StoredCredential, auth_data: bytes, client_data: bytes) -> bytes:
        return credential.key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
