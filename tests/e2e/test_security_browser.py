"""The Security page and the second factor in a real browser (Debian's chromium through selenium, headless) against
the real `authsvc serve` process at http://localhost:PORT (localhost: a secure context, and the relying party id).

An authenticator app enrolled through the pages (the password first), a sign-in with password then a code computed
by pyotp from the secret the page showed; then a passkey made by Chromium's virtual authenticator through the page's
button (the portal's one script, the browser's real WebAuthn; refused until the password is typed), used as the
second step and for a passwordless sign-in.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
import requests

from tests.driver import PASSWORD
from tests.e2e.test_portal_browser import browser, fresh, make_user
from tests.helpers import FAST_CONFIG, AuthsvcProcess

pytestmark = pytest.mark.e2e
__all__ = ["browser", "fresh"]  # the module's browser fixtures, shared


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, AuthsvcProcess]]:
    process = AuthsvcProcess(Path(tmp_path_factory.mktemp("authsvc")), FAST_CONFIG)
    url = f"http://localhost:{process.port}"
    process.env["AUTHSVC__WEBAUTHN__ORIGINS"] = f'["{url}"]'
    process.start()
    try:
        yield url, process
    finally:
        process.stop()


def wait_for(driver: Any, css: str, text: str | None = None) -> Any:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def found(d: Any) -> Any:
        try:
            for element in d.find_elements(By.CSS_SELECTOR, css):
                if element.is_displayed() and (text is None or text in element.text):
                    return element
        except StaleElementReferenceException:  # the page was replaced while we looked: look again
            pass
        return False

    return WebDriverWait(driver, 10).until(found)


def sign_in_with_password(driver: Any, url: str, username: str) -> None:
    driver.get(f"{url}/login")
    wait_for(driver, "#username").send_keys(username)
    driver.find_element("id", "password").send_keys(PASSWORD)
    driver.find_element("css selector", "form[action='/login'] button[type=submit]").click()


def sign_out(driver: Any, url: str) -> None:
    driver.get(f"{url}/logout")
    wait_for(driver, "form[action='/logout'] button").click()
    wait_for(driver, "#username")


def test_totp_then_passkeys_through_the_pages(fresh: Any, portal: tuple[str, AuthsvcProcess]) -> None:
    from selenium.webdriver.common.virtual_authenticator import Transport, VirtualAuthenticatorOptions

    driver, (url, process) = fresh, portal
    username, _ = make_user(process)
    sign_in_with_password(driver, url, username)
    wait_for(driver, "#username", username)

    # An authenticator app through the pages: the password, the QR code, the key, a code computed from it, the
    # recovery codes.
    driver.get(f"{url}/security")  # now the account page
    wait_for(driver, "summary", "Add an authenticator app").click()
    wait_for(driver, "#totp-add-password").send_keys(PASSWORD)
    driver.find_element("css selector", "form[action='/security/totp'] button").click()
    assert wait_for(driver, "#qr svg")
    secret = driver.find_element("id", "totp-secret").text
    wait_for(driver, "#code").send_keys(pyotp.TOTP(secret).now())
    driver.find_element("css selector", "form[action='/security/totp/confirm'] button").click()
    codes = wait_for(driver, "#recovery-codes").find_elements("tag name", "li")
    assert len(codes) == 10

    # Signed out, then in: the password, then a code of the next step (the enrolment used this one).
    sign_out(driver, url)
    sign_in_with_password(driver, url, username)
    wait_for(driver, "#code").send_keys(pyotp.TOTP(secret).at(time.time() + 30))
    driver.find_element("css selector", "form[action='/login/mfa'] button").click()
    wait_for(driver, "#username", username)

    # A passkey, made by the browser's virtual authenticator through the page's button.
    options = VirtualAuthenticatorOptions(
        transport=Transport.INTERNAL, has_resident_key=True, has_user_verification=True, is_user_verified=True
    )
    driver.add_virtual_authenticator(options)
    try:
        driver.get(f"{url}/account")
        wait_for(driver, "summary", "Add a passkey").click()
        wait_for(driver, "button[data-passkey=register]").click()  # no password typed: refused before the ceremony
        wait_for(driver, "#passkey-message", "The password is wrong.")
        assert driver.get_credentials() == []
        driver.find_element("id", "passkey-password").send_keys(PASSWORD)
        wait_for(driver, "button[data-passkey=register]").click()
        wait_for(driver, "#passkeys", "Passkey")
        assert len(driver.get_credentials()) == 1
        listed = requests.get(f"{url}/users/me/webauthn", cookies=_session(driver), timeout=10).json()["passkeys"]
        assert [p["name"] for p in listed] == ["Passkey"]

        # As the second step: the password, then the passkey button of the second-factor page.
        sign_out(driver, url)
        sign_in_with_password(driver, url, username)
        wait_for(driver, "button[data-passkey=second-factor]").click()
        wait_for(driver, "#username", username)

        # Passwordless: no name, no password, the discoverable passkey alone.
        sign_out(driver, url)
        wait_for(driver, "button[data-passkey=passwordless]").click()
        wait_for(driver, "#username", username)
        assert driver.get_credentials()[0].sign_count >= 2
    finally:
        driver.remove_virtual_authenticator()
    logs = process.logs()
    assert "webauthn.register" in logs and secret not in logs


def _session(driver: Any) -> dict[str, str]:
    return {c["name"]: c["value"] for c in driver.get_cookies() if c["name"] == "sid"}
