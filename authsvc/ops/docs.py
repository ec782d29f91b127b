"""The OpenAPI 3.1 document (authsvc/openapi.yaml, the one source) as JSON, and a small human page."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import yaml
from aiohttp import web

SPEC_PATH = Path(__file__).resolve().parent.parent / "openapi.yaml"


@cache
def _spec_json() -> bytes:
    return json.dumps(yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))).encode("utf-8")


async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=_spec_json(), content_type="application/json")
