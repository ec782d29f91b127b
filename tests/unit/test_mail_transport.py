"""The mail transports and the sender's back-off, without a network: the log transport is development's channel."""

from __future__ import annotations

import logging

import pytest

from authsvc.config import ConfigError, load_settings
from authsvc.mail.models import Letter, address_key, address_problem, mask_address
from authsvc.mail.transport import LogTransport, build_message, make_transport
from tests.conftest import make_settings

LINK = "open https://x/reset?token=T0K"
MAIL = Letter("id1", "alice@example.com", "reset_password", "Reset", LINK, "<p>h</p>", 0)


async def test_log_transport_writes_the_text_with_its_link_and_masks_the_address(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="authsvc.mail")
    await LogTransport().send(MAIL)
    assert "token=T0K" in caplog.text and "alice@example.com" not in caplog.text
    assert caplog.records[0].to == "a***@example.com"  # type: ignore[attr-defined]


def test_log_is_the_development_default_and_smtp_is_chosen_by_setting() -> None:
    smtp_settings = make_settings(mail={"transport": "smtp"}, server={"public_url": "http://127.0.0.1:8080"})
    assert isinstance(make_transport(make_settings().mail), LogTransport)
    assert type(make_transport(smtp_settings.mail)).__name__ == "SmtpTransport"


def test_a_message_has_a_text_and_an_html_part_and_the_from_header() -> None:
    message = build_message(MAIL, "authsvc <no-reply@example.com>")
    assert message["From"] == "authsvc <no-reply@example.com>" and message["To"] == "alice@example.com"
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]


def test_tls_and_starttls_together_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"mail\.smtp\.tls"):
        load_settings(environ={"AUTHSVC__MAIL__SMTP__TLS": "true", "AUTHSVC__MAIL__SMTP__STARTTLS": "true"})


BAD_ADDRESSES = ["a\r\nBcc: x@y.z", "no-at-sign", "a@nodot", "a b@example.com", "x" * 250 + "@a.bc"]


@pytest.mark.parametrize("address", BAD_ADDRESSES)
def test_addresses_that_could_inject_headers_or_bounce_are_refused(address: str) -> None:
    assert address_problem(address) is not None


def test_address_key_lowers_only_the_domain_and_mask_keeps_one_letter() -> None:
    assert address_key("Alice@Example.COM") == "Alice@example.com"
    assert mask_address("alice@example.com") == "a***@example.com"
