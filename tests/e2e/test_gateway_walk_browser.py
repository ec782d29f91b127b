"""A new user's whole walk in a real browser (Debian's chromium through selenium) through a real gateway, nginx with
the shipped deploy/nginx/authsvc.conf and Caddy with the shipped deploy/caddy/Caddyfile (forward_auth), in front of
the real `authsvc serve` process, the echo app and a real SMTP server (aiosmtpd):

sign up with an address from a protected app URL and land back on it; verify the address from the mailed link; sign
out; forgot password; reset from the mailed link; sign in; add an authenticator app; sign out and in with a code;
add a passkey with Chromium's virtual authenticator and sign in with it alone; account page actions; open a
protected app URL signed out and come back to it after the sign-in.

Through nginx, every page is saved under tests/artifacts/walk/ at desktop and 390x844 phone width, light and dark
(prefers-color-scheme emulated), and the account (with new recovery codes), sign-in and sign-up pages in German too
(Accept-Language).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest

from tests.driver import PASSWORD
from tests.e2e.test_portal_browser import ARTIFACTS, browser, fresh, require, wait_for_path
from tests.e2e.test_security_browser import wait_for
from tests.gateway import CaddyProcess, EchoUpstream, NginxProcess, find_caddy, find_nginx
from tests.helpers import FAST_CONFIG, AuthsvcProcess, free_port
from tests.smtp import SmtpServer, text_of

pytestmark = pytest.mark.e2e
__all__ = ["browser", "fresh"]

NEW_PASSWORD = "a brand new staple"
SHOTS = ARTIFACTS / "walk"


class Walk:
    """The browser on the gateway's origin, the mail the service sent, and the screenshots."""

    def __init__(self, driver: Any, url: str, smtp: SmtpServer, shots: bool) -> None:
        self.driver, self.url, self.smtp, self.shots = driver, url, smtp, shots

    def page(self, name: str) -> None:
        """Screenshots of the page as it is: desktop and phone, light and dark."""
        if not self.shots:
            return
        SHOTS.mkdir(parents=True, exist_ok=True)
        driver = self.driver
        for scheme in ("light", "dark"):
            media = {"media": "screen", "features": [{"name": "prefers-color-scheme", "value": scheme}]}
            driver.execute_cdp_cmd("Emulation.setEmulatedMedia", media)
            driver.save_screenshot(str(SHOTS / f"{name}-desktop-{scheme}.png"))
            phone = {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True}
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", phone)
            try:
                driver.save_screenshot(str(SHOTS / f"{name}-phone-{scheme}.png"))
            finally:
                driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "", "features": []})

    def whole_page(self, name: str, width: int = 640) -> None:
        """The whole page, top to bottom, at one width (the README's picture of the account page comes from here)."""
        if not self.shots:
            return
        height = int(self.driver.execute_script("return document.documentElement.scrollHeight"))
        metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
        try:
            height = int(self.driver.execute_script("return document.documentElement.scrollHeight"))
            metrics["height"] = height
            self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
            self.driver.save_screenshot(str(SHOTS / f"{name}-whole.png"))
        finally:
            self.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

    def mail(self, to: str, subject: str, page: str, count: int = 1) -> str:
        """The link to this page in the count-th mail of this subject (the background sender may take a moment)."""
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            found = [m for m in self.smtp.messages if m["To"] == to and m["Subject"] == subject]
            if len(found) >= count:
                link = re.search(rf"(http://\S+/{re.escape(page)}\?token=[A-Za-z0-9_-]+)", text_of(found[count - 1]))
                assert link, text_of(found[count - 1])
                return link.group(1)
            time.sleep(0.05)  # another thread's socket
        raise AssertionError(f"no mail {subject!r} to {to}")

    def submit(self, form_action: str) -> None:
        self.driver.find_element("css selector", f"form[action='{form_action}'] button[type=submit]").click()

    def message(self, kind: str) -> str:
        return str(wait_for(self.driver, f"#message.{kind}").text)

    def open_details(self, summary: str) -> None:
        wait_for(self.driver, "summary", summary).click()

    def sign_out(self, shot: str = "logout") -> None:
        self.driver.get(f"{self.url}/logout")
        wait_for(self.driver, "form[action='/logout'] button")
        self.page(shot)
        self.submit("/logout")
        wait_for_path(self.driver, "/login")

    def type_in(self, element_id: str, text: str) -> None:
        field = wait_for(self.driver, f"#{element_id}")
        field.clear()
        field.send_keys(text)


def echoed(driver: Any) -> dict[str, Any]:
    return dict(json.loads(driver.find_element("tag name", "body").text))


def start_authsvc(tmp_path: Path, gateway_port: int, smtp: SmtpServer) -> AuthsvcProcess:
    origin = f"http://localhost:{gateway_port}"
    config = {
        **FAST_CONFIG,
        "server": {**FAST_CONFIG["server"], "trusted_proxies": ["127.0.0.1/32"], "public_url": origin},
        "session": {"secure": True, "host_prefix": True},  # the production cookie; localhost is a secure context
        "webauthn": {"origins": [origin]},
        "mail": {
            "transport": "smtp",
            "from": "authsvc <no-reply@example.com>",
            "smtp": {"host": "127.0.0.1", "port": smtp.port, "timeout": 2},
            "retry_initial": 10,
        },
    }
    return AuthsvcProcess(tmp_path, config).start()


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def upstream() -> Iterator[EchoUpstream]:
    app = EchoUpstream().start()
    yield app
    app.stop()


@pytest.fixture(params=["nginx", "caddy"])
def gateway(
    request: pytest.FixtureRequest, tmp_path: Path, smtp: SmtpServer, upstream: EchoUpstream
) -> Iterator[tuple[str, str]]:
    """(the gateway's browser origin, its name), with authsvc behind it."""
    name = request.param
    binary = find_nginx() if name == "nginx" else find_caddy()
    require(binary is not None, f"{name} is not installed; `make system-packages` installs it")
    assert binary is not None
    # The gateway's port is chosen first: authsvc's public_url and passkey origin name it.
    port = free_port()
    (tmp_path / "authsvc").mkdir()
    authsvc = start_authsvc(tmp_path / "authsvc", port, smtp)
    server: NginxProcess | CaddyProcess | None = None
    try:
        (tmp_path / name).mkdir()
        gateway_class = NginxProcess if name == "nginx" else CaddyProcess
        server = gateway_class(binary, tmp_path / name, authsvc.port, upstream.port, port)
        server.start()
        yield f"http://localhost:{port}", name
    finally:
        if server is not None:
            server.stop()
        authsvc.stop()


def test_a_new_users_whole_walk_through_the_gateway(fresh: Any, gateway: tuple[str, str], smtp: SmtpServer) -> None:
    from selenium.webdriver.common.virtual_authenticator import Transport, VirtualAuthenticatorOptions

    url, name = gateway
    driver = fresh
    walk = Walk(driver, url, smtp, shots=name == "nginx")
    username = f"walk{name}{int(time.time()) % 100000}"
    address = f"{username}@example.com"
    protected = f"{url}/app/report?page=2"

    # A protected URL without a session: the portal, which offers sign-up, keeping where to come back to.
    driver.get(protected)
    wait_for_path(driver, "/login")
    walk.page("login")
    wait_for(driver, "a", "Create one").click()
    wait_for_path(driver, "/signup")
    walk.type_in("username", username)
    walk.type_in("email", address)
    walk.type_in("password", PASSWORD)
    walk.page("signup")
    walk.submit("/signup")
    wait_for_path(driver, "/app/report")
    assert driver.current_url == protected and echoed(driver)["userNames"] == [username]

    # The mailed link verifies the address: the link opens a page, its button does the work.
    driver.get(walk.mail(address, "Confirm your email address", "verify-email"))
    walk.page("verify-email")
    walk.submit("/verify-email")
    assert walk.message("success") == "Your email address is verified."
    walk.page("verified")
    walk.sign_out()

    # Forgot password, from the sign-in page; the reset link from the mail.
    wait_for(driver, "a", "Forgot password?").click()
    wait_for_path(driver, "/forgot")
    walk.page("forgot")
    walk.type_in("account", username)
    walk.submit("/forgot")
    assert walk.message("success").startswith("If the account has a verified email address")
    walk.page("forgot-sent")
    driver.get(walk.mail(address, "Reset your password", "reset"))
    walk.type_in("newPassword", NEW_PASSWORD)
    walk.page("reset")
    walk.submit("/reset")
    assert walk.message("success").startswith("Every session has ended.")
    walk.page("reset-done")

    # Signed in without rd: the account page.
    driver.get(f"{url}/login")
    walk.type_in("username", username)
    walk.type_in("password", NEW_PASSWORD)
    walk.submit("/login")
    wait_for_path(driver, "/account")
    assert wait_for(driver, "#username").text == username
    assert wait_for(driver, "#email-state").text == "verified"
    walk.page("account")

    # An authenticator app: the password, the QR code and key, a code from it, the recovery codes.
    walk.open_details("Add an authenticator app")
    walk.type_in("totp-add-password", NEW_PASSWORD)
    walk.submit("/security/totp")
    wait_for(driver, "#qr svg")
    walk.page("totp-enrol")
    secret = driver.find_element("id", "totp-secret").text
    walk.type_in("code", pyotp.TOTP(secret).now())
    walk.submit("/security/totp/confirm")
    assert len(wait_for(driver, "#recovery-codes").find_elements("tag name", "li")) == 10
    walk.page("recovery-codes")
    wait_for(driver, "a.button", "Done").click()
    wait_for_path(driver, "/account")

    # Out, and in again with a code (of the next step: the enrolment used this one).
    walk.sign_out()
    walk.type_in("username", username)
    walk.type_in("password", NEW_PASSWORD)
    walk.submit("/login")
    wait_for(driver, "#code")
    walk.page("login-code")
    walk.type_in("code", pyotp.TOTP(secret).at(time.time() + 30))
    walk.submit("/login/mfa")
    wait_for_path(driver, "/account")

    # A passkey from Chromium's virtual authenticator, then a sign-in with it alone.
    options = VirtualAuthenticatorOptions(
        transport=Transport.INTERNAL, has_resident_key=True, has_user_verification=True, is_user_verified=True
    )
    driver.add_virtual_authenticator(options)
    try:
        walk.open_details("Add a passkey")
        walk.type_in("passkey-password", NEW_PASSWORD)
        wait_for(driver, "button[data-passkey=register]").click()
        wait_for(driver, "#passkeys", "Passkey")
        assert len(driver.get_credentials()) == 1
        walk.page("account-passkey")
        walk.whole_page("account-passkey")
        walk.sign_out()
        wait_for(driver, "button[data-passkey=passwordless]").click()
        wait_for_path(driver, "/account")
    finally:
        driver.remove_virtual_authenticator()

    # Account page actions: new recovery codes (the proof: password; the session is new), a new address.
    walk.open_details("New recovery codes")
    walk.type_in("codes-password", NEW_PASSWORD)
    walk.submit("/account/recovery-codes")
    fresh_codes = [item.text for item in wait_for(driver, "#recovery-codes").find_elements("tag name", "li")]
    assert len(fresh_codes) == 10
    wait_for(driver, "a.button", "Done").click()
    walk.open_details("Change the address")
    walk.type_in("new-email", f"new-{address}")
    walk.type_in("email-password", NEW_PASSWORD)
    walk.submit("/account/email")
    assert walk.message("success").startswith(f"A link to verify new-{address}")
    assert wait_for(driver, "#email-state").text == "not verified yet"
    walk.page("account-done")

    # Signed out, a protected URL goes to the portal and, after the sign-in and a recovery code, comes back.
    walk.sign_out()
    driver.get(protected)
    wait_for_path(driver, "/login")
    walk.type_in("username", username)
    walk.type_in("password", NEW_PASSWORD)
    walk.submit("/login")
    walk.type_in("code", fresh_codes[0])  # a recovery code: one of the new set
    walk.submit("/login/mfa")
    wait_for_path(driver, "/app/report")
    assert driver.current_url == protected and echoed(driver)["userNames"] == [username]

    # In German (Accept-Language), the pages a user sees most.
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Accept-Language": "de-DE,de;q=0.9"}})
    try:
        driver.get(f"{url}/account")
        assert wait_for(driver, "h1").text == "Ihr Konto"
        walk.page("de-account")
        walk.whole_page("de-account-390", width=390)  # German's long words on a phone, top to bottom
        walk.open_details("Neue Wiederherstellungscodes")
        walk.type_in("codes-password", NEW_PASSWORD)
        walk.submit("/account/recovery-codes")
        assert len(wait_for(driver, "#recovery-codes").find_elements("tag name", "li")) == 10
        walk.page("de-recovery-codes")
        wait_for(driver, "a.button", "Fertig").click()
        wait_for_path(driver, "/account")
        walk.sign_out("de-logout")  # the English page's shots stay
        assert wait_for(driver, "a", "Passwort vergessen?")
        walk.page("de-login")
        driver.get(f"{url}/signup")
        walk.page("de-signup")
    finally:
        driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {}})
