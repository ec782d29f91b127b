"""The OpenAPI 3.1 document as JSON: authsvc/openapi.yaml, and the request bodies of the JSON routes generated from
their models (web/api/bodies.py); and Swagger UI for it at /docs.

Swagger UI comes from a packaged bundle (swagger-ui-bundle-v2) and is served by authsvc itself: the page, its
start-up script (ours, a file so that no inline script is needed) and a fixed list of the bundle's files. Those
responses carry their own Content-Security-Policy, which allows only the service's own origin.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from swagger_ui_bundle import swagger_ui_path

from authsvc.errors import NotFound
from authsvc.web.api.bodies import REQUEST_BODIES
from authsvc.web.edge.bodies import body_schema, media_types

SPEC_PATH = Path(__file__).resolve().parents[3] / "openapi.yaml"
OURS = Path(__file__).resolve().parent / "swagger"
BUNDLE = Path(str(swagger_ui_path))

# 'self' only. Images also from data: URIs, which swagger-ui.css uses for its icons; no 'unsafe-inline' anywhere
# (React sets styles through the CSSOM, which style-src does not govern).
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
PAGE_HEADERS = {"Content-Security-Policy": DOCS_CSP, "Content-Type": "text/html; charset=utf-8"}
# Revalidated on every load (ETag / Last-Modified): 1.5 MB of script is not fetched again unless it changed.
STATIC_FILES: dict[str, tuple[Path, str]] = {
    "init.js": (OURS / "init.js", "text/javascript; charset=utf-8"),
    "swagger-ui-bundle.js": (BUNDLE / "swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
    "swagger-ui.css": (BUNDLE / "swagger-ui.css", "text/css; charset=utf-8"),
    "index.css": (BUNDLE / "index.css", "text/css; charset=utf-8"),
    "favicon-32x32.png": (BUNDLE / "favicon-32x32.png", "image/png"),
    "favicon-16x16.png": (BUNDLE / "favicon-16x16.png", "image/png"),
}

routes = web.RouteTableDef()


def openapi_document() -> dict[str, Any]:
    """openapi.yaml with the request bodies of the JSON routes generated from their models (web/api/bodies.py):
    each body's schema, and its request body with the content types read_body takes."""
    document: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    components = document["components"]
    for model in REQUEST_BODIES:
        name = model.__name__
        if name in components["schemas"] or name in components["requestBodies"]:
            raise ValueError(f"openapi.yaml writes {name} by hand; it is generated from web/api/bodies.py")
        components["schemas"][name] = body_schema(model)
        reference = {"$ref": f"#/components/schemas/{name}"}
        content = {media_type: {"schema": reference} for media_type in media_types(model)}
        components["requestBodies"][name] = {"required": True, "content": content}
    return document


@cache
def _spec_json() -> bytes:
    return json.dumps(openapi_document()).encode("utf-8")


@routes.get("/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=_spec_json(), content_type="application/json")


@routes.get("/docs")
async def page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(OURS / "index.html", headers=PAGE_HEADERS)


@routes.get("/docs/static/{name}")
async def static(request: web.Request) -> web.FileResponse:
    found = STATIC_FILES.get(request.match_info["name"])
    if found is None:
        raise NotFound()
    path, content_type = found
    headers = {"Content-Security-Policy": DOCS_CSP, "Content-Type": content_type, "Cache-Control": "no-cache"}
    return web.FileResponse(path, headers=headers)
