"""The OpenAPI 3.1 document (authsvc/openapi.yaml, the one source) as JSON, and a small human page.

The page is plain HTML rendered from the same document: no script, no style, no external asset, so the strict
Content-Security-Policy every response carries (default-src 'none') needs no exception.
"""

from __future__ import annotations

import json
import re
from functools import cache
from html import escape
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

SPEC_PATH = Path(__file__).resolve().parent.parent / "openapi.yaml"
METHODS = ("get", "head", "post", "put", "patch", "delete", "options", "trace")


@cache
def _spec() -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    return spec


@cache
def _spec_json() -> bytes:
    return json.dumps(_spec()).encode("utf-8")


async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=_spec_json(), content_type="application/json")


async def page(request: web.Request) -> web.Response:
    return web.Response(body=_page_html(), content_type="text/html", charset="utf-8")


def _inline(text: str) -> str:
    """Escape, then `code` spans and **bold**: the only markdown the document's descriptions use inline."""
    html = escape(text, quote=False)
    html = re.sub(r"`([^`]+)`", r"<code>\1</code>", html)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", html)


def _markdown(text: str, heading: int = 3) -> str:
    """Paragraphs, '## ' headings and '* ' lists: enough for the descriptions in openapi.yaml."""
    out: list[str] = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = block.splitlines()
        if block.startswith("## "):
            out.append(f"<h{heading}>{_inline(block[3:].strip())}</h{heading}>")
        elif block.startswith("* "):
            items: list[str] = []
            for line in lines:
                if line.startswith("* "):
                    items.append(line[2:].strip())
                elif items:
                    items[-1] += " " + line.strip()
            out.append("<ul>" + "".join(f"<li>{_inline(item)}</li>" for item in items) + "</ul>")
        else:
            out.append(f"<p>{_inline(' '.join(line.strip() for line in lines))}</p>")
    return "\n".join(out)


def _resolve(spec: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def _body_fields(spec: dict[str, Any], operation: dict[str, Any]) -> str:
    body = _resolve(spec, operation.get("requestBody"))
    if not body:
        return ""
    media_types = list(body["content"])
    schema = _resolve(spec, body["content"][media_types[0]]["schema"])
    fields = ", ".join(f"<code>{escape(name)}</code>" for name in schema.get("properties", {}))
    kinds = ", ".join(f"<code>{escape(media_type)}</code>" for media_type in media_types)
    return f"<p>Body: exactly the string fields {fields}; as {kinds}.</p>"


def _responses(spec: dict[str, Any], operation: dict[str, Any]) -> str:
    rows = []
    for status, response in operation.get("responses", {}).items():
        response = _resolve(spec, response)
        content = ", ".join(escape(media_type) for media_type in response.get("content", {})) or "no body"
        headers = ", ".join(escape(name) for name in response.get("headers", {}) if name != "X-Request-Id")
        description = _inline(" ".join(response.get("description", "").split()))
        rows.append(f"<tr><td>{escape(status)}</td><td>{content}</td><td>{headers}</td><td>{description}</td></tr>")
    head = "<tr><th>Status</th><th>Body</th><th>Headers</th><th>When</th></tr>"
    return f"<table border=1>{head}{''.join(rows)}</table>"


@cache
def _page_html() -> bytes:
    spec = _spec()
    info = spec["info"]
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(info['title'])} {escape(info['version'])}</title></head><body>",
        f"<h1>{escape(info['title'])} {escape(info['version'])}</h1>",
        '<p>The machine-readable document: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).</p>',
        _markdown(info.get("description", ""), heading=2),
    ]
    for tag in spec.get("tags", []):
        parts.append(f"<h2>{escape(tag['name'])}</h2><p>{_inline(tag.get('description', ''))}</p>")
        for path, item in spec["paths"].items():
            # Operations that differ only in method (the forward-auth check) are shown once.
            groups: dict[str, tuple[list[str], dict[str, Any]]] = {}
            for method in METHODS:
                operation = item.get(method)
                if operation is None or tag["name"] not in operation.get("tags", []):
                    continue
                key = operation.get("description", "") + operation.get("summary", "")
                groups.setdefault(key, ([], operation))[0].append(method.upper())
            for methods, operation in groups.values():
                parts.append(f"<h3>{' | '.join(methods)} <code>{escape(path)}</code></h3>")
                parts.append(f"<p><strong>{_inline(operation.get('summary', ''))}</strong></p>")
                parts.append(_markdown(operation.get("description", "")))
                alternatives = [" + ".join(requirement) or "none" for requirement in operation.get("security", [])]
                if alternatives:
                    parts.append(f"<p>Credentials: {escape(' or '.join(alternatives))}.</p>")
                parts.append(_body_fields(spec, operation))
                parts.append(_responses(spec, operation))
    parts.append("</body></html>")
    return "\n".join(part for part in parts if part).encode("utf-8")
