"""docker-compose.yml as written, brought up with podman-compose against local stand-ins of the images it names
(tools/image/standins.sh): two authsvc replicas from `make image`, MongoDB (FerretDB), nginx with the shipped config,
the sample app and the mail catcher. Driven through nginx's published port like a user following README: sign up
with an address, open the mailed verification link on the gateway, verify, log in, reach the app."""

from __future__ import annotations

import http.client
import json
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ROOT, free_port
from tests.image import built_image, podman, readme_commands, report, shell, wait_healthy

pytestmark = pytest.mark.e2e

SECTION = "Running it as a container"
PROJECT = "authsvc"  # docker-compose.yml's `name:`
REPLICAS = ("authsvc_authsvc_1", "authsvc_authsvc_2")
COOKIE = "__Host-sid"
TOKEN = re.compile(r"[?&]token=([A-Za-z0-9_-]+)")


@dataclass
class Compose:
    workdir: Path
    port: int
    mail_port: int

    @property
    def env(self) -> dict[str, str]:
        return {"AUTHSVC_HTTP_PORT": str(self.port), "AUTHSVC_MAIL_PORT": str(self.mail_port)}

    def request(
        self, method: str, path: str, body: object | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        """Through nginx, with the Host a browser on http://localhost:PORT sends."""
        headers = {"Host": f"localhost:{self.port}", **(headers or {})}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        try:
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            return response.status, response.headers, response.read()
        finally:
            connection.close()

    def mail_api(self, path: str) -> Any:
        connection = http.client.HTTPConnection("127.0.0.1", self.mail_port, timeout=5)
        try:
            connection.request("GET", path)
            return json.loads(connection.getresponse().read())
        finally:
            connection.close()


def compose_down(workdir: Path, env: dict[str, str]) -> None:
    shell("docker compose down -v --timeout 10", workdir, timeout=180, env=env)


@pytest.fixture(scope="module")
def compose(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Compose]:
    built_image()
    workdir = tmp_path_factory.mktemp("compose")
    shutil.copy(ROOT / "docker-compose.yml", workdir)
    (workdir / "deploy" / "nginx").mkdir(parents=True)
    shutil.copy(ROOT / "deploy" / "nginx" / "authsvc.conf", workdir / "deploy" / "nginx")
    # README's secrets, made by its own commands.
    run = readme_commands(SECTION)[1]
    make_secrets = [line for line in run.splitlines() if line == "mkdir -p secrets" or "> secrets/" in line]
    assert len(make_secrets) == 4
    setup = Compose(workdir, free_port(), free_port())
    shell("\n".join(make_secrets), workdir, env=setup.env)
    compose_down(workdir, setup.env)  # an earlier run's leftovers
    try:
        started = time.monotonic()
        up = readme_commands(SECTION)[2].splitlines()[0]
        assert up == "docker compose up -d"
        shell(up, workdir, timeout=300, env=setup.env)
        # podman-compose starts every service at once (no health conditions): wait as README says, until both
        # replicas are healthy and every nginx worker has stopped counting them as down (20 answers in a row).
        for replica in REPLICAS:
            wait_healthy(replica)
        deadline = time.monotonic() + 60
        in_a_row = 0
        while in_a_row < 20:
            try:
                in_a_row = in_a_row + 1 if setup.request("GET", "/")[0] == 401 else 0
            except OSError:
                in_a_row = 0
            assert time.monotonic() < deadline, "nginx did not answer / with 401 steadily within 60 s"
            if not in_a_row:
                time.sleep(0.3)
        report(request.config, f"compose: up and healthy in {time.monotonic() - started:.1f} s")
        yield setup
    finally:
        compose_down(workdir, setup.env)
    assert podman("ps", "--all", "--quiet", "--filter", f"label=io.podman.compose.project={PROJECT}").stdout == ""


def wait_for_mail(compose: Compose, to: str, subject: str) -> str:
    """The text of the first mail to this address with this subject in the mail catcher (10 s at most)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for summary in compose.mail_api("/api/v1/messages")["messages"]:
            if summary["Subject"] == subject and to in [address["Address"] for address in summary["To"]]:
                return str(compose.mail_api(f"/api/v1/message/{summary['ID']}")["Text"])
        time.sleep(0.2)
    raise AssertionError(f"no mail {subject!r} to {to}")


def test_signup_verify_and_login_through_nginx(compose: Compose) -> None:
    # README's sign-up, as typed, through the published gateway port.
    signup_command = readme_commands(SECTION)[2].split("\n", 1)[1]
    answer = shell(signup_command.replace("localhost:8000", f"localhost:{compose.port}"), compose.workdir)
    assert answer.stdout.startswith("{"), answer
    signed_up = json.loads(answer.stdout)
    assert signed_up["msg"] == "User successfully registered"
    assert signed_up["userName"] == "bob"

    # The verification mail reaches the catcher, its link points at the gateway (server.public_url), and the page
    # it opens is served there; its button posts the token.
    text = wait_for_mail(compose, "bob@example.com", "Confirm your email address")
    link = next(word for word in text.split() if "/verify-email?token=" in word)
    assert link.startswith(f"http://localhost:{compose.port}/verify-email?token=")
    path = link.removeprefix(f"http://localhost:{compose.port}")
    page = compose.request("GET", path, headers={"Accept": "text/html"})
    assert page[0] == 200
    assert b"<form" in page[2]
    match = TOKEN.search(link)
    assert match is not None
    assert compose.request("POST", "/users/email/verify", {"token": match.group(1)})[0] == 200

    # Log in through nginx; the cookie opens the app, which sees the user nginx asked authsvc about.
    credentials = {"username": "bob", "password": "correct horse battery"}
    assert compose.request("GET", "/")[0] == 401
    status, headers, body = compose.request("POST", "/users/login", credentials)
    assert status == 200, body
    cookie: SimpleCookie = SimpleCookie()
    cookie.load(headers["Set-Cookie"])
    session = {"Cookie": f"{COOKIE}={cookie[COOKIE].coded_value}"}
    status, _, body = compose.request("GET", "/", headers=session)
    assert status == 200
    assert f"X-Auth-User-Id: {signed_up['userId']}" in body.decode()
    assert compose.request("POST", "/users/logout", headers=session)[0] == 200
    # The other replica learns of the logout within mongodb.revocation_lag_ms (1 s; docs/scaling.md).
    deadline = time.monotonic() + 5
    while compose.request("GET", "/", headers=session)[0] != 401:
        assert time.monotonic() < deadline, "the session still opens the app 5 s after logout"
        time.sleep(0.1)


def test_both_replicas_serve_and_the_database_is_shared(compose: Compose) -> None:
    # nginx balances over the two addresses `authsvc` resolves to; each replica answers from the same MongoDB.
    for _ in range(10):
        assert compose.request("GET", "/auth/session")[0] == 401
    for replica in REPLICAS:
        logs = podman("logs", replica).stderr + podman("logs", replica).stdout
        assert "mongodb backend, production" in logs
        assert '"path": "/auth/session"' in logs, f"{replica} served none of the requests"
