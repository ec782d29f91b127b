"""Issue 10, the parts of findings 5 and 8 that only the real `authsvc serve` process shows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import yaml
from cryptography.fernet import Fernet

from tests.helpers import FAST_CONFIG, AuthsvcProcess, cli, free_port, raw_exchange

MARK = "Zq7SecretCookieTail"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthsvcProcess]:
    config = {
        **FAST_CONFIG,
        "server": {
            **FAST_CONFIG["server"],
            "metrics_port": free_port(),
            "gateway_port": free_port(),
            "public_url": "http://127.0.0.1:8080",
        },
    }
    process = AuthsvcProcess(Path(tmp_path_factory.mktemp("findings")), config).start()
    yield process
    process.stop()


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nCookie: sid=" + b"A" * 9000 + MARK.encode() + b"\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
        + b"".join(b"X-H%d: %s\r\n" % (n, MARK.encode()) for n in range(300))
        + b"\r\n",
        b"GET /" + b"p" * 9000 + MARK.encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\x16\x03\x01" + MARK.encode() + b"\r\n\r\n",  # TLS to a plain-HTTP port
    ],
    ids=["long-header", "too-many-headers", "long-request-line", "not-http"],
)
def test_finding8_protocol_errors_are_problem_json_with_security_headers_and_no_echo(
    served: AuthsvcProcess, request_bytes: bytes
) -> None:
    answer = raw_exchange(served.port, request_bytes)
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    assert lines[0].split()[1].startswith("4"), lines[0]
    assert headers["content-type"].startswith("application/problem+json")
    assert headers["x-content-type-options"] == "nosniff" and headers["cache-control"] == "no-store"
    assert "server" not in headers
    problem = json.loads(body)
    assert problem["status"] == int(lines[0].split()[1]) and problem["type"] == "about:blank"
    assert MARK.encode() not in answer and b"AAAA" not in answer
    assert MARK not in served.logs()


async def test_finding8_real_process_sends_no_server_header_and_metrics_apart(served: AuthsvcProcess) -> None:
    port = yaml.safe_load(served.config_path.read_text())["server"]["metrics_port"]
    async with aiohttp.ClientSession() as http:
        async with http.get(served.url + "/healthz") as health:
            assert health.status == 200 and "Server" not in health.headers
        async with http.get(served.url + "/metrics") as public:
            assert public.status == 404
        async with http.get(f"http://127.0.0.1:{port}/metrics") as internal:
            assert internal.status == 200 and "authsvc_http_request_duration_seconds" in await internal.text()


async def test_gateway_port_of_the_real_process_answers_the_checks_and_nothing_else(served: AuthsvcProcess) -> None:
    gateway = f"http://127.0.0.1:{yaml.safe_load(served.config_path.read_text())['server']['gateway_port']}"
    account = {"username": "gatewayuser", "password": "correct horse battery"}
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        assert (await http.post(served.url + "/users/signup", json=account)).status == 201
        login = await http.post(served.url + "/users/login", json=account)
        cookie = {"Cookie": f"sid={login.cookies['sid'].value}"}
        for path in ("/auth/verify", "/auth/verify/some/path", "/auth/forward-auth"):
            async with http.get(gateway + path, headers=cookie) as answer:
                assert answer.status == 200 and answer.headers["X-Auth-User-Name"] == "gatewayuser"
                assert "Server" not in answer.headers and answer.headers["X-Frame-Options"] == "DENY"
        async with http.get(gateway + "/auth/verify") as refused:
            assert refused.status == 401 and refused.content_type == "application/problem+json"
        for path, status in (("/users/protected", 404), ("/metrics", 404), ("/healthz", 200)):
            async with http.get(gateway + path, headers=cookie) as other:
                assert other.status == status
    port = int(gateway.rsplit(":", 1)[1])
    answer = raw_exchange(port, b"GET /auth/verify HTTP/1.1\r\nHost: x\r\nCookie: sid=" + b"A" * 9000 + b"\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split()[1].startswith(b"4") and b"application/problem+json" in head and b"AAAA" not in answer
    assert json.loads(body)["status"] == int(head.split()[1])


def test_finding5_check_config_refuses_weak_production_settings_naming_each() -> None:
    env = {
        "AUTHSVC_SESSION_KEY": Fernet.generate_key().decode(),
        "AUTHSVC_INTROSPECTION_TOKENS": "svc:" + Fernet.generate_key().decode(),
        "AUTHSVC_AUDIT_KEY": "a" * 40,
        "AUTHSVC__SERVER__PUBLIC_URL": "https://auth.example.com",
        "AUTHSVC__SERVER__TRUSTED_PROXIES": '["0.0.0.0/0"]',
        "AUTHSVC__PASSWORDS__BCRYPT_COST": "4",
        "AUTHSVC__PASSWORDS__MIN_LENGTH": "1",
        "AUTHSVC__PASSWORDS__REJECT_COMMON": "false",
        "AUTHSVC__SESSION__IDLE_TIMEOUT": "31536000",
        "AUTHSVC__SESSION__ABSOLUTE_LIFETIME": "31536000",
        "AUTHSVC__CSRF__ALLOWED_ORIGINS": '["null"]',
    }
    result = cli("check-config", "--env", "production", env=env)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    for key in (
        "server.trusted_proxies",
        "passwords.bcrypt_cost",
        "passwords.min_length",
        "passwords.reject_common",
        "session.idle_timeout",
        "session.absolute_lifetime",
        "csrf.allowed_origins",
    ):
        assert key in result.stderr, key
