"""Authelia as a peer (issue 27): v4.39.20 built from its Go module, configured as its documentation configures it
for Traefik (its /api/authz/forward-auth endpoint) and nginx (/api/authz/auth-request), with a file user backend
holding one user and in-memory sessions (no Redis).

The binary: $AUTHELIA_BIN, else bench/peers/authelia/bin/authelia (git ignores it), else built there by
`python -m bench peers` when Go is installed: `go get github.com/authelia/authelia/v4@v4.39.20` in a scratch module,
with authelia.com/provider/oauth2 replaced by github.com/authelia/oauth2-provider v0.2.31 (the vanity path does not
resolve through the module proxy): the proxy's copy when it has one, else a checkout named by
$AUTHELIA_OAUTH2_PROVIDER_DIR (`git archive v0.2.31` of github.com/authelia/oauth2-provider).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tempfile
import urllib.request
from pathlib import Path

import bcrypt
import yaml

from bench import ROOT
from bench.client import PASSWORD
from bench.procs import BenchError, HttpServer, free_port, pinned

VERSION = "v4.39.20"
OAUTH2_PROVIDER = "v0.2.31"
PEER_DIR = ROOT / "bench" / "peers" / "authelia"
BINARY = PEER_DIR / "bin" / "authelia"
USER = "benchpeer"
DOMAIN = "example.com"
PORTAL = f"https://auth.{DOMAIN}"


def find_authelia() -> Path | None:
    for candidate in (os.environ.get("AUTHELIA_BIN"), str(BINARY), shutil.which("authelia")):
        if candidate and os.access(candidate, os.X_OK):
            return Path(candidate)
    return None


def build_authelia() -> Path:
    """Build VERSION into BINARY (a few minutes on 2 cores)."""
    go = shutil.which("go")
    if go is None:
        raise BenchError("Go is needed to build the Authelia peer (or set AUTHELIA_BIN)")
    work = Path(tempfile.mkdtemp(prefix="authelia-build-"))
    (work / "go.mod").write_text("module authsvc.bench/authelia-peer\n\ngo 1.26\n")
    env = {**os.environ, "GOFLAGS": "-mod=mod"}

    def go_run(*args: str) -> None:
        done = subprocess.run([go, *args], cwd=work, env=env, capture_output=True, text=True, timeout=1800, check=False)
        if done.returncode != 0:
            raise BenchError(f"go {' '.join(args)} failed:\n{done.stderr[-2000:]}")

    go_run("get", f"github.com/authelia/authelia/v4@{VERSION}")
    checkout = os.environ.get("AUTHELIA_OAUTH2_PROVIDER_DIR")
    provider = checkout or f"github.com/authelia/oauth2-provider@{OAUTH2_PROVIDER}"
    go_run("mod", "edit", "-replace", f"authelia.com/provider/oauth2={provider}")
    BINARY.parent.mkdir(parents=True, exist_ok=True)
    go_run("build", "-o", str(BINARY), "github.com/authelia/authelia/v4/cmd/authelia")
    return BINARY


def authelia_version(binary: Path) -> str:
    done = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30, check=False)
    return done.stdout.strip() or done.stderr.strip()


def _config(directory: Path, port: int) -> Path:
    digest = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=10)).decode()
    users = {"users": {USER: {"displayname": "Bench Peer", "password": digest, "email": f"{USER}@{DOMAIN}"}}}
    (directory / "users.yml").write_text(yaml.safe_dump(users))
    config = {
        "theme": "light",
        "server": {"address": f"tcp://127.0.0.1:{port}/"},
        "log": {"level": "error"},
        "identity_validation": {"reset_password": {"jwt_secret": secrets.token_hex(32)}},
        "authentication_backend": {
            "password_reset": {"disable": True},
            "file": {"path": str(directory / "users.yml")},
        },
        "access_control": {"default_policy": "one_factor"},
        "session": {"secret": secrets.token_hex(32), "cookies": [{"domain": DOMAIN, "authelia_url": PORTAL}]},
        "regulation": {"max_retries": 0},
        "storage": {
            "encryption_key": secrets.token_hex(32),
            "local": {"path": str(directory / "db.sqlite3")},
        },
        "notifier": {"filesystem": {"filename": str(directory / "notifications.txt")}},
        "ntp": {"disable_startup_check": True},
    }
    path = directory / "configuration.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def start_authelia(binary: Path, cpus: str | None) -> HttpServer:
    """Authelia on 127.0.0.1, pinned to cpus, with GOMAXPROCS the number of those CPUs."""
    port = free_port()
    directory = Path(tempfile.mkdtemp(prefix="authelia-peer-"))
    config = _config(directory, port)
    procs = str(len(cpus.split(","))) if cpus else str(os.cpu_count() or 1)
    env = {**os.environ, "GOMAXPROCS": procs, "X_AUTHELIA_CONFIG_FILTERS": ""}
    command = pinned([str(binary), "--config", str(config)], cpus)
    return HttpServer("authelia", command, port, env=env, ready_path="/api/health").start()


def authelia_login(base_url: str) -> str:
    """POST /api/firstfactor as the portal's page does (through a gateway that says https://auth.example.com);
    the Cookie header a browser then sends."""
    body = json.dumps({"username": USER, "password": PASSWORD, "keepMeLoggedIn": False}).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": f"auth.{DOMAIN}",
        "X-Forwarded-For": "203.0.113.7",
    }
    request = urllib.request.Request(base_url + "/api/firstfactor", data=body, headers=headers, method="POST")  # noqa: S310
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (127.0.0.1 only)
        response.read()
        cookies = response.headers.get_all("Set-Cookie") or []
    session = next((c.split(";")[0] for c in cookies if c.startswith("authelia_session=")), None)
    if session is None:
        raise BenchError(f"Authelia's login set no authelia_session cookie: {cookies}")
    return session
