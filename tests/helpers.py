"""Small test parts: a clock that moves when told, free ports, a real authsvc process."""

from __future__ import annotations

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


async def sign_in(container: Any, username: str, password: str, client: Any) -> tuple[Any, str]:
    """A password login through the container's login flow, as (user, session id); SecondFactorNeeded fails."""
    from authsvc.login.outcomes import SignedIn
    from authsvc.login.strategies import PasswordProof

    outcome = await container.login_flow().login(PasswordProof(username, password), client)
    assert isinstance(outcome, SignedIn), outcome
    return outcome.user, outcome.session_id
