"""The command line and the running process: CLI commands, log hygiene over the whole flow, graceful SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import aiohttp
import pytest
import requests
from cryptography.fernet import Fernet

from tests.driver import PASSWORD
from tests.helpers import FAST_CONFIG, AuthsvcProcess, cli


@pytest.mark.parametrize(
    "command",
    [
        "serve",
        "gen-key",
        "check-config",
        "create-user",
        "revoke-sessions",
        "mfa-reset",
        "check-policy",
        "users",
        *(f"users {verb}" for verb in ("list", "show", "set-groups", "disable", "enable", "delete", "invite")),
    ],
)
def test_every_command_has_help(command: str) -> None:
    result = cli(*command.split(), "--help")
    assert result.returncode == 0 and "usage: authsvc" in result.stdout


def test_users_verbs_refuse_the_memory_backend_which_forgets_at_exit() -> None:
    result = cli("users", "list")
    assert result.returncode == 2 and "users list needs a persistent backend" in result.stderr


def test_version_is_the_installed_package_version() -> None:
    result = cli("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"authsvc {version('authsvc')}"


def test_gen_key_prints_a_fernet_key() -> None:
    key = cli("gen-key").stdout.strip()
    Fernet(key)
    assert key != cli("gen-key").stdout.strip()


def test_check_config_refuses_unsafe_production_naming_keys() -> None:
    result = cli("check-config", "--env", "production")
    assert result.returncode == 2
    assert "session.keys" in result.stderr and "introspection.tokens" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_config_accepts_production_with_secrets() -> None:
    env = {
        "AUTHSVC_SESSION_KEY": Fernet.generate_key().decode(),
        "AUTHSVC_INTROSPECTION_TOKENS": "svc:" + Fernet.generate_key().decode(),
        "AUTHSVC_AUDIT_KEY": "a" * 40,
        "AUTHSVC__SERVER__PUBLIC_URL": "https://auth.example.com",
    }
    result = cli("check-config", "--env", "production", env=env)
    assert result.returncode == 0, result.stderr


def test_serve_refuses_to_start_in_production_without_key() -> None:
    result = cli("serve", "--env", "production", "--port", "0")
    assert result.returncode == 2 and "session.keys" in result.stderr


def test_create_user_refuses_memory_backend() -> None:
    result = cli("create-user", "alice", stdin=PASSWORD + "\n")
    assert result.returncode == 2 and "persistent backend" in result.stderr


def test_workers_refuse_memory_backend() -> None:
    result = cli("serve", "--workers", "2", "--port", "0")
    assert result.returncode == 2 and "shared backend" in result.stderr


def log_events(logs: str, log_format: str) -> tuple[set[str], list[str]]:
    """The audit events logged, and the access lines that lack a request id, in either log format."""
    if log_format == "json":
        lines = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
        events = {line["event"] for line in lines if "event" in line}
        return events, [
            json.dumps(line) for line in lines if line["name"] == "authsvc.access" and "request_id" not in line
        ]
    lines = logs.splitlines()
    events = {match for line in lines for match in re.findall(r" event=(\S+)", line)}
    return events, [line for line in lines if " authsvc.access " in line and " request_id=" not in line]


@pytest.mark.parametrize("log_format", ["json", "text"])
async def test_logs_of_whole_flow_hold_no_secret(tmp_path: Path, log_format: str) -> None:
    config = {**FAST_CONFIG, "server": {**FAST_CONFIG["server"], "log_format": log_format}}
    process = AuthsvcProcess(tmp_path, config).start()
    try:
        async with aiohttp.ClientSession(process.url, cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            await http.post("/users/signup", json={"username": "alice", "password": PASSWORD})
            await http.post("/users/login", json={"username": "alice", "password": "wrong password!"})
            login = await http.post("/users/login", json={"username": "alice", "password": PASSWORD})
            cookie = login.cookies["sid"].value
            await http.get("/users/protected")
            await http.get("/auth/verify")
            await http.post("/users/me/password", json={"currentPassword": PASSWORD, "newPassword": "new secret pass"})
            await http.post("/users/logout")
            await http.get("/users/protected", headers={"Cookie": f"sid={cookie}"})
    finally:
        process.stop()
    logs = process.logs()
    events, without_request_id = log_events(logs, log_format)
    assert {"signup", "login.failure", "login.success", "password.change", "logout"} <= events
    assert not without_request_id
    for secret in (PASSWORD, "wrong password!", "new secret pass", cookie, process.env["AUTHSVC_SESSION_KEY"]):
        assert secret not in logs
    assert not re.search(r"\$2[aby]\$|\$bcrypt-sha256\$", logs), "a password hash reached the logs"
    assert "gAAAAA" not in logs, "a Fernet token (cookie value) reached the logs"


STARTED = re.compile(r"authsvc listening on http://127\.0\.0\.1:(\d+) \(memory backend, development\)")


async def test_text_logs_by_default_in_development_one_readable_line_each(tmp_path: Path) -> None:
    process = AuthsvcProcess(tmp_path, FAST_CONFIG).start()  # log_format: auto, env: development
    try:
        async with aiohttp.ClientSession(process.url) as http:
            await http.get("/users/protected", headers={"X-Request-Id": "req-text-1"})
    finally:
        process.stop()
    lines = process.logs().splitlines()
    assert not [line for line in lines if line.startswith("{")], "a JSON line in text mode"
    started = [line for line in lines if STARTED.search(line)]
    assert len(started) == 1 and STARTED.search(started[0])[1] == str(process.port)  # type: ignore[index]
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d INFO +authsvc ", started[0])
    access = [line for line in lines if "request_id=req-text-1" in line]
    assert len(access) == 1
    assert re.search(r" INFO +authsvc\.access request method=GET path=/users/protected status=401 ", access[0])


def test_a_taken_port_is_one_line_naming_it_and_no_traceback(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "authsvc", "serve", "--host", "127.0.0.1", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            env={**os.environ, "AUTHSVC_SESSION_KEY": Fernet.generate_key().decode()},
        )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("authsvc:")]
    assert errors == [
        f"authsvc: cannot listen on 127.0.0.1:{port}: address already in use (pick another: --port, make run PORT=...)"
    ]


def test_the_start_line_names_the_sign_in_page_and_it_answers(tmp_path: Path) -> None:
    process = AuthsvcProcess(tmp_path, FAST_CONFIG).start()
    try:
        line = next(line for line in process.logs().splitlines() if STARTED.search(line))
        sign_in = re.search(r"; sign in at (\S+)$", line)
        assert sign_in and sign_in[1] == f"{process.url}/login"
        page = requests.get(sign_in[1], timeout=10)
        assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    finally:
        process.stop()


async def test_json_logs_outside_development_and_the_start_line_in_them(tmp_path: Path) -> None:
    # log_format: auto resolves to json outside development, where an audit key is required
    env = {
        "AUTHSVC_ENV": "staging",
        "AUTHSVC_AUDIT_KEY": secrets.token_urlsafe(32),
        "AUTHSVC__SERVER__PUBLIC_URL": "https://auth.example.com",
    }
    config = {**FAST_CONFIG, "storage": {"backend": "memory"}}
    process = AuthsvcProcess(tmp_path, config, env=env).start()
    try:
        async with aiohttp.ClientSession(process.url) as http:
            await http.get("/users/protected", headers={"X-Request-Id": "req-json-1"})
    finally:
        process.stop()
    lines = [json.loads(line) for line in process.logs().splitlines()]  # every line is one JSON object
    started = [line for line in lines if line["message"].startswith("authsvc listening on")]
    assert [line["message"] for line in started] == [
        f"authsvc listening on http://127.0.0.1:{process.port} (memory backend, staging);"
        " sign in at https://auth.example.com/login"
    ]
    assert started[0]["level"] == "INFO" and started[0]["name"] == "authsvc"
    access = [line for line in lines if line.get("request_id") == "req-json-1"]
    assert len(access) == 1
    assert {"method": "GET", "path": "/users/protected", "status": 401}.items() <= access[0].items()
    # the line AccessLog writes directly is JsonFormatter's: its keys in its order, its stamp
    keys = ["asctime", "level", "name", "message", "method", "path", "status", "duration_ms", "ip", "request_id"]
    assert list(access[0]) == keys and access[0]["ip"] == "127.0.0.1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}", access[0]["asctime"])
    assert (access[0]["level"], access[0]["name"], access[0]["message"]) == ("INFO", "authsvc.access", "request")


@pytest.mark.parametrize(("level", "access_log"), [("WARNING", True), ("INFO", False)])
async def test_no_access_line_above_info_or_with_access_log_off(tmp_path: Path, level: str, access_log: bool) -> None:
    config = {**FAST_CONFIG, "server": {"access_log": access_log}, "logging": {"level": level}}
    process = AuthsvcProcess(tmp_path, config).start()
    try:
        async with aiohttp.ClientSession(process.url) as http:
            assert (await http.get("/users/protected", headers={"X-Request-Id": "req-quiet-1"})).status == 401
    finally:
        process.stop()
    logs = process.logs()
    assert "req-quiet-1" not in logs and "authsvc.access" not in logs
    assert ("authsvc listening on" in logs) == (level == "INFO")  # the level did apply


async def test_sigterm_lets_in_flight_requests_finish(tmp_path: Path) -> None:
    slow = {**FAST_CONFIG, "passwords": {"bcrypt_cost": 14, "hash_threads": 1}}
    process = AuthsvcProcess(tmp_path, slow).start()
    assert process.process is not None
    async with aiohttp.ClientSession(process.url) as http:
        signup = asyncio.ensure_future(http.post("/users/signup", json={"username": "late", "password": PASSWORD}))
        await asyncio.sleep(0.3)  # the bcrypt hash at cost 14 takes about a second
        process.process.send_signal(signal.SIGTERM)
        response = await signup
        assert response.status == 201
    assert process.process.wait(timeout=20) == 0
