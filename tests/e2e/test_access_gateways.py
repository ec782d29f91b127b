"""access_control through the real gateways (issue 25): Debian's nginx running deploy/nginx/authsvc.conf and Debian's
caddy running deploy/caddy/Caddyfile, each in front of the real `authsvc serve` and an echo app, with protected
hosts told apart by Host (*.apps.test, all 127.0.0.1): allow, deny, bypass, and a browser's step-up.

Under CI=true a missing nginx, caddy or chromium fails the test instead of skipping it.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import time
from collections.abc import Iterator
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import pyotp
import pytest
import requests

from tests.driver import PASSWORD
from tests.e2e.test_portal_browser import CHROMEDRIVER, CHROMIUM
from tests.gateway import CaddyProcess, EchoUpstream, NginxProcess, find_caddy, find_nginx
from tests.helpers import FAST_CONFIG, AuthsvcProcess

pytestmark = pytest.mark.e2e

RULES = {
    "default_policy": "deny",
    "networks": [],
    "rules": [
        {"domain": "public.apps.test", "policy": "bypass"},
        {"domain": "*.apps.test", "resources": ["^/forbidden"], "policy": "deny"},
        {"domain": "one.apps.test", "policy": "one_factor"},
        {"domain": "two.apps.test", "policy": "two_factor"},
        {"domain": "staff.apps.test", "subject": "group:staff", "policy": "one_factor"},
    ],
}


def require(found: bool, why: str) -> None:
    if not found:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"{why}; CI must run this test")
        pytest.skip(why)


class Scene:
    def __init__(self, name: str, port: int, authsvc: AuthsvcProcess, upstream: EchoUpstream) -> None:
        self.name, self.port, self.authsvc, self.upstream = name, port, authsvc, upstream

    def origin(self, host: str) -> str:
        return f"http://{host}.apps.test:{self.port}"

    def get(self, host: str, path: str, cookie: str | None = None, **headers: str) -> tuple[int, dict[str, str], bytes]:
        sent = {"Host": f"{host}.apps.test:{self.port}", **headers, **({"Cookie": cookie} if cookie else {})}
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request("GET", path, headers=sent)
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()


@pytest.fixture(scope="module")
def upstream() -> Iterator[EchoUpstream]:
    app = EchoUpstream().start()
    yield app
    app.stop()


@pytest.fixture(scope="module")
def authsvc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthsvcProcess]:
    config = {
        **FAST_CONFIG,
        "server": {**FAST_CONFIG["server"], "trusted_proxies": ["127.0.0.1/32"]},
        # One sign-in for every app under apps.test; plain http on a name that is not localhost: no Secure cookie.
        "session": {"secure": False, "host_prefix": False, "cookie_domain": "apps.test"},
        "mfa": {"second_factor_at_login": False},
        "access_control": RULES,
    }
    process = AuthsvcProcess(Path(tmp_path_factory.mktemp("authsvc")), config).start()
    yield process
    process.stop()


@pytest.fixture(scope="module", params=["nginx", "caddy"])
def scene(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    authsvc: AuthsvcProcess,
    upstream: EchoUpstream,
) -> Iterator[Scene]:
    prefix = Path(tmp_path_factory.mktemp(request.param))
    gateway: NginxProcess | CaddyProcess
    if request.param == "nginx":
        binary = find_nginx()
        require(binary is not None, "nginx is not installed; `make system-packages` installs it")
        assert binary is not None
        gateway = NginxProcess(binary, prefix, authsvc.port, upstream.port)
    else:
        binary = find_caddy()
        require(binary is not None, "caddy is not installed; `make system-packages` installs it")
        assert binary is not None
        gateway = CaddyProcess(binary, prefix, authsvc.port, upstream.port)
    gateway.start()
    try:
        yield Scene(request.param, gateway.port, authsvc, upstream)
    finally:
        gateway.stop()


def new_user(authsvc: AuthsvcProcess, *, totp: bool = False) -> tuple[str, str, str | None]:
    """A user signed up and signed in directly at authsvc: name, session cookie, TOTP secret (when enrolled)."""
    name = f"ac{secrets.token_hex(4)}"
    credentials = {"username": name, "password": PASSWORD}
    assert requests.post(f"{authsvc.url}/users/signup", json=credentials, timeout=10).status_code == 201
    login = requests.post(f"{authsvc.url}/users/login", json=credentials, timeout=10)
    assert login.status_code == 200
    cookie: SimpleCookie = SimpleCookie()
    cookie.load(login.headers["Set-Cookie"])  # Domain=apps.test: requests' jar would not send it to 127.0.0.1
    header = {"Cookie": f"sid={cookie['sid'].coded_value}"}
    secret = None
    if totp:
        started = requests.post(
            f"{authsvc.url}/users/me/mfa/totp", json={"password": PASSWORD}, headers=header, timeout=10
        )
        secret = started.json()["secret"]
        body = {"enrolmentToken": started.json()["enrolmentToken"], "code": pyotp.TOTP(secret).now()}
        confirm = f"{authsvc.url}/users/me/mfa/totp/confirm"
        assert requests.post(confirm, json=body, headers=header, timeout=10).status_code == 200
    return name, header["Cookie"], secret


def test_allowed_one_factor_app_gets_the_identity_and_a_forged_one_is_dropped(scene: Scene) -> None:
    name, cookie, _ = new_user(scene.authsvc)
    status, _, body = scene.get(
        "one", "/report?week=1", cookie, **{"X-Auth-User-Name": "admin", "X-Auth-User-Groups": "admins"}
    )
    assert status == 200, body
    seen = json.loads(body)
    assert (seen["host"].split(":")[0], seen["path"], seen["userNames"]) == ("one.apps.test", "/report?week=1", [name])
    assert seen["userGroups"] in ([], [""])  # the client's forged groups never reach the app


def test_a_deny_rule_answers_403_and_the_app_never_sees_it(scene: Scene) -> None:
    _, cookie, _ = new_user(scene.authsvc)
    before = scene.upstream.requests
    assert scene.get("one", "/forbidden/x", cookie)[0] == 403
    assert scene.get("nowhere", "/", cookie)[0] == 403  # default_policy deny
    assert scene.upstream.requests == before


def test_bypass_lets_an_anonymous_request_through_without_identity(scene: Scene) -> None:
    status, _, body = scene.get("public", "/status")
    assert status == 200 and json.loads(body)["userIds"] in ([], [""])
    assert scene.get("one", "/")[0] == 401  # the same gateway, another host: a session is needed


def test_a_two_factor_app_wants_a_second_factor_and_a_subject_rule_the_group(scene: Scene) -> None:
    _, cookie, _ = new_user(scene.authsvc)
    assert scene.get("one", "/", cookie)[0] == 200
    assert scene.get("two", "/", cookie)[0] == 401  # one factor where two are required
    assert scene.get("staff", "/", cookie)[0] == 403  # signed in, not in the group: the rule falls through to deny


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    require(os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK), "chromium is not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-proxy-server",
        "--no-first-run",
        "--host-resolver-rules=MAP *.apps.test 127.0.0.1",  # the protected hosts, all on this machine
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
    ):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"credentials_enable_service": False})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()


def test_a_browser_signs_in_with_a_password_then_steps_up_for_the_two_factor_app(scene: Scene, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    name, _, secret = new_user(scene.authsvc, totp=True)
    assert secret is not None
    browser.delete_all_cookies()
    one, two = scene.origin("one") + "/welcome", scene.origin("two") + "/reports?week=1"

    browser.get(one)  # not signed in: sent to the portal on the same gateway
    WebDriverWait(browser, 10).until(lambda d: "/login" in d.current_url)
    browser.find_element(By.ID, "username").send_keys(name)
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, 10).until(lambda d: d.current_url == one)
    assert json.loads(browser.find_element(By.TAG_NAME, "body").text)["userNames"] == [name]  # no code was asked

    browser.get(two)  # the same session, one factor: asked for the second factor only
    WebDriverWait(browser, 10).until(lambda d: "/login/step-up" in d.current_url)
    assert browser.find_elements(By.ID, "password") == []
    browser.find_element(By.ID, "code").send_keys(pyotp.TOTP(secret).at(time.time() + 30))  # a step not used yet
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, 10).until(lambda d: d.current_url == two)
    seen = json.loads(browser.find_element(By.TAG_NAME, "body").text)
    assert (seen["path"], seen["userNames"]) == ("/reports?week=1", [name])
    browser.get(one)  # the stronger session still opens the one-factor app
    assert json.loads(browser.find_element(By.TAG_NAME, "body").text)["userNames"] == [name]
