"""The OpenAPI document: valid OpenAPI 3.1, in step with the routes the app registers, and true to its own rules."""

from __future__ import annotations

import ast
import inspect
import json
import re
import sys
from collections.abc import Callable, Iterator
from typing import Any

import jsonschema_rs
import pytest
import schemathesis
import yaml
from schemathesis.core.result import Err

from authsvc.containers import Container
from authsvc.web.api.bodies import REQUEST_BODIES
from authsvc.web.api.ops.docs import DOCS_CSP, SPEC_PATH, openapi_document
from authsvc.web.app import create_app
from authsvc.web.edge.bodies import body_schema, media_types

METHODS = ("get", "head", "post", "put", "patch", "delete", "options", "trace")
FORM_TYPES = {"application/json", "application/x-www-form-urlencoded", "multipart/form-data"}
# aiohttp resources whose path template holds a regex catch-all, and the OpenAPI paths that document them.
DOCUMENTED_AS = {"/auth/verify{tail}": ("/auth/verify", "/auth/verify/{tail}")}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi_document()  # openapi.yaml with the request bodies generated from their models


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def resolve(document: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        assert node["$ref"].startswith("#/"), node["$ref"]
        target: Any = document
        for part in node["$ref"][2:].split("/"):
            assert isinstance(target, dict) and part in target, f"unresolvable {node['$ref']}"
            target = target[part]
        node = target
    return node


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def validator(document: dict[str, Any], schema: dict[str, Any]) -> Any:
    """A JSON Schema 2020-12 validator for one schema of the document; its "#/components/..." refs resolve."""
    jsonschema_rs.meta.validate(schema)
    return jsonschema_rs.Draft202012Validator({**schema, "components": document["components"]}, validate_formats=True)


def test_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1.")
    schema = schemathesis.openapi.from_dict(document)
    schema.validate()  # against the OpenAPI 3.1 meta-schema; raises with the first violation
    broken = [result.err() for result in schema.get_all_operations() if isinstance(result, Err)]
    assert not broken, broken


def test_every_reference_resolves_and_every_component_is_used(document: dict[str, Any]) -> None:
    used = set(refs(document))
    for ref in used:
        resolve(document, {"$ref": ref})
    for kind, components in document["components"].items():
        if kind == "securitySchemes":
            named = {name for _, _, op in operations(document) for req in op.get("security", []) for name in req}
            assert set(components) <= named, f"unused security schemes: {set(components) - named}"
            continue
        for name in components:
            pointer = f"#/components/{kind}/{name}"
            # MethodNotAllowed and NotFound describe answers to requests no operation covers.
            if pointer not in used and name not in {"MethodNotAllowed", "NotFound"}:
                pytest.fail(f"{pointer} is never used")


def test_every_schema_compiles_and_every_example_matches_its_schema(document: dict[str, Any]) -> None:
    for name, schema in document["components"]["schemas"].items():
        checker = validator(document, schema)
        for example in schema.get("examples", []):
            assert checker.is_valid(example), f"{name}: example {example} does not match"
    checked = 0
    for path, method, operation in operations(document):
        body = resolve(document, operation.get("requestBody"))
        contents = [body["content"]] if body else []
        contents += [resolve(document, r).get("content", {}) for r in operation["responses"].values()]
        for content in contents:
            for media_type, media in content.items():
                checker = validator(document, media["schema"])
                for example in media.get("examples", {}).values():
                    errors = [e.message for e in checker.iter_errors(example["value"])]
                    assert not errors, f"{method.upper()} {path} {media_type}: {errors}"
                    checked += 1
    assert checked >= 4


def test_every_route_is_documented_and_every_operation_is_routed(
    document: dict[str, Any], make_container: Callable[..., Container]
) -> None:
    admin = {"tokens": [{"name": "ops", "token": "o" * 32, "scopes": ["users:read"]}]}  # /admin/ needs a token
    app = create_app(make_container(admin=admin))
    routes = list(app.router.routes())
    gets = {(route.resource, route.handler) for route in routes if route.method == "GET"}
    routed = set()
    for route in routes:
        assert route.resource is not None and route.resource.canonical
        if route.method == "*":
            methods: tuple[str, ...] = METHODS
        elif route.method == "HEAD" and (route.resource, route.handler) in gets:
            continue  # aiohttp's automatic HEAD for a GET: documented once, in info.description
        else:
            methods = (route.method.lower(),)
        for path in DOCUMENTED_AS.get(route.resource.canonical, (route.resource.canonical,)):
            routed |= {(method, path) for method in methods}
    documented = {(method, path) for path, method, _ in operations(document)}
    assert not routed - documented, f"routes missing from openapi.yaml: {sorted(routed - documented)}"
    assert not documented - routed, f"documented but not routed: {sorted(documented - routed)}"


def _is_page_error(operation: dict[str, Any], reference: dict[str, Any]) -> bool:
    """The portal's errors are pages, but for a malformed X-Forwarded-* (answered before any route runs)."""
    forwarded = reference.get("$ref") == "#/components/responses/BadForwardedHeaders"
    return "portal" in operation.get("tags", []) and not forwarded


def test_every_error_is_problem_json_and_no_server_error_but_503_is_documented(document: dict[str, Any]) -> None:
    problem = "#/components/schemas/Problem"
    for path, method, operation in operations(document):
        assert operation.get("operationId"), f"{method.upper()} {path}: no operationId"
        assert operation.get("summary"), f"{method.upper()} {path}: no summary"
        assert "security" in operation, f"{method.upper()} {path}: say which credentials, even none"
        for status, reference in operation["responses"].items():
            response = resolve(document, reference)
            where = f"{method.upper()} {path} {status}"
            assert response.get("description"), where
            assert "X-Request-Id" in response.get("headers", {}), f"{where}: X-Request-Id"
            assert status not in {"default", "500", "501", "502", "504"}, f"{where}: a server error is never documented"
            if int(status) < 400:
                continue
            if _is_page_error(operation, reference):
                assert list(response["content"]) == ["text/html"], where
                if status in {"429", "503"}:
                    assert response["headers"]["Retry-After"] == {"$ref": "#/components/headers/Retry-After"}, where
                continue
            content = list(response["content"])
            if reference.get("$ref") == "#/components/responses/AccessDeniedPage":  # forward-auth: a browser's page
                assert content[0] == "text/html", where
                content = content[1:]
            assert content == ["application/problem+json"], where
            schema = response["content"]["application/problem+json"]["schema"]
            assert schema["allOf"][0] == {"$ref": problem}, where
            assert schema["allOf"][1]["properties"]["status"] == {"const": int(status)}, where
            if status == "429" or reference.get("$ref") == "#/components/responses/ServiceUnavailable":
                assert response["headers"]["Retry-After"] == {"$ref": "#/components/headers/Retry-After"}, where


def test_every_body_is_exact_string_fields_as_json_or_form(document: dict[str, Any]) -> None:
    bodies = forms = ceremonies = lists = 0
    for path, method, operation in operations(document):
        if "requestBody" not in operation:
            continue
        if "portal" in operation.get("tags", []):
            forms += 1
            _check_portal_form(document, operation, f"{method.upper()} {path}")
            continue
        bodies += 1
        body = resolve(document, operation["requestBody"])
        where = f"{method.upper()} {path}"
        assert body["required"] is True, where
        if "credential" in resolve(document, body["content"].get("application/json", {}).get("schema", {})).get(
            "properties", {}
        ):
            ceremonies += 1
            _check_ceremony_body(document, body, operation, where)
            continue
        if set(body["content"]) == {"application/json"} and "credential" not in str(body):
            lists += 1
            _check_list_body(document, body, operation, where)
            continue
        assert set(body["content"]) == FORM_TYPES, where
        assert len({json.dumps(media["schema"]) for media in body["content"].values()}) == 1, where
        schema = resolve(document, body["content"]["application/json"]["schema"])
        for variant in schema.get("oneOf", [schema]):  # /users/password/forgot: username or email
            assert variant["type"] == "object" and variant["additionalProperties"] is False, where
            assert set(variant["required"]) <= set(variant["properties"]), where
            optional = set(variant["properties"]) - set(variant["required"])
            assert all("Optional" in variant["properties"][name]["description"] for name in optional), where
            assert all(field == {**field, "type": "string"} for field in variant["properties"].values()), where
        for status in ("400", "413", "415"):
            assert status in operation["responses"], f"{where}: {status}"
    # 19 at the base; +2 the admin API's user creation and invitation (issue 26); +1 new recovery codes (issue 24);
    # +1 the admin API's groups (issue 26)
    assert bodies == 23  # beginning a TOTP enrolment and asking for passkey options take the password (issue 30)
    # 12 at the base; +1 the step-up form (issue 25); +8 the account page's forms (issue 24)
    assert forms == 21
    assert ceremonies == 3
    assert lists == 1  # the admin API's groups (issue 26)


def _check_list_body(document: dict[str, Any], body: dict[str, Any], operation: dict[str, Any], where: str) -> None:
    """A list of names (a user's groups): JSON only (a form has no arrays), one field, an array of strings."""
    schema = resolve(document, body["content"]["application/json"]["schema"])
    assert schema["type"] == "object" and schema["additionalProperties"] is False, where
    assert schema["required"] == list(schema["properties"]), where
    assert all(
        field["type"] == "array" and field["items"]["type"] == "string" for field in schema["properties"].values()
    )
    for status in ("400", "413", "415"):
        assert status in operation["responses"], f"{where}: {status}"


def _check_ceremony_body(document: dict[str, Any], body: dict[str, Any], operation: dict[str, Any], where: str) -> None:
    """A passkey ceremony's answer: JSON only (the browser's credential is an object), exact fields otherwise."""
    assert set(body["content"]) == {"application/json"}, where
    schema = resolve(document, body["content"]["application/json"]["schema"])
    assert schema["type"] == "object" and schema["additionalProperties"] is False, where
    assert "credential" in schema["required"], where
    assert schema["properties"]["credential"] == {"$ref": "#/components/schemas/PublicKeyCredential"}, where
    others = {name: field for name, field in schema["properties"].items() if name != "credential"}
    assert all(field == {**field, "type": "string"} for field in others.values()), where
    for status in ("400", "413", "415"):
        assert status in operation["responses"], f"{where}: {status}"


def _check_portal_form(document: dict[str, Any], operation: dict[str, Any], where: str) -> None:
    """The portal's forms: urlencoded or multipart only, exact string fields, some of them optional."""
    body = resolve(document, operation["requestBody"])
    assert body["required"] is True, where
    assert set(body["content"]) == FORM_TYPES - {"application/json"}, where
    schema = resolve(document, body["content"]["application/x-www-form-urlencoded"]["schema"])
    assert schema["type"] == "object" and schema["additionalProperties"] is False, where
    assert "csrf" in schema["required"] and set(schema["required"]) <= set(schema["properties"]), where
    assert all(field == {**field, "type": "string"} for field in schema["properties"].values()), where
    for status in ("400", "403", "413", "415"):
        assert status in operation["responses"], f"{where}: {status}"


def test_the_yaml_writes_no_request_body_a_model_declares() -> None:
    written = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))["components"]
    for model in REQUEST_BODIES:
        assert model.__name__ not in written["schemas"], f"{model.__name__}: generated, not written by hand"
        assert model.__name__ not in written["requestBodies"], f"{model.__name__}: generated, not written by hand"


def test_every_json_body_is_served_as_its_model_generates_it(document: dict[str, Any]) -> None:
    models = {f"#/components/requestBodies/{model.__name__}": model for model in REQUEST_BODIES}
    served = set()
    for path, method, operation in operations(document):
        if "requestBody" not in operation or "portal" in operation.get("tags", []):
            continue
        where, reference = f"{method.upper()} {path}", operation["requestBody"].get("$ref")
        assert reference in models, f"{where}: the body is not one of web/api/bodies.py's models"
        model = served_model = models[reference]
        schema = {"$ref": f"#/components/schemas/{model.__name__}"}
        body = resolve(document, operation["requestBody"])
        assert body == {"required": True, "content": {media: {"schema": schema} for media in media_types(model)}}, where
        assert document["components"]["schemas"][model.__name__] == body_schema(served_model), where
        served.add(model)
    assert served == set(REQUEST_BODIES), f"models no operation takes: {set(REQUEST_BODIES) - served}"


def _model_read_by(handler: Callable[..., Any]) -> str | None:
    """The model the handler's own code passes to read_body (its decorators keep its module and name)."""
    tree = ast.parse(inspect.getsource(sys.modules[handler.__module__]))
    found = [
        node for node in ast.walk(tree) if isinstance(node, ast.AsyncFunctionDef) and node.name == handler.__name__
    ]
    assert len(found) == 1, f"{handler.__module__}.{handler.__name__}"
    models = [
        call.args[1].id
        for call in ast.walk(found[0])
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "read_body"
        if isinstance(call.args[1], ast.Name)
    ]
    assert len(models) <= 1, f"{handler.__name__} reads two bodies"
    return models[0] if models else None


def test_every_handler_reads_the_body_its_operation_documents(
    document: dict[str, Any], make_container: Callable[..., Container]
) -> None:
    admin = {"tokens": [{"name": "ops", "token": "o" * 32, "scopes": ["users:read"]}]}
    app = create_app(make_container(admin=admin))
    read = {}
    for route in app.router.routes():
        assert route.resource is not None
        if route.method != "*":
            read[(route.method.lower(), route.resource.canonical)] = _model_read_by(route.handler)
    checked = 0
    for path, method, operation in operations(document):
        if (method, path) not in read or "portal" in operation.get("tags", []):
            continue
        documented = operation.get("requestBody", {}).get("$ref", "").removeprefix("#/components/requestBodies/")
        assert read[(method, path)] == (documented or None), f"{method.upper()} {path}"
        checked += bool(documented)
    assert checked == len([op for _, _, op in operations(document) if "requestBody" in op]) - 21  # 21 portal forms


def test_verify_is_the_same_operation_under_every_method(document: dict[str, Any]) -> None:
    variants = [op for path, _, op in operations(document) if path.startswith("/auth/verify")]
    assert len(variants) == 2 * len(METHODS)
    for variant in variants:
        assert variant["responses"] == variants[0]["responses"]
        assert variant["security"] == [{"sessionCookie": []}]


async def test_served_document_is_the_yaml(aiohttp_client: Any, container: Container, document: dict[str, Any]) -> None:
    client = await aiohttp_client(create_app(container))
    response = await client.get("/openapi.json")
    assert response.status == 200 and response.content_type == "application/json"
    assert await response.json() == document
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")


ASSET = re.compile(r"""<(script|link)\b[^>]*\b(?:src|href)="([^"]*)"[^>]*>""")


async def test_docs_page_is_swagger_ui_from_our_own_files_under_a_self_only_csp(
    aiohttp_client: Any, container: Container
) -> None:
    client = await aiohttp_client(create_app(container))
    page = await client.get("/docs")
    assert page.status == 200 and page.content_type == "text/html"
    assert page.headers["Content-Security-Policy"] == DOCS_CSP
    assert page.headers["X-Frame-Options"] == "DENY" and page.headers["X-Content-Type-Options"] == "nosniff"
    html = await page.text()
    assert "<style" not in html and "style=" not in html
    assert re.findall(r"<script\b[^>]*>([^<]*)</script>", html) == ["", ""], "an inline script"
    assets = [url for _, url in ASSET.findall(html)]
    assert "/docs/static/swagger-ui-bundle.js" in assets and "/docs/static/init.js" in assets
    texts = {"/docs": html}
    for url in assets:
        assert url.startswith("/docs/static/"), url
        response = await client.get(url)
        assert response.status == 200, url
        assert response.headers["Content-Security-Policy"] == DOCS_CSP, url
        assert response.content_type in {"text/javascript", "text/css", "image/png"}, url
        if response.content_type != "image/png":
            texts[url] = await response.text()
    # Nothing is loaded from elsewhere: no outside URL in the page or our script, no @import or remote url() in CSS.
    for url in ("/docs", "/docs/static/init.js"):
        assert not re.search(r"https?://", texts[url]), url
    for url, text in texts.items():
        if url.endswith(".css"):
            assert "@import" not in text and not re.search(r"url\(\s*['\"]?(https?:)?//", text), url
    assert "validatorUrl: null" in texts["/docs/static/init.js"]  # else Swagger UI asks an outside validator


@pytest.mark.parametrize("name", ["index.html", "swagger-ui-bundle.js.map", "oauth2-redirect.html", "..%2Fdocs.py"])
async def test_docs_static_serves_only_its_listed_files(aiohttp_client: Any, container: Container, name: str) -> None:
    client = await aiohttp_client(create_app(container))
    response = await client.get(f"/docs/static/{name}")
    assert response.status == 404 and response.content_type == "application/problem+json"
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
