"""The audit trail of second factors over HTTP: an enrolment and a refused passkey each leave their event, and the
refusal's reason is there for whoever turns on debug logging."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.driver import enrol, enrolled, second_step
from tests.helpers import ManualClock
from tests.webauthn_authenticator import SoftAuthenticator

Client = TestClient[Any, Any]


def events(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [getattr(record, "event", "") for record in caplog.records if record.name == "authsvc.audit"]


async def test_a_totp_enrolment_is_audited_when_it_is_confirmed(
    client: Client, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="authsvc.audit"):
        await enrol(client, clock)

    assert events(caplog).count("mfa.totp.begin") == 1
    assert events(caplog).count("mfa.totp.enrol") == 1


async def test_a_refused_passkey_assertion_is_audited_with_its_reason_at_debug_level(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    authenticator = SoftAuthenticator()
    await enrolled(client, authenticator)

    with caplog.at_level(logging.DEBUG, logger="authsvc.audit"):
        refused = await second_step(client, authenticator, origin="https://evil.example")

    assert refused.status == 401
    assert "webauthn.assertion_refused" in events(caplog)
    assert any(record.getMessage().startswith("passkey assertion refused: ") for record in caplog.records)
