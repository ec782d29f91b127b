"""/docs in a real headless Chromium against the real process: Swagger UI renders every operation, every request
the page makes goes to authsvc itself, and the page's CSP is never violated.

Chromium is driven over the DevTools protocol with aiohttp's WebSocket client (no driver package). It is Debian's
chromium, which `make test` installs; without it this test skips, and fails under CI=true.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from authsvc.web.api.ops.docs import openapi_document
from tests.helpers import FAST_CONFIG, AuthsvcProcess, stop_process

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# As the machine's notes advise: no background traffic, which the closed network would refuse.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--remote-debugging-port=0",
]
OPENED = 5  # operations expanded in the browser (all of them take long on two cores)
WATCH_CSP = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation",
    (e) => window.__cspViolations.push(e.violatedDirective + " " + e.blockedURI));
"""


class DevTools:
    """One page target of a running Chromium, spoken to over the DevTools protocol."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self.ids)
        await self.ws.send_json({"id": call_id, "method": method, "params": params})
        while True:
            message = json.loads(await asyncio.wait_for(self.ws.receive_str(), timeout=30))
            if message.get("id") == call_id:
                assert "error" not in message, message
                result: dict[str, Any] = message["result"]
                return result
            self.events.append(message)

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthsvcProcess]:
    process = AuthsvcProcess(Path(tmp_path_factory.mktemp("docs")), FAST_CONFIG).start()
    yield process
    process.stop()


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[int]:
    """A headless Chromium with an empty profile; yields its DevTools port."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail("chromium is not installed (make system-packages); CI must run this test")
        pytest.skip("chromium is not installed (make system-packages)")
    profile = tmp_path / "chromium"
    command = [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"]
    browser = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text().strip():
            assert browser.poll() is None, "chromium exited at start-up"
            assert time.monotonic() < deadline, "chromium did not open its DevTools port"
            time.sleep(0.1)
        yield int(port_file.read_text().split()[0])
    finally:
        stop_process(browser, timeout=10)


@pytest.fixture
async def devtools(chromium: int) -> AsyncIterator[DevTools]:
    async with aiohttp.ClientSession() as http:
        targets = await (await http.get(f"http://127.0.0.1:{chromium}/json/list")).json()
        page = next(target for target in targets if target["type"] == "page")
        async with http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            yield DevTools(ws)


def operation_count() -> int:
    document = openapi_document()
    methods = {"get", "head", "post", "put", "patch", "delete", "options", "trace"}
    return sum(len(methods & set(item)) for item in document["paths"].values())


async def test_docs_render_every_operation_with_no_outside_request_and_no_csp_violation(
    service: AuthsvcProcess, devtools: DevTools
) -> None:
    for domain in ("Network", "Runtime", "Page", "Log"):
        await devtools.call(f"{domain}.enable")
    await devtools.call("Page.addScriptToEvaluateOnNewDocument", source=WATCH_CSP)
    await devtools.call("Page.navigate", url=f"{service.url}/docs")

    expected, rendered = operation_count(), 0
    deadline = time.monotonic() + 30
    while rendered < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        rendered = await devtools.evaluate("document.querySelectorAll('.opblock').length") or 0
    assert rendered == expected, f"Swagger UI rendered {rendered} of {expected} operations"
    assert "authsvc" in await devtools.evaluate("document.querySelector('.info .title').textContent")

    # Open a few operations: their examples, schemas and syntax highlighting render only then.
    controls = "Array.from(document.querySelectorAll('.opblock-summary-control'))"
    await devtools.evaluate(f"{controls}.slice(0, {OPENED}).forEach((control) => control.click())")
    opened, deadline = 0, time.monotonic() + 30
    while opened < OPENED and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        opened = await devtools.evaluate("document.querySelectorAll('.opblock.is-open .opblock-body').length") or 0
    assert opened == OPENED
    assert await devtools.evaluate("document.querySelectorAll('.opblock-body .highlight-code').length") > 0

    assert await devtools.evaluate("window.__cspViolations") == []
    await devtools.evaluate("1")  # drains the events that arrived meanwhile
    requested = {e["params"]["request"]["url"] for e in devtools.events if e["method"] == "Network.requestWillBeSent"}
    assert f"{service.url}/docs/static/swagger-ui-bundle.js" in requested
    assert f"{service.url}/openapi.json" in requested
    outside = {url for url in requested if not url.startswith((f"{service.url}/", "data:"))}
    assert not outside, outside
    errors = [
        e["params"]["entry"]["text"]
        for e in devtools.events
        if e["method"] == "Log.entryAdded" and e["params"]["entry"]["level"] == "error"
    ]
    assert not errors, errors
