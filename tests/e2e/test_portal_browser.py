"""The login portal in a real browser: Debian's chromium, driven by selenium through chromium-driver, headless.

Two gateways, each in front of the real `authsvc serve` process and the echo app: Debian's nginx running the
shipped deploy/nginx/authsvc.conf, and a small gateway with Traefik's ForwardAuth semantics calling
/auth/forward-auth. Either way the browser asks for a protected URL, is sent to the portal, signs in, lands back on
that URL with X-Auth-User-Id reaching the app, signs out, and is sent to the portal again. Screenshots of the login
page (desktop and phone width) go to tests/artifacts/ (git-ignored).
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.driver import PASSWORD
from tests.gateway import EchoUpstream, ForwardAuthGateway, NginxProcess, find_nginx
from tests.helpers import FAST_CONFIG, ROOT, AuthsvcProcess

pytestmark = pytest.mark.e2e

ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
MISSING = "chromium and chromium-driver are not installed; `make system-packages` installs them"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require(ok: bool, why: str) -> None:
    if not ok:
        if IN_CI:
            pytest.fail(f"{why}; CI must run this test")
        pytest.skip(why)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    require(os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK), MISSING)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # root in CI containers
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-proxy-server",
        "--no-first-run",
        "--window-size=1280,900",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
    ):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"credentials_enable_service": False})
    # The driver from Debian's package, named: selenium then does not try to download one.
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def fresh(browser: Any) -> Any:
    browser.delete_all_cookies()
    return browser


def start_authsvc(tmp_path: Path, **server: Any) -> AuthsvcProcess:
    config = {
        **FAST_CONFIG,
        "server": {**FAST_CONFIG["server"], "trusted_proxies": ["127.0.0.1/32"], **server},
        "session": {"secure": True, "host_prefix": True},  # the production cookie; loopback is a secure context
    }
    return AuthsvcProcess(tmp_path, config).start()


def make_user(authsvc: AuthsvcProcess) -> tuple[str, str]:
    name = f"br{secrets.token_hex(4)}"
    response = requests.post(f"{authsvc.url}/users/signup", json={"username": name, "password": PASSWORD}, timeout=10)
    assert response.status_code == 201, response.text
    return name, response.json()["userId"]


@pytest.fixture(scope="module")
def upstream() -> Iterator[EchoUpstream]:
    app = EchoUpstream().start()
    yield app
    app.stop()


@pytest.fixture(scope="module")
def nginx_gateway(tmp_path_factory: pytest.TempPathFactory, upstream: EchoUpstream) -> Iterator[tuple[str, Any]]:
    binary = find_nginx()
    require(binary is not None, "nginx is not installed; `make system-packages` installs it")
    assert binary is not None
    authsvc = start_authsvc(Path(tmp_path_factory.mktemp("authsvc")))
    nginx: NginxProcess | None = None
    try:
        nginx = NginxProcess(binary, Path(tmp_path_factory.mktemp("nginx")), authsvc.port, upstream.port).start()
        yield nginx.url, authsvc
    finally:
        if nginx is not None:
            nginx.stop()
        authsvc.stop()


@pytest.fixture(scope="module")
def traefik_gateway(tmp_path_factory: pytest.TempPathFactory, upstream: EchoUpstream) -> Iterator[tuple[str, Any]]:
    authsvc: AuthsvcProcess | None = None
    gateway: ForwardAuthGateway | None = None
    try:
        # The gateway's port is chosen first: authsvc's public_url names it, as a deployment names its host.
        gateway = ForwardAuthGateway(0, upstream.port)
        authsvc = start_authsvc(Path(tmp_path_factory.mktemp("authsvc")), public_url=gateway.url)
        gateway.authsvc_port = authsvc.port
        gateway.start()
        yield gateway.url, authsvc
    finally:
        if gateway is not None:
            gateway.stop()
        if authsvc is not None:
            authsvc.stop()


def wait_for_path(driver: Any, path: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 10).until(lambda d: d.current_url.split("?")[0].endswith(path))


def echoed(driver: Any) -> dict[str, Any]:
    from selenium.webdriver.common.by import By

    return dict(json.loads(driver.find_element(By.TAG_NAME, "body").text))


def screenshots(driver: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"{name}-desktop.png"))
    metrics = {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    try:
        driver.save_screenshot(str(ARTIFACTS / f"{name}-phone.png"))
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def sign_in_round_trip(driver: Any, gateway_url: str, authsvc: AuthsvcProcess, name: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    username, user_id = make_user(authsvc)
    protected = f"{gateway_url}/app/report?page=2&sort=name"

    # No session: the gateway sends the browser to the portal, carrying the URL it asked for.
    driver.get(protected)
    wait_for_path(driver, "/login")
    assert driver.find_element(By.NAME, "rd").get_attribute("value") == protected
    assert driver.find_element(By.CSS_SELECTOR, "label[for=username]").text == "Username"
    assert driver.find_element(By.ID, "password").get_attribute("autocomplete") == "current-password"
    screenshots(driver, name)

    # A wrong password: the form again, one message, no session.
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys("not the password")
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    # The answer's message, not the passkey button's hidden alert of the page still shown while the form posts.
    refused = WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#message[role=alert]"))
    assert refused[0].text == "Invalid username or password."
    assert driver.find_element(By.NAME, "rd").get_attribute("value") == protected
    screenshots(driver, f"{name}-failed")

    # Signed in: back on the original URL, and the app hears who it is from the gateway.
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for_path(driver, "/app/report")
    assert driver.current_url == protected
    seen = echoed(driver)
    assert seen["path"] == "/app/report?page=2&sort=name"
    assert seen["userIds"] == [user_id] and seen["userNames"] == [username]
    session = next(cookie for cookie in driver.get_cookies() if cookie["name"] == "__Host-sid")
    assert session["httpOnly"] and session["secure"] and session["sameSite"] == "Lax"

    # The portal knows who is signed in: the sign-in page, with nowhere to return to, is the account page.
    driver.get(f"{gateway_url}/login")
    wait_for_path(driver, "/account")
    assert driver.find_element(By.ID, "username").text == username

    # Sign out: a confirmation page with a button, then the portal; the protected URL sends the browser there again.
    driver.get(f"{gateway_url}/logout")
    driver.find_element(By.CSS_SELECTOR, "form[action='/logout'] button").click()
    wait_for_path(driver, "/login")
    assert driver.find_element(By.ID, "username").is_displayed()
    driver.get(protected)
    wait_for_path(driver, "/login")
    assert driver.find_element(By.NAME, "rd").get_attribute("value") == protected


def test_browser_signs_in_through_nginx_and_comes_back(fresh: Any, nginx_gateway: tuple[str, Any]) -> None:
    sign_in_round_trip(fresh, *nginx_gateway, name="login-nginx")


def test_browser_signs_in_through_forward_auth_and_comes_back(fresh: Any, traefik_gateway: tuple[str, Any]) -> None:
    sign_in_round_trip(fresh, *traefik_gateway, name="login-forward-auth")


def test_login_page_weight(nginx_gateway: tuple[str, Any]) -> None:
    """Small enough for a slow phone: the HTML, its one stylesheet and the passkey button's one script."""
    url, _ = nginx_gateway
    html = requests.get(f"{url}/login", timeout=10)
    css = requests.get(f"{url}/portal/style.css", timeout=10)
    script = requests.get(f"{url}/portal/static/passkeys.js", timeout=10)
    assert html.status_code == css.status_code == script.status_code == 200
    assert html.text.count("<script") == 1 and '<script src="/portal/static/passkeys.js" defer>' in html.text
    weight = len(html.content) + len(css.content) + len(script.content)
    print(
        f"\nlogin page weight: {len(html.content)} B HTML + {len(css.content)} B CSS + {len(script.content)} B JS"
        f" = {weight} B"
    )
    assert weight < 10240
