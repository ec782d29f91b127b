"""MongoDB goes away and comes back: 503 within the selection timeout, /readyz 503, recovery without a restart.

Each test runs its own FerretDB, stopped and started again on the same port and data directory. The timings measured
are printed (run with -s to see them).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from authsvc.deadline import outage_bound
from tests.driver import PASSWORD, new_name, session_cookie
from tests.helpers import FAST_CONFIG, AuthsvcProcess
from tests.mongodb import FerretDB, mongo_sections

SELECTION_TIMEOUT = 1.0
MARGIN = 1.5  # the driver wakes every 0.5 s to re-check servers; the rest is HTTP and process scheduling
CLIENT_SLACK = 0.25  # the client's own scheduling on two shared cores, on top of the server's bound
pytestmark = [pytest.mark.mongodb, pytest.mark.e2e]


@pytest.fixture
def ferretdb(tmp_path: Path, ferretdb_binary: Path) -> Iterator[FerretDB]:
    server = FerretDB(ferretdb_binary, tmp_path / "ferretdb")
    yield server
    server.stop()


@pytest.fixture
def authsvc(tmp_path: Path, ferretdb: FerretDB) -> Iterator[AuthsvcProcess]:
    timeout_ms = int(SELECTION_TIMEOUT * 1000)
    sections = mongo_sections(
        ferretdb.url,
        "authsvc",
        server_selection_timeout_ms=timeout_ms,
        connect_timeout_ms=timeout_ms,
        socket_timeout_ms=2 * timeout_ms,
    )
    process = AuthsvcProcess(tmp_path, {**FAST_CONFIG, **sections})
    yield process
    process.stop()


async def timed(request: Any) -> tuple[aiohttp.ClientResponse, float]:
    started = time.monotonic()
    response = await request
    await response.read()
    return response, time.monotonic() - started


async def until_ok(http: aiohttp.ClientSession, body: dict[str, str], within: float = 30.0) -> float:
    """Seconds until a login answers 200 again."""
    started = time.monotonic()
    while (await http.post("/users/login", json=body)).status != 200:
        assert time.monotonic() - started < within, "authsvc did not recover"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


def assert_unavailable(response: aiohttp.ClientResponse, latency: float) -> None:
    assert response.status == 503
    assert response.content_type == "application/problem+json"
    assert "Retry-After" in response.headers or response.url.path == "/readyz"
    assert latency < SELECTION_TIMEOUT + MARGIN


async def test_outage_answers_503_in_bounded_time_and_recovers_without_restart(
    ferretdb: FerretDB, authsvc: AuthsvcProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    ferretdb.start()
    authsvc.start()
    credentials = {"username": new_name("before"), "password": PASSWORD}
    async with aiohttp.ClientSession(authsvc.url) as http:
        assert (await http.post("/users/signup", json=credentials)).status == 201
        cookie = {"Cookie": f"sid={session_cookie(await http.post('/users/login', json=credentials))}"}

        ferretdb.stop()
        login, login_latency = await timed(http.post("/users/login", json=credentials))
        protected, protected_latency = await timed(http.get("/users/protected", headers=cookie))
        ready, ready_latency = await timed(http.get("/readyz"))
        for response, latency in [(login, login_latency), (protected, protected_latency), (ready, ready_latency)]:
            assert_unavailable(response, latency)
        assert (await http.get("/healthz")).status == 200
        assert authsvc.process is not None and authsvc.process.poll() is None

        restarted = time.monotonic()
        ferretdb.start()
        server_up = time.monotonic() - restarted
        recovery = await until_ok(http, credentials)
        assert (await http.get("/users/protected", headers=cookie)).status == 200  # the session outlived the outage
        assert (await http.get("/readyz")).status == 200
    with capsys.disabled():
        print(
            f"\noutage (selection timeout {SELECTION_TIMEOUT:.1f} s): 503 after login {login_latency:.3f} s, "
            f"protected {protected_latency:.3f} s, readyz {ready_latency:.3f} s; FerretDB back in {server_up:.3f} s, "
            f"first good login {recovery:.3f} s after that"
        )
    assert authsvc.logs().count("MongoDB is unavailable") == 1
    assert "MongoDB answers again" in authsvc.logs()


async def test_start_while_mongodb_is_down_then_it_comes_up(
    ferretdb: FerretDB, authsvc: AuthsvcProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    authsvc.start()  # nothing listens on FerretDB's port yet
    credentials = {"username": new_name("late"), "password": PASSWORD}
    async with aiohttp.ClientSession(authsvc.url) as http:
        # Sign-ups at once: the first to reach the database tries to create the indexes, the others wait for it and
        # reach the database with their deadline spent; each answers 503 (once a 500: a negative driver timeout).
        bodies = [credentials] + [{"username": new_name("late"), "password": PASSWORD} for _ in range(7)]
        answers = await asyncio.gather(*(timed(http.post("/users/signup", json=body)) for body in bodies))
        for signup, latency in answers:
            assert_unavailable(signup, latency)
        latency = max(latency for _, latency in answers)
        assert latency <= outage_bound(int(SELECTION_TIMEOUT * 1000)) + CLIENT_SLACK  # docs/scaling.md's bound
        assert (await http.get("/readyz")).status == 503
        assert (await http.get("/healthz")).status == 200

        started = time.monotonic()
        ferretdb.start()
        while (await http.get("/readyz")).status != 200:
            assert time.monotonic() - started < 30, "authsvc did not become ready"
            await asyncio.sleep(0.05)
        ready_after = time.monotonic() - started
        racers = [http.post("/users/signup", json=credentials) for _ in range(8)]
        statuses = sorted(r.status for r in await asyncio.gather(*racers))
        assert statuses == [201] + [409] * 7  # the unique index was made once the server answered
    with capsys.disabled():
        print(f"\nstart-up outage: signup 503 after {latency:.3f} s; ready {ready_after:.3f} s after FerretDB started")
    assert "unreachable at start-up" in authsvc.logs()
    assert "MongoDB indexes are in place" in authsvc.logs()
