"""Enrolling TOTP: the QR code the user scans, and the token that ties the confirmation to the enrolment."""

from __future__ import annotations

import re

import segno
from cryptography.fernet import Fernet

from authsvc.auth.factors import EnrolmentTokens, qr_svg, totp_uri
from tests.helpers import ManualClock

URI = totp_uri("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "alice", "authsvc")


def test_the_qr_code_is_drawn_four_pixels_a_module_quiet_zone_included() -> None:
    svg = qr_svg(URI)

    size = re.match(r'<svg width="(\d+)" height="(\d+)"', svg)

    assert size is not None
    modules = segno.make(URI, error="m").symbol_size(scale=1)
    assert (int(size[1]), int(size[2])) == (modules[0] * 4, modules[1] * 4)
    assert not svg.startswith("<?xml")


def test_an_enrolment_token_lasts_ten_minutes_for_its_user_session_and_secret_only() -> None:
    clock = ManualClock(4_000_000_000.0)
    tokens = EnrolmentTokens([Fernet.generate_key()], clock)
    token = tokens.issue("u1", "session-hash", "sealed-secret")

    clock.advance(600)

    assert tokens.valid(token, "u1", "session-hash", "sealed-secret")
    assert not tokens.valid(token, "u2", "session-hash", "sealed-secret")
    assert not tokens.valid(token, "u1", "another-session", "sealed-secret")
    assert not tokens.valid(token, "u1", "session-hash", "another-secret")
    clock.advance(1)
    assert not tokens.valid(token, "u1", "session-hash", "sealed-secret")
