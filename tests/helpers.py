"""Small test parts: a clock that moves when told, free ports, a real authsvc process."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import yaml
from cryptography.fernet import Fernet

from authsvc.auth.models import SessionRecord
from authsvc.logs import access_log, configure_logging

ROOT = Path(__file__).resolve().parent.parent
TEST_KEY = Fernet.generate_key().decode("ascii")  # made per test run: no key lives in the code


class ManualClock:
    """A clock that only moves when told to."""

    def __init__(self, start: float = 4_000_000_000.0) -> None:  # far ahead: a real TTL monitor never sees it pass
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds


NOW = ManualClock().now()  # where the `clock` fixture starts
HASH = "$bcrypt-sha256$$2b$04$" + "x" * 53  # shaped as a stored password hash, for storage tests that never verify it


def session(id_hash: str, user_id: str = "u1", created_at: float = NOW, idle: float = 1800) -> SessionRecord:
    """A session record as the storage contract stores it: created at NOW, idle for 30 minutes, 12 hours at most."""
    return SessionRecord(
        id_hash=id_hash,
        user_id=user_id,
        created_at=created_at,
        last_seen_at=created_at,
        expires_at=created_at + idle,
        absolute_expires_at=created_at + 43200,
        ip="192.0.2.10",
        user_agent="pytest",
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cookie_value(set_cookie: str, name: str = "sid") -> str:
    """The value a Set-Cookie header gives the named cookie."""
    cookie: SimpleCookie = SimpleCookie()
    cookie.load(set_cookie)
    return cookie[name].value


def wait_for_port(port: int, timeout: float = 15.0, process: subprocess.Popen[Any] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def stop_process(process: subprocess.Popen[Any] | None, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
    """A graceful stop by sig, then SIGKILL if the process hangs; a process already gone is left alone."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class AuthsvcProcess:
    """The real `authsvc serve` process, with a test config file, on a free port."""

    def __init__(self, tmp_path: Path, config: dict[str, Any], env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.config_path = tmp_path / f"authsvc-{self.port}.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.log_path = tmp_path / f"authsvc-{self.port}.log"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AUTHSVC")},
            "AUTHSVC_SESSION_KEY": TEST_KEY,
            "AUTHSVC_CONFIG_DIR": str(ROOT),
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> AuthsvcProcess:
        command = [sys.executable, "-m", "authsvc", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        command += ["--config", str(self.config_path)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        wait_for_port(self.port, process=self.process)
        return self

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def get(self, path: str) -> int:
        try:
            with urllib.request.urlopen(self.url + path, timeout=5) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)


FAST_CONFIG: dict[str, Any] = {
    "passwords": {"bcrypt_cost": 4, "hash_threads": 2},
    "server": {"access_log": True},
}
# The tutorial flow's process: a module's tests sign up dozens of users from 127.0.0.1 (16 at once in the race
# test); the sign-up bucket itself is pinned by tests/unit/test_throttling.py and tests/e2e/test_limits_process.py.
TUTORIAL_FLOW_CONFIG: dict[str, Any] = {**FAST_CONFIG, "throttle": {"signup_burst": 200}}


LOG_NOW = 1_764_640_000.123456  # the `stderr` fixture's time.time(), for both log paths: the stamp is part of the line


class Stream(io.StringIO):
    """What the log handler writes, and what it held at each flush."""

    def __init__(self) -> None:
        super().__init__()
        self.flushed: list[str] = []

    def flush(self) -> None:
        self.flushed.append(self.getvalue())


def configure(level: str, log_format: str, stream: Stream) -> None:
    """configure_logging, its handler then pointed at stream (pytest swaps sys.stderr between a test's phases)."""
    configure_logging(level, log_format)
    [handler] = logging.getLogger().handlers
    assert isinstance(handler, logging.StreamHandler) and handler.stream is sys.stderr
    handler.setStream(stream)


def stdlib_line(stream: Stream, fields: dict[str, Any]) -> str:
    """The access line the stdlib path (a LogRecord through the handler's formatter) writes for fields."""
    start = len(stream.getvalue())
    logging.getLogger("authsvc.access").info("request", extra=fields)
    return stream.getvalue()[start:]


def direct_line(stream: Stream, fields: dict[str, Any]) -> str:
    """The access line AccessLog writes directly for fields."""
    start = len(stream.getvalue())
    access_log.request(**fields)
    return stream.getvalue()[start:]


def cli(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m authsvc ARGS` in the checkout, with no AUTHSVC_* variable but those given."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("AUTHSVC")}
    return subprocess.run(
        [sys.executable, "-m", "authsvc", *args],
        env={**base, **(env or {})},
        cwd=ROOT,
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
        check=False,
    )


def raw_exchange(port: int, request: bytes) -> bytes:
    """Sends request's bytes as they are to 127.0.0.1:port and reads the answer until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


async def sign_in(container: Any, username: str, password: str, client: Any) -> tuple[Any, str]:
    """A password login through the container's login flow, as (user, session id); SecondFactorNeeded fails."""
    from authsvc.login.outcomes import SignedIn
    from authsvc.login.strategies import PasswordProof

    outcome = await container.login_flow().login(PasswordProof(username, password), client)
    assert isinstance(outcome, SignedIn), outcome
    return outcome.user, outcome.session_id


async def exchange(port: int, data: bytes) -> bytes:
    """Send data, read until the server closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 30)
    finally:
        writer.close()
        await writer.wait_closed()
