"""MongoDB-wire test servers: our FerretDB wrapper, built once and run for the session, or AUTHSVC_TEST_MONGODB_URL.

Without either (no Go toolchain, a failed build) the MongoDB tests skip with one line; under CI=true they fail.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pymongo
import pytest

from tests.helpers import ROOT, free_port, stop_process

FERRETDB_DIR = ROOT / "tools" / "ferretdb"
FERRETDB_BINARY = FERRETDB_DIR / "bin" / "ferretdb-test"
MONGO_DRIVERS = ("pymongo", "motor")
DRIVER_CONTRACT = "driver_contract"  # the marker of what runs on Motor too: tests/contract/conftest.py says why


def drivers_for(metafunc: pytest.Metafunc) -> tuple[str, ...]:
    """Both drivers for a test marked driver_contract (on it, its class or its module), PyMongo for the rest."""
    return MONGO_DRIVERS if metafunc.definition.get_closest_marker(DRIVER_CONTRACT) else ("pymongo",)


class MongoUnavailable(Exception):
    """No MongoDB-wire server can be had for the tests."""


def unavailable(reason: str) -> NoReturn:
    message = f"MongoDB tests need a MongoDB-wire server: {reason}"
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def build_ferretdb() -> Path:
    """tools/ferretdb/build.sh: about 45 s the first time, a no-op while the binary is newer than its sources."""
    try:
        result = subprocess.run(
            [str(FERRETDB_DIR / "build.sh"), str(FERRETDB_BINARY)],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MongoUnavailable(f"tools/ferretdb/build.sh could not run: {exc}") from None
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise MongoUnavailable(f"tools/ferretdb/build.sh failed (needs Go >= 1.24): {last}")
    return FERRETDB_BINARY


class FerretDB:
    """One FerretDB test server on 127.0.0.1; stop() and start() again keep its port and data directory."""

    def __init__(self, binary: Path, data_dir: Path, port: int | None = None) -> None:
        self.binary = binary
        self.data_dir = data_dir
        self.port = port or free_port()
        self.log_path = data_dir.parent / f"{data_dir.name}-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def start(self, timeout: float = 30.0) -> FerretDB:
        """Run the server and wait for its `ready` line."""
        command = [str(self.binary), "-listen-addr", f"127.0.0.1:{self.port}", "-data-dir", str(self.data_dir)]
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while b"ready mongodb://" not in self.log_path.read_bytes()[offset:]:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise MongoUnavailable(f"FerretDB did not start: {self.logs()[-500:]}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        stop_process(self.process, timeout=10)
        self.process = None

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def new_database_name() -> str:
    return f"authsvc_test_{secrets.token_hex(6)}"


def mongo_sections(url: str, database: str, driver: str = "pymongo", **mongodb: Any) -> dict[str, Any]:
    """Config sections that put authsvc on this database."""
    return {
        "storage": {"backend": "mongodb"},
        "mongodb": {"url": url, "database": database, "driver": driver, **mongodb},
    }


@pytest.fixture(scope="session")
def ferretdb_binary() -> Path:
    """The built FerretDB wrapper (for tests that stop and start their own server)."""
    try:
        return build_ferretdb()
    except MongoUnavailable as exc:
        unavailable(str(exc))


@pytest.fixture(scope="session")
def mongodb_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """AUTHSVC_TEST_MONGODB_URL when set (a real MongoDB), else a FerretDB for the whole session."""
    configured = os.environ.get("AUTHSVC_TEST_MONGODB_URL")
    if configured:
        yield configured
        return
    binary: Path = request.getfixturevalue("ferretdb_binary")
    try:
        server = FerretDB(binary, tmp_path_factory.mktemp("ferretdb") / "data").start()
    except MongoUnavailable as exc:
        unavailable(str(exc))
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def mongodb_admin(mongodb_url: str) -> Iterator[pymongo.MongoClient[dict[str, Any]]]:
    """A synchronous client for arranging and inspecting documents, apart from the client under test."""
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        mongodb_url, serverSelectionTimeoutMS=5000, tz_aware=True
    )
    yield client
    client.close()


@pytest.fixture
def mongodb_database(mongodb_admin: pymongo.MongoClient[dict[str, Any]]) -> Iterator[str]:
    """A database of this test's own, dropped afterwards."""
    name = new_database_name()
    yield name
    mongodb_admin.drop_database(name)
