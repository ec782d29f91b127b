"""SIGTERM drains before the process stops: /readyz says "draining" at once, keep-alive clients that go on sending
get answers (each with Connection: close), none is reset, and the process exits once the drain and its in-flight
requests are done.

The clients behave as a gateway does: they send on kept-alive connections, and stop routing new requests to the
process one health-check interval after /readyz turned 503.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from tests.driver import PASSWORD, new_name
from tests.helpers import FAST_CONFIG, AuthsvcProcess

pytestmark = pytest.mark.e2e

DRAIN = 2.5
SHUTDOWN_TIMEOUT = 5.0
HEALTH_INTERVAL = 0.5  # the gateway's check interval: it routes here for at most this long after /readyz turned 503
CLIENTS = 8
BOUND = 30.0  # seconds: the whole load loop, whatever happens


class Tally:
    def __init__(self) -> None:
        self.statuses: Counter[int] = Counter()
        self.after_signal = 0
        self.kept_alive_after_signal = 0  # answers during the drain that did not say Connection: close
        self.resets: list[str] = []


async def client(
    http: aiohttp.ClientSession, body: dict[str, str], tally: Tally, signalled: asyncio.Event, stop: asyncio.Event
) -> None:
    paths = ["/users/protected", "/healthz", "/users/login"]
    turn = 0
    deadline = time.monotonic() + BOUND
    while not stop.is_set() and time.monotonic() < deadline:
        path, turn = paths[turn % len(paths)], turn + 1
        sent_after_signal = signalled.is_set()
        try:
            if path == "/users/login":
                response = await http.post(path, json=body)
            else:
                response = await http.get(path)
            await response.read()
        except aiohttp.ClientConnectorError:  # refused before anything was sent: a gateway retries elsewhere
            await asyncio.sleep(0.01)
            continue
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
            tally.resets.append(f"{path}: {type(exc).__name__}: {exc}")
            continue
        tally.statuses[response.status] += 1
        if sent_after_signal:
            tally.after_signal += 1
            if response.headers.get("Connection", "").lower() != "close":
                tally.kept_alive_after_signal += 1


async def until_draining(probe: aiohttp.ClientSession) -> aiohttp.ClientResponse:
    """/readyz once it answers 503: the signal reaches the process a moment after it was sent."""
    deadline = time.monotonic() + 5
    while (ready := await probe.get("/readyz")).status != 503:
        assert time.monotonic() < deadline, "/readyz never said draining"
        await asyncio.sleep(0.01)
    return ready


async def test_sigterm_drains_keep_alive_clients_get_answers_not_resets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = {**FAST_CONFIG, "server": {"drain_seconds": DRAIN, "shutdown_timeout": SHUTDOWN_TIMEOUT}}
    authsvc = AuthsvcProcess(tmp_path, config).start()
    try:
        assert authsvc.process is not None
        credentials = {"username": new_name("drain"), "password": PASSWORD}
        connector = aiohttp.TCPConnector(limit=CLIENTS)
        async with (
            aiohttp.ClientSession(authsvc.url, connector=connector) as http,
            aiohttp.ClientSession(authsvc.url) as probe,
        ):
            assert (await http.post("/users/signup", json=credentials)).status == 201
            tally, signalled, stop = Tally(), asyncio.Event(), asyncio.Event()
            clients = [asyncio.create_task(client(http, credentials, tally, signalled, stop)) for _ in range(CLIENTS)]
            await asyncio.sleep(0.5)  # every client has a kept-alive connection by now

            authsvc.process.send_signal(signal.SIGTERM)
            sent = time.monotonic()
            ready = await until_draining(probe)
            ready_after = time.monotonic() - sent
            signalled.set()  # from here on the process has said it drains: every answer must say Connection: close
            assert "draining" in (await ready.json())["detail"]
            await asyncio.sleep(HEALTH_INTERVAL)  # the gateway's next check sees it: it stops routing here
            stop.set()
            await asyncio.gather(*clients)
            served_for = time.monotonic() - sent
            assert authsvc.process.poll() is None, "the process stopped before its drain ended"

        exit_code = await asyncio.to_thread(authsvc.process.wait, DRAIN + SHUTDOWN_TIMEOUT + 10)
        exited_after = time.monotonic() - sent
    finally:
        authsvc.stop()
    with capsys.disabled():
        print(
            f"\ndrain ({DRAIN} s): /readyz 503 {ready_after:.3f} s after SIGTERM; {tally.after_signal} answers during "
            f"the drain, all Connection: close: {tally.kept_alive_after_signal == 0}; resets {len(tally.resets)}; "
            f"exit after {exited_after:.2f} s; statuses {dict(tally.statuses)}"
        )
    assert tally.resets == []
    assert tally.after_signal >= CLIENTS  # every client went on sending, and got answers
    assert tally.kept_alive_after_signal == 0
    assert set(tally.statuses) <= {200, 401, 429}
    assert ready_after < 1.0  # at once, on a loaded machine
    assert served_for < DRAIN
    assert exit_code == 0
    assert DRAIN <= exited_after < DRAIN + SHUTDOWN_TIMEOUT
    assert "draining for 2.5 s" in authsvc.logs()


async def test_a_second_sigterm_ends_the_drain_at_once(tmp_path: Path) -> None:
    config = {**FAST_CONFIG, "server": {"drain_seconds": 60, "shutdown_timeout": SHUTDOWN_TIMEOUT}}
    authsvc = AuthsvcProcess(tmp_path, config).start()
    try:
        assert authsvc.process is not None
        async with aiohttp.ClientSession(authsvc.url) as probe:
            authsvc.process.send_signal(signal.SIGTERM)
            await until_draining(probe)
            assert (await probe.get("/healthz")).status == 200  # still serving: alive, only not ready
        authsvc.process.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        exit_code = await asyncio.to_thread(authsvc.process.wait, 30)
        exited_after = time.monotonic() - sent
    finally:
        authsvc.stop()
    assert exit_code == 0
    assert exited_after < 10  # not the 60 s drain
