"""Parts for the image tests: podman with this machine's settings (tools/image/), the image and the stand-ins of the
images docker-compose.yml names, built once per run, and README's container section as shell steps.

Without podman (or as a user other than root) the image tests skip with one line; under CI=true they fail.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

from tests.helpers import ROOT

TOOLS = ROOT / "tools" / "image"
IMAGE = "authsvc:local"
README = ROOT / "README.md"
# `docker` in README's commands is podman here, `docker compose` podman-compose (from the test virtualenv).
DOCKER_AS_PODMAN = 'docker() { if [ "$1" = compose ]; then shift; podman-compose "$@"; else podman "$@"; fi; }\n'


def unavailable(reason: str) -> NoReturn:
    message = f"the image tests need podman as root: {reason}; `make container-packages` installs it (Debian)"
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def podman_env() -> dict[str, str]:
    """The environment of every podman call: tools/image/containers.conf, the virtualenv's podman-compose."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**os.environ, "CONTAINERS_CONF": str(TOOLS / "containers.conf"), "PATH": path}


def podman(*args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["podman", *args], env=podman_env(), capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} exited {result.returncode}: {result.stderr.strip()[-2000:]}")
    return result


def remove_containers(*names: str) -> None:
    """Stop and remove these containers and their anonymous volumes if they exist (what a test started, or an earlier
    run left behind)."""
    podman("rm", "--force", "--ignore", "--volumes", "--time", "2", *names, check=False)


@dataclass(frozen=True)
class Built:
    seconds: float
    size_mb: float


def run_tool(script: str, timeout: float) -> float:
    """Run tools/image/<script>; its duration in seconds. Fails the test with the script's last words."""
    started = time.monotonic()
    try:
        result = subprocess.run(
            [str(TOOLS / script)], env=podman_env(), capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"tools/image/{script} took more than {timeout} s", pytrace=False)
    if result.returncode != 0:
        pytest.fail(f"tools/image/{script} failed: {result.stderr.strip()[-3000:]}", pytrace=False)
    return time.monotonic() - started


@functools.cache
def built_image() -> Built:
    """`make image` (tools/image/build.sh) and the stand-ins, once per test run."""
    if shutil.which("podman") is None:
        unavailable("podman is not installed")
    if os.geteuid() != 0:
        unavailable("not running as root")
    seconds = run_tool("build.sh", timeout=900)
    run_tool("standins.sh", timeout=900)
    size = int(podman("image", "inspect", "--format", "{{.Size}}", IMAGE).stdout.strip())
    return Built(seconds, size / 1e6)


def report(config: pytest.Config, line: str) -> None:
    """A line in the test output (not captured): the image's size and timings."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(line)


def readme_commands(heading: str) -> list[str]:
    """The ```sh blocks of one README section, in order."""
    text = README.read_text()
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    section = text[start : end if end != -1 else len(text)]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)


def shell(
    script: str, cwd: Path, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """README's commands as a user types them, `docker` being podman; fails on the first command that fails."""
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", DOCKER_AS_PODMAN + script],
        cwd=cwd,
        env={**podman_env(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"README's commands failed ({result.returncode}):\n{script}\n{result.stderr[-3000:]}")
    return result


def wait_healthy(container: str, timeout: float = 60) -> float:
    """Run the image's HEALTHCHECK until it passes (podman's own timers need systemd); seconds it took."""
    started = time.monotonic()
    while podman("healthcheck", "run", container, check=False).returncode != 0:
        if time.monotonic() - started > timeout:
            logs = podman("logs", container, check=False)
            raise AssertionError(f"{container} not healthy after {timeout} s: {(logs.stdout + logs.stderr)[-3000:]}")
        time.sleep(0.2)
    return time.monotonic() - started
