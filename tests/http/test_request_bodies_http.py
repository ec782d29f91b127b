"""read_body (issue 23, phase 2, item 6): one reader for every JSON body, its refusals as the three readers it
replaced answered them (read_fields, read_ceremony, read_string_list): the same pointers, wording and order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from authsvc.containers import Container
from authsvc.web.api.bodies import AdminGroups, ForgotPassword, PasskeyRegistration, SignupRequest
from authsvc.web.app import create_app
from authsvc.web.edge.bodies import Body, field_kinds, read_body

Client = TestClient[Any, Any]
MODELS: dict[str, type[Body]] = {
    "signup": SignupRequest,
    "forgot": ForgotPassword,
    "ceremony": PasskeyRegistration,
    "groups": AdminGroups,
}


@pytest.fixture
async def client(aiohttp_client: Any, make_container: Callable[..., Container]) -> Client:
    def reader(model: type[Body]) -> Callable[[web.Request], Any]:
        async def read(request: web.Request) -> web.Response:
            body = await read_body(request, model)
            return web.json_response(body.model_dump(exclude_unset=True))

        return read

    app = create_app(make_container())
    for name, model in MODELS.items():
        app.router.add_post(f"/t/{name}", reader(model))
    made: Client = await aiohttp_client(app)
    return made


def error(pointer: str, detail: str) -> dict[str, str]:
    return {"pointer": f"#/{pointer}", "detail": detail}


@pytest.mark.parametrize(
    ("route", "body", "errors"),
    [
        ("signup", {"email": None, "x": 1}, [error("username", "is required"), error("password", "is required"),
                                            error("x", "is not allowed"), error("email", "must be a string")]),
        ("signup", {"username": "a", "password": "\ud800"}, [error("password", "must be valid Unicode text")]),
        ("forgot", {"username": 1, "email": 2, "x": 3}, [error("username", "send exactly one of username, email"),
                                                        error("x", "is not allowed"),
                                                        error("username", "must be a string"),
                                                        error("email", "must be a string")]),
        ("ceremony", {"name": 1, "x": "y"}, [error("credential", "must be a JSON object"), error("x", "is not allowed"),
                                            error("name", "must be a string")]),
        ("ceremony", {}, [error("credential", "must be a JSON object"), error("name", "is required")]),
        ("groups", {"x": 1}, [error("x", "is not allowed"), error("groups", "is required")]),
        ("groups", {"groups": ["a", 1]}, [error("groups", "must be an array of strings")]),
    ],
)  # fmt: skip
async def test_each_refusal_keeps_its_pointer_wording_and_order(
    client: Client, route: str, body: dict[str, Any], errors: list[dict[str, str]]
) -> None:
    response = await client.post(f"/t/{route}", json=body)
    assert response.status == 400 and response.content_type == "application/problem+json"
    assert (await response.json())["errors"] == errors


@pytest.mark.parametrize(
    ("route", "body", "read"),
    [
        ("signup", {"username": "a", "password": "b"}, {"username": "a", "password": "b"}),
        ("forgot", {"email": "a@example.com"}, {"email": "a@example.com"}),
        ("ceremony", {"name": "key", "credential": {"id": "x"}}, {"name": "key", "credential": {"id": "x"}}),
        ("groups", {"groups": ["admins"]}, {"groups": ["admins"]}),
    ],
)
async def test_a_body_with_the_declared_fields_is_read_as_its_model(
    client: Client, route: str, body: dict[str, Any], read: dict[str, Any]
) -> None:
    response = await client.post(f"/t/{route}", json=body)
    assert response.status == 200 and await response.json() == read


async def test_a_form_is_read_unless_the_model_has_a_list(client: Client) -> None:
    assert (await client.post("/t/signup", data={"username": "a", "password": "b"})).status == 200
    response = await client.post("/t/groups", data={"groups": "admins"})
    assert response.status == 415 and (await response.json())["detail"] == "Send application/json."


def test_a_body_field_is_a_string_a_list_of_strings_or_an_object() -> None:
    class Counted(Body):
        count: int

    with pytest.raises(TypeError, match=r"Counted\.count"):
        field_kinds(Counted)
