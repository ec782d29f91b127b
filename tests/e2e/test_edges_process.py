"""Issue 30, items 5 and 6, through the real `authsvc` command: check-config's production guards, forward-auth on the
gateway port, two Cookie header lines on the wire, and a path of terminal escapes in the text log on stderr."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import yaml
from cryptography.fernet import Fernet

from tests.driver import PASSWORD
from tests.helpers import FAST_CONFIG, AuthsvcProcess, cli, cookie_value, free_port, raw_exchange

PUBLIC_URL = "https://auth.example.com"


def production_env(**extra: str) -> dict[str, str]:
    return {
        "AUTHSVC_SESSION_KEY": Fernet.generate_key().decode(),
        "AUTHSVC_INTROSPECTION_TOKENS": "svc:" + Fernet.generate_key().decode(),
        "AUTHSVC_AUDIT_KEY": Fernet.generate_key().decode(),
        "AUTHSVC__SERVER__PUBLIC_URL": PUBLIC_URL,
        **extra,
    }


def test_check_config_refuses_each_weak_production_setting_naming_key_and_limit() -> None:
    result = cli(
        "check-config",
        "--env",
        "production",
        env=production_env(
            AUTHSVC__SERVER__PUBLIC_URL="http://auth.example.com",
            AUTHSVC__SESSION__REMEMBER_ME_LIFETIME="315360000",
            AUTHSVC__PORTAL__ALLOWED_REDIRECT_DOMAINS="[com]",
            AUTHSVC__MAIL__SMTP__STARTTLS="false",
            AUTHSVC_SMTP_USERNAME="mailer",
            AUTHSVC_SMTP_PASSWORD="smtp-secret",
            AUTHSVC__MFA__RECENT_AUTH_SECONDS="315360000",
            AUTHSVC_INTROSPECTION_TOKENS="svc:" + "s" * 32,
        ),
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    for named in (
        "server.public_url: production needs an https URL",
        "session.remember_me_lifetime: production allows at most 2592000",
        "portal.allowed_redirect_domains: com",
        "mail.smtp.username: production sends SMTP credentials only over TLS",
        "mfa.recent_auth_seconds: production allows at most 86400",
        "introspection.tokens: the token of svc has too little variety",
    ):
        assert named in result.stderr, named
    assert "smtp-secret" not in result.stderr and "s" * 32 not in result.stderr


def test_check_config_accepts_production_at_the_limits() -> None:
    result = cli(
        "check-config",
        "--env",
        "production",
        env=production_env(
            AUTHSVC__SESSION__REMEMBER_ME_LIFETIME="2592000",
            AUTHSVC__SESSION__ABSOLUTE_LIFETIME="2592000",
            AUTHSVC__PORTAL__ALLOWED_REDIRECT_DOMAINS="[example.co.uk]",
            AUTHSVC_SMTP_USERNAME="mailer",
            AUTHSVC__MFA__RECENT_AUTH_SECONDS="86400",
        ),
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("env", ["development", "production"])
def test_check_config_refuses_a_session_key_that_serve_would_refuse(env: str) -> None:
    result = cli("check-config", "--env", env, env=production_env(AUTHSVC_SESSION_KEY="not-a-fernet-key"))
    assert result.returncode == 2
    assert "session.keys: key 1 is not a Fernet key" in result.stderr and "not-a-fernet-key" not in result.stderr


def test_check_config_refuses_a_gateway_port_without_public_url() -> None:
    result = cli("check-config", env={"AUTHSVC__SERVER__GATEWAY_PORT": "9091"})
    assert result.returncode == 2 and "server.public_url: required with server.gateway_port" in result.stderr


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthsvcProcess]:
    config = {**FAST_CONFIG, "server": {**FAST_CONFIG["server"], "gateway_port": free_port(), "public_url": PUBLIC_URL}}
    process = AuthsvcProcess(Path(tmp_path_factory.mktemp("edges")), config).start()  # development: text logs
    yield process
    process.stop()


def gateway_port(process: AuthsvcProcess) -> int:
    return int(yaml.safe_load(process.config_path.read_text())["server"]["gateway_port"])


async def test_forward_auth_on_the_gateway_port_sends_browsers_to_public_url(served: AuthsvcProcess) -> None:
    async with aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{gateway_port(served)}/auth/forward-auth"
        async with http.get(url, headers={"Accept": "text/html"}, allow_redirects=False) as answer:
            assert answer.status == 302 and answer.headers["Location"].startswith(f"{PUBLIC_URL}/login")


async def login(process: AuthsvcProcess, name: str) -> str:
    """A new session of `name` (signed up on first use): its cookie value."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        body = {"username": name, "password": PASSWORD}
        assert (await http.post(process.url + "/users/signup", json=body)).status in (201, 409)
        async with http.post(process.url + "/users/login", json=body) as answer:
            assert answer.status == 200
            return cookie_value(answer.headers["Set-Cookie"])


def status_with_lines(port: int, method: str, path: str, *cookie_lines: str) -> int:
    lines = "".join(f"Cookie: {line}\r\n" for line in cookie_lines)
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n{lines}\r\n"
    answer = raw_exchange(port, head.encode("ascii"))
    return int(answer.split(b" ", 2)[1])


@pytest.mark.parametrize("port_of", ["main", "gateway"])
async def test_two_cookie_lines_on_the_wire_authenticate_as_neither(served: AuthsvcProcess, port_of: str) -> None:
    first, second = await login(served, "alice"), await login(served, "alice")
    port = served.port if port_of == "main" else gateway_port(served)
    assert status_with_lines(port, "GET", "/auth/verify", f"sid={first}") == 200
    assert status_with_lines(port, "GET", "/auth/verify", f"sid={first}", f"sid={second}") == 401
    assert status_with_lines(port, "GET", "/auth/verify", "theme=dark", f"sid={second}") == 200


async def test_logout_with_two_cookie_lines_on_the_wire_ends_both(served: AuthsvcProcess) -> None:
    first, second = await login(served, "bob"), await login(served, "bob")
    assert status_with_lines(served.port, "POST", "/users/logout", f"sid={first}", f"sid={second}") == 200
    assert status_with_lines(served.port, "GET", "/users/protected", f"sid={first}") == 401
    assert status_with_lines(served.port, "GET", "/users/protected", f"sid={second}") == 401


def test_terminal_escapes_in_a_path_reach_stderr_escaped(served: AuthsvcProcess) -> None:
    answer = raw_exchange(
        served.port, b"GET /x%1b]0;title%07%7f%c2%9b HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    assert answer.startswith(b"HTTP/1.1 404")
    lines = [line for line in served.logs().splitlines() if "authsvc.access" in line and "/x" in line]
    assert len(lines) == 1, served.logs()
    line = lines[0]
    assert line.isprintable(), repr(line)  # no ESC, BEL, DEL or C1 reached the terminal
    assert 'path="/x\\u001b]0;title\\u0007\\u007f\\u009b"' in line
    assert json.loads(line.split("path=", 1)[1].split(" status=", 1)[0]).startswith("/x\x1b]0;title\x07")
