"""Signed webhooks against a real HTTP receiver on 127.0.0.1 that is stopped and restarted mid-run: every event
arrives, retries keep their webhook-id, and every signature verifies with the example receiver's check (for either
of two listed secrets, as during a rotation)."""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import json
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from authsvc.config import ConfigError
from authsvc.events.webhooks import signature
from authsvc.web.app import create_app
from tests.conftest import make_settings
from tests.driver import ADMIN, PASSWORD
from tests.driver import ADMIN_ROOT as ADMIN_HEADERS
from tests.helpers import ROOT, ManualClock, free_port

Client = TestClient[Any, Any]
_spec = importlib.util.spec_from_file_location("webhook_receiver", ROOT / "examples" / "webhook_receiver.py")
assert _spec and _spec.loader
receiver_example = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(receiver_example)

OLD_SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
NEW_SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class Receiver:
    """A real HTTP server on 127.0.0.1 that records every request; it can be stopped and started on its port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[tuple[str, bytes, dict[str, str]]] = []
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        async def receive(request: web.Request) -> web.Response:
            self.received.append((request.headers["webhook-id"], await request.read(), dict(request.headers)))
            return web.Response(status=204)

        app = web.Application()
        app.router.add_post("/hook", receive)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    server = Receiver()
    await server.start()
    yield server
    await server.stop()


async def until(condition: Any, clock: ManualClock, seconds: float = 10) -> None:
    """Wait for the background sender, moving the test clock so that retries fall due."""
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        clock.advance(1)
        await asyncio.sleep(0.02)
    raise AssertionError("timed out")


async def test_every_event_reaches_a_receiver_that_was_down_signed_and_with_stable_ids(
    aiohttp_client: Any, make_container: Any, receiver: Receiver, clock: ManualClock
) -> None:
    hooks = {
        "endpoints": [
            {"url": f"http://127.0.0.1:{receiver.port}/hook", "secrets": [NEW_SECRET, OLD_SECRET], "events": ["*"]},
        ],
        "retry_initial": 1,
        "retry_max": 4,
        "send_interval": 0.01,
    }
    client: Client = await aiohttp_client(create_app(make_container(**ADMIN, webhooks=hooks)))
    await client.post("/users/signup", json={"username": "wendy", "password": PASSWORD})
    await until(lambda: len(receiver.received) == 1, clock)

    await receiver.stop()
    for name in ("xavier", "yvonne"):
        await client.post("/users/signup", json={"username": name, "password": PASSWORD})
    await client.post("/users/login", json={"username": "nobody", "password": "a wrong password"})
    await asyncio.sleep(0.2)  # the sender tries and fails while the receiver is down
    metrics = await (await client.get("/metrics")).text()
    assert f'authsvc_webhook_delivery_failures_total{{endpoint="http://127.0.0.1:{receiver.port}/hook"}}' in metrics

    await receiver.start()
    trail = (await (await client.get("/admin/events", params={"limit": "5"}, headers=ADMIN_HEADERS)).json())["events"]
    assert len(trail) == 4
    await until(lambda: len({json.loads(body)["data"]["id"] for _, body, _ in receiver.received}) == 5, clock)

    by_id: dict[str, bytes] = {}
    for message_id, body, headers in receiver.received:
        assert by_id.setdefault(message_id, body) == body  # a duplicate is the same message under the same id
        stamp = int(headers["webhook-timestamp"])
        assert receiver_example.verify(OLD_SECRET, headers, body, now=stamp)
        assert receiver_example.verify(NEW_SECRET, headers, body, now=stamp)
        assert not receiver_example.verify(OLD_SECRET, headers, body + b" ", now=stamp)
        assert not receiver_example.verify(OLD_SECRET, headers, body, now=stamp + 301)
    delivered = [json.loads(by_id[m]) for m in sorted(by_id)]
    assert [message["data"]["id"] for message in delivered[:4]] == [e["id"] for e in trail]
    assert [message["type"] for message in delivered] == ["signup", "signup", "signup", "login.failure", "admin.call"]
    read = delivered[4]["data"]  # reading the trail is an admin call, and "*" wants it too
    assert (read["actor"], read["details"]) == (
        "admin:root",
        {"method": "GET", "route": "/admin/events", "status": 200},
    )
    for message_id, body in by_id.items():
        assert PASSWORD not in body.decode() and json.loads(body)["data"]["id"] in message_id


@pytest.mark.parametrize(
    "endpoint",
    [
        {"url": "http://127.0.0.1:9/hook", "secrets": ["not-a-secret"], "events": ["*"]},
        {
            "url": "http://127.0.0.1:9/hook",
            "secrets": ["whsec_" + base64.b64encode(b"short").decode()],
            "events": ["*"],
        },
        {"url": "http://127.0.0.1:9/hook", "secrets": [OLD_SECRET, NEW_SECRET, OLD_SECRET], "events": ["*"]},
        {"url": "ftp://127.0.0.1/hook", "secrets": [OLD_SECRET], "events": ["*"]},
        {"url": "http://127.0.0.1:9/hook", "secrets": [OLD_SECRET], "events": []},
    ],
)
def test_webhook_endpoints_are_checked_at_start_up(endpoint: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match=r"webhooks\.endpoints\.0"):
        make_settings(webhooks={"endpoints": [endpoint]})


async def test_the_example_receiver_takes_a_signed_message_on_the_path_the_endpoint_names(aiohttp_client: Any) -> None:
    """The README's walk-through lists http://127.0.0.1:9000/authsvc: the example answers there, not only on /."""
    client: Client = await aiohttp_client(receiver_example.receiver_app(OLD_SECRET))
    body = json.dumps({"type": "login.failure", "timestamp": "t", "data": {"userId": None, "outcome": "failure"}})
    stamp = int(time.time())
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(stamp),
        "webhook-signature": signature([NEW_SECRET, OLD_SECRET], "msg_1", stamp, body.encode()),
    }
    for path in ("/authsvc", "/", "/hooks/authsvc"):
        assert (await client.post(path, data=body, headers=headers)).status == 204
    assert (await client.post("/authsvc", data=body + " ", headers=headers)).status == 401
