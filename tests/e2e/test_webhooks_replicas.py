"""Two `authsvc serve` replicas on one MongoDB share one webhook queue: each event goes to each endpoint that wants
it exactly once here (the receivers never fail), whichever replica recorded it and whichever replica sends it."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.driver import PASSWORD, new_name
from tests.helpers import FAST_CONFIG, AuthsvcProcess
from tests.http.test_webhooks_http import Receiver, receiver_example
from tests.mongodb import mongo_sections

pytestmark = [pytest.mark.mongodb, pytest.mark.e2e]
SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
TOKEN = secrets.token_urlsafe(32)


@pytest.fixture
async def receivers() -> AsyncIterator[tuple[Receiver, Receiver]]:
    every, signups = Receiver(), Receiver()
    await every.start()
    await signups.start()
    yield every, signups
    await every.stop()
    await signups.stop()


async def test_two_replicas_send_each_event_once_per_endpoint(
    tmp_path: Path, mongodb_url: str, mongodb_database: str, receivers: tuple[Receiver, Receiver]
) -> None:
    every, signups = receivers
    config: dict[str, Any] = {
        **FAST_CONFIG,
        **mongo_sections(mongodb_url, mongodb_database),
        "admin": {"tokens": [{"name": "ops", "token": TOKEN, "scopes": ["events:read"]}]},
        "webhooks": {
            "endpoints": [
                {
                    "url": f"http://127.0.0.1:{every.port}/hook",
                    "secrets": ["${AUTHSVC_WEBHOOK_SECRET}"],
                    "events": ["*"],
                },
                {"url": f"http://127.0.0.1:{signups.port}/hook", "secrets": [SECRET], "events": ["signup"]},
            ],
            "send_interval": 0.05,
        },
    }
    env = {"AUTHSVC_WEBHOOK_SECRET": SECRET}
    replicas = [AuthsvcProcess(tmp_path, config, env).start(), AuthsvcProcess(tmp_path, config, env).start()]
    try:
        names = [new_name("hook") for _ in range(10)]
        async with aiohttp.ClientSession() as http:
            for i, name in enumerate(names):
                replica = replicas[i % 2]
                await http.post(f"{replica.url}/users/signup", json={"username": name, "password": PASSWORD})
                await http.post(f"{replica.url}/users/login", json={"username": name, "password": "wrong password"})
            page = await http.get(
                f"{replicas[1].url}/admin/events", params={"limit": "200"}, headers={"Authorization": f"Bearer {TOKEN}"}
            )
            recorded = [e for e in (await page.json())["events"]]
        for _ in range(500):
            if len(every.received) >= 21 and len(signups.received) >= 10:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.5)  # a second delivery of anything would have arrived by now
    finally:
        for replica in replicas:
            replica.stop()
    assert len(recorded) == 20  # one `events` collection for both
    ids = [message_id for message_id, _, _ in every.received]
    assert len(ids) == len(set(ids)) == 21  # and the read of the trail itself, an admin call "*" wants too
    delivered = {json.loads(body)["data"]["id"]: json.loads(body)["type"] for _, body, _ in every.received}
    assert {e["id"] for e in recorded} < set(delivered)
    assert [kind for id_, kind in delivered.items() if id_ not in {e["id"] for e in recorded}] == ["admin.call"]
    assert len(signups.received) == len({m for m, _, _ in signups.received}) == 10
    assert {json.loads(body)["type"] for _, body, _ in signups.received} == {"signup"}
    for message_id, body, headers in every.received + signups.received:
        assert message_id == headers["webhook-id"]
        assert receiver_example.verify(SECRET, headers, body, now=int(headers["webhook-timestamp"]))


async def test_deliveries_wait_in_mongodb_across_a_restart_and_another_replica_sends_them(
    tmp_path: Path, mongodb_url: str, mongodb_database: str
) -> None:
    receiver = Receiver()  # not listening yet: every attempt fails
    config: dict[str, Any] = {
        **FAST_CONFIG,
        **mongo_sections(mongodb_url, mongodb_database),
        "webhooks": {
            "endpoints": [{"url": f"http://127.0.0.1:{receiver.port}/hook", "secrets": [SECRET], "events": ["*"]}],
            "send_interval": 0.05,
            "retry_initial": 0.1,
            "retry_max": 0.2,
        },
    }
    first = AuthsvcProcess(tmp_path, config).start()
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(3):
                body = {"username": new_name("later"), "password": PASSWORD}
                assert (await http.post(f"{first.url}/users/signup", json=body)).status == 201
            await asyncio.sleep(0.5)
            metrics = await (await http.get(f"{first.url}/metrics")).text()
        assert "authsvc_webhook_delivery_failures_total{" in metrics  # it tried while nobody listened
    finally:
        first.stop()
    await receiver.start()
    second = AuthsvcProcess(tmp_path, config).start()  # a replica that never saw the events
    try:
        for _ in range(500):
            if len({m for m, _, _ in receiver.received}) >= 3:
                break
            await asyncio.sleep(0.02)
    finally:
        second.stop()
        await receiver.stop()
    assert {json.loads(body)["type"] for _, body, _ in receiver.received} == {"signup"}
    assert len({m for m, _, _ in receiver.received}) == 3
