"""The image as an operator runs it: built from the Dockerfile (`make image`), started with README's "Running it as a
container" commands verbatim (podman for docker, a free port for 8080, the mongo:7 stand-in: FerretDB), then
README's curl walk-through through the published port, the gateway (the shipped nginx config on the host) in front of
it, its hardening, /readyz across a database outage and a SIGTERM that drains in-flight requests."""

from __future__ import annotations

import http.client
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path

import pytest

from tests.driver import PASSWORD
from tests.gateway import EchoUpstream, NginxProcess, find_nginx
from tests.helpers import free_port
from tests.image import IMAGE, built_image, podman, readme_commands, remove_containers, report, shell, wait_healthy

pytestmark = pytest.mark.e2e

SECTION = "Running it as a container"
CONTAINERS = ("authsvc", "mongo")  # the names README's commands give them
COOKIE = "__Host-sid"


@dataclass
class Deployment:
    port: int
    workdir: Path

    def request(
        self, method: str, path: str, body: object | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        return request(self.port, method, path, body, headers)


def request(
    port: int, method: str, path: str, body: object | None = None, headers: dict[str, str] | None = None
) -> tuple[int, http.client.HTTPMessage, bytes]:
    headers = dict(headers or {})
    payload = None
    if body is not None:
        payload = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def session_cookie(headers: http.client.HTTPMessage) -> str:
    cookie: SimpleCookie = SimpleCookie()
    cookie.load(headers["Set-Cookie"])
    return f"{COOKIE}={cookie[COOKIE].coded_value}"


def remove_network() -> None:
    podman("network", "rm", "--force", "authsvc", check=False)


@pytest.fixture(scope="module")
def deployment(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    built = built_image()
    report(request.config, f"image: authsvc:local is {built.size_mb:.0f} MB, `make image` took {built.seconds:.1f} s")
    build, run = readme_commands(SECTION)[:2]
    assert build.strip() == "docker build -t authsvc:local .", "make image builds what README's build command does"
    published = "-p 127.0.0.1:8080:8080"
    assert published in run
    port = free_port()
    workdir = tmp_path_factory.mktemp("image")
    remove_containers(*CONTAINERS)
    remove_network()
    try:
        started = time.monotonic()
        shell(run.replace(published, f"-p 127.0.0.1:{port}:8080"), workdir)
        healthy = wait_healthy("authsvc")
        took = time.monotonic() - started
        report(request.config, f"image: healthy {healthy:.1f} s after `docker run` (README's commands: {took:.1f} s)")
        yield Deployment(port, workdir)
    finally:
        remove_containers(*CONTAINERS)
        remove_network()


def walk_through(text: str) -> list[tuple[str, str | None]]:
    """README's curl block as (command, the answer its comment shows, if any)."""
    steps: list[tuple[str, str | None]] = []
    pending = ""
    for line in text.splitlines():
        if line.startswith("# {") and steps:
            steps[-1] = (steps[-1][0], line[2:])
        elif line and not line.startswith("#"):
            pending += line.removesuffix("\\") + (" " if line.endswith("\\") else "")
            if not line.endswith("\\"):
                steps.append((pending, None))
                pending = ""
    return steps


def test_readme_curl_walk_through_through_the_published_port(deployment: Deployment) -> None:
    (curl_block,) = readme_commands("The tutorial's flow with curl")
    steps = walk_through(curl_block.replace("localhost:8080", f"localhost:{deployment.port}"))
    assert len(steps) == 5
    for command, shown in steps:
        answer = shell(command, deployment.workdir).stdout.strip()
        assert shown is not None
        pattern = re.escape(shown).replace(re.escape("..."), ".*?")
        assert re.fullmatch(pattern, answer), f"{command}\n  README shows: {shown}\n  the image answered: {answer}"


def test_runs_as_non_root_on_a_read_only_root(deployment: Deployment) -> None:
    assert podman("exec", "authsvc", "id", "-u").stdout.strip() == "10001"
    # The entrypoint exec'd: authsvc itself is PID 1 and gets SIGTERM.
    assert "authsvc\0serve" in podman("exec", "authsvc", "cat", "/proc/1/cmdline").stdout
    assert podman("inspect", "--format", "{{.HostConfig.ReadonlyRootfs}}", "authsvc").stdout.strip() == "true"
    for path in ("/app/config.yaml", "/opt/venv/written", "/written"):
        # The service's user may not write there, and neither may root: the filesystem itself is read-only.
        assert podman("exec", "authsvc", "sh", "-c", f"echo x >> {path}", check=False).returncode != 0
        as_root = podman("exec", "--user", "0", "authsvc", "sh", "-c", f"echo x >> {path}", check=False)
        assert as_root.returncode != 0
        assert "Read-only file system" in as_root.stderr
    assert podman("exec", "authsvc", "sh", "-c", "echo x > /tmp/written").returncode == 0


def test_secrets_from_files_reach_the_service(deployment: Deployment) -> None:
    # The service token authsvc reads from AUTHSVC_INTROSPECTION_TOKENS_FILE opens introspection; another does not.
    name, token = (deployment.workdir / "secrets" / "introspection_tokens").read_text().strip().split(":", 1)
    assert name == "billing"
    body = {"session": "not-a-cookie"}
    introspect = "/internal/sessions/introspect"
    status, _, answer = deployment.request("POST", introspect, body, {"Authorization": f"Bearer {token}"})
    assert (status, json.loads(answer)) == (200, {"active": False})
    status, _, _ = deployment.request("POST", introspect, body, {"Authorization": f"Bearer {'x' * 43}"})
    assert status == 401


def test_production_names_a_missing_secret_and_refuses_two_sources_of_one() -> None:
    built_image()
    bare = podman("run", "--rm", IMAGE, "authsvc", "check-config", check=False)
    assert bare.returncode != 0
    assert "session.keys: production needs a session key" in bare.stdout + bare.stderr
    both = ("-e", "AUTHSVC_AUDIT_KEY=one", "-e", "AUTHSVC_AUDIT_KEY_FILE=/etc/hostname")
    refused = podman("run", "--rm", *both, IMAGE, "true", check=False)
    assert refused.returncode == 64
    assert "set AUTHSVC_AUDIT_KEY or AUTHSVC_AUDIT_KEY_FILE, not both" in refused.stderr


def test_shipped_nginx_config_in_front_of_the_container(
    deployment: Deployment, tmp_path_factory: pytest.TempPathFactory
) -> None:
    binary = find_nginx()
    if binary is None:
        pytest.fail("nginx is not installed (/usr/sbin/nginx); `make system-packages` installs it")
    app = EchoUpstream().start()
    nginx = NginxProcess(binary, tmp_path_factory.mktemp("nginx"), deployment.port, app.port)
    try:
        nginx.start()
        refused = request(nginx.port, "GET", "/app/report", headers={"X-Auth-User-Id": "0" * 24})
        assert refused[0] == 401
        assert app.requests == 0
        name = f"gw{secrets.token_hex(4)}"
        status, _, body = request(nginx.port, "POST", "/users/signup", {"username": name, "password": PASSWORD})
        assert status == 201, body
        user_id = json.loads(body)["userId"]
        status, headers, body = request(nginx.port, "POST", "/users/login", {"username": name, "password": PASSWORD})
        assert status == 200, body
        cookie = session_cookie(headers)
        status, _, body = request(nginx.port, "GET", "/app/report", headers={"Cookie": cookie, "X-Auth-User-Id": "0"})
        assert status == 200, body
        assert json.loads(body)["userIds"] == [user_id]
        assert request(nginx.port, "POST", "/users/logout", headers={"Cookie": cookie})[0] == 200
        assert request(nginx.port, "GET", "/app/report", headers={"Cookie": cookie})[0] == 401
    finally:
        nginx.stop()
        app.stop()


def wait_for_status(deployment: Deployment, path: str, wanted: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        try:
            status = deployment.request("GET", path)[0]
        except OSError:
            status = None
        if status == wanted:
            return
        time.sleep(0.2)
    raise AssertionError(f"{path} answered {status}, not {wanted}, for {timeout} s")


def test_readyz_answers_503_while_the_database_is_stopped(deployment: Deployment) -> None:
    assert deployment.request("GET", "/readyz")[0] == 200
    podman("stop", "mongo")
    try:
        wait_for_status(deployment, "/readyz", 503, timeout=20)
        assert deployment.request("GET", "/healthz")[0] == 200  # alive, only not ready
    finally:
        podman("start", "mongo")
    wait_for_status(deployment, "/readyz", 200, timeout=30)


def test_sigterm_drains_in_flight_requests_and_stops_within_10s(
    deployment: Deployment, request: pytest.FixtureRequest
) -> None:
    name = f"drain{secrets.token_hex(4)}"
    assert deployment.request("POST", "/users/signup", {"username": name, "password": PASSWORD})[0] == 201
    finished: list[tuple[int | str, float]] = []

    def login() -> None:
        try:
            status: int | str = deployment.request("POST", "/users/login", {"username": name, "password": PASSWORD})[0]
        except OSError as exc:
            status = repr(exc)
        finished.append((status, time.monotonic()))

    # bcrypt at the production cost on two hash threads: the last of these logins ends a second or more later.
    logins = [threading.Thread(target=login) for _ in range(6)]
    for thread in logins:
        thread.start()
    time.sleep(0.3)
    stopping = time.monotonic()
    podman("stop", "--time", "10", "authsvc", timeout=30)
    stopped = time.monotonic() - stopping
    for thread in logins:
        thread.join(timeout=15)
    in_flight = sum(1 for _, at in finished if at > stopping)
    report(request.config, f"image: `podman stop` took {stopped:.1f} s; {in_flight} logins in flight at SIGTERM ended")
    assert stopped < 10, f"podman stop took {stopped:.1f} s"
    assert [status for status, _ in finished] == [200] * len(logins)
    assert any(at > stopping for _, at in finished), "every login ended before the SIGTERM: nothing was in flight"
    assert podman("inspect", "--format", "{{.State.ExitCode}}", "authsvc").stdout.strip() == "0"
