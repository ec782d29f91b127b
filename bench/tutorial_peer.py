"""Peers measured next to authsvc: the tutorial's own stack (bench/peers/tutorial: express + express-session +
passport-local, the settings of ../shared/seed's tutorial), npm-installed from its lock file when node_modules is
missing, served by node on the servers' core and logged in once.

Authelia and Ory Kratos are not installable here; BENCHMARKS.md keeps the figures issue 17 quotes for them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from email.message import Message
from http.cookies import SimpleCookie

from bench import ROOT
from bench.client import PASSWORD
from bench.procs import BenchError, HttpServer, free_port, pinned

TUTORIAL_DIR = ROOT / "bench" / "peers" / "tutorial"
TUTORIAL_USER = "benchpeer"


def node_version() -> str | None:
    node = shutil.which("node")
    if node is None:
        return None
    return subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout.strip() or None


def ensure_tutorial_installed() -> None:
    """`npm ci` from package-lock.json (exact, hashed versions) unless node_modules is already there."""
    if (TUTORIAL_DIR / "node_modules").is_dir():
        return
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise BenchError("node and npm are needed for the tutorial peer: apt-get install -y nodejs npm")
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
        cwd=TUTORIAL_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"npm ci in {TUTORIAL_DIR} failed: {done.stderr[-1000:]}")


def start_tutorial(cpus: str | None) -> HttpServer:
    ensure_tutorial_installed()
    port = free_port()
    command = pinned(["node", str(TUTORIAL_DIR / "app.js"), str(port)], cpus)
    server = HttpServer("tutorial-peer", command, port, ready_path="/healthz")
    return server.start()


def _post(url: str, body: dict[str, str]) -> tuple[int, Message]:
    request = urllib.request.Request(  # noqa: S310 (127.0.0.1 only)
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        response.read()
        return response.status, response.headers


def tutorial_login(base_url: str) -> str:
    """Sign up and log in as the tutorial's client does (both answer 201); the Cookie header to send."""
    credentials = {"username": TUTORIAL_USER, "password": PASSWORD}
    status, _ = _post(base_url + "/users/signup", credentials)
    if status != 201:
        raise BenchError(f"the tutorial peer's sign-up answered {status}")
    status, headers = _post(base_url + "/users/login", credentials)
    raw = next((value for value in headers.get_all("Set-Cookie") or [] if value.startswith("connect.sid=")), None)
    if status != 201 or raw is None:
        raise BenchError(f"the tutorial peer's login answered {status} without its connect.sid cookie")
    morsel = SimpleCookie(raw)["connect.sid"]
    return f"connect.sid={morsel.coded_value}"
