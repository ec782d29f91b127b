"""A receiver of authsvc's signed webhooks (Standard Webhooks), with the standard library and aiohttp.

    AUTHSVC_WEBHOOK_SECRET=whsec_... .venv/bin/python examples/webhook_receiver.py 127.0.0.1 9000

It takes a POST on any path, so the endpoint's url may be http://127.0.0.1:9000/authsvc or any other.

It accepts a message only when one of its `webhook-signature` entries is HMAC-SHA256 over
"<webhook-id>.<webhook-timestamp>.<body>" with the secret (compared in constant time) and the timestamp is within
five minutes; it answers 2xx at once and dedupes by `webhook-id` (deliveries are at least once).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import sys
import time
from collections.abc import Mapping

from aiohttp import web

TOLERANCE_SECONDS = 300


def verify(secret: str, headers: Mapping[str, str], body: bytes, now: float | None = None) -> bool:
    """Whether the message is signed with this secret (whsec_<base64 key>) and fresh."""
    message_id, timestamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
    if not message_id or not timestamp.isdigit():
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    for entry in headers.get("webhook-signature", "").split():
        version, _, signature = entry.partition(",")
        if version == "v1" and hmac.compare_digest(base64.b64encode(expected).decode(), signature):
            return True
    return False


def receiver_app(secret: str) -> web.Application:
    """The receiver: a POST on any path (whatever the endpoint's url names), 401 unless signed and fresh."""
    seen: set[str] = set()

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        if not verify(secret, request.headers, body):
            return web.Response(status=401)
        if request.headers["webhook-id"] not in seen:  # a retry of a message already handled: just acknowledge
            seen.add(request.headers["webhook-id"])
            event = json.loads(body)
            print(event["type"], event["data"]["userId"], event["data"]["outcome"], flush=True)
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/{path:.*}", receive)
    return app


def main(host: str, port: int) -> None:
    web.run_app(receiver_app(os.environ["AUTHSVC_WEBHOOK_SECRET"]), host=host, port=port)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
