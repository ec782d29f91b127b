"""server.public_url is one of the portal's own origins: behind a gateway the browser comes back to the public name,
not to the host the request reached, and a return address there is as much the portal's own as a path."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from authsvc.web.app import create_app
from tests.driver import post_login, signup_and_login

Client = TestClient[Any, Any]
PUBLIC = "https://auth.example.com"


async def test_a_return_address_on_the_public_url_is_kept_and_followed(
    make_container: Any, aiohttp_client: Any
) -> None:
    portal: Client = await aiohttp_client(create_app(make_container(server={"public_url": PUBLIC})))
    page = await (await portal.get("/login", params={"rd": f"{PUBLIC}/account?tab=2"})).text()
    assert f'<input type="hidden" name="rd" value="{PUBLIC}/account?tab=2">' in page
    elsewhere = await (await portal.get("/login", params={"rd": "https://other.example.com/account"})).text()
    assert 'name="rd"' not in elsewhere
    await signup_and_login(portal)
    signed_in = await post_login(portal, rd=f"{PUBLIC}/app")
    assert signed_in.status == 303 and signed_in.headers["Location"] == f"{PUBLIC}/app"


async def test_without_a_public_url_only_the_host_reached_is_own(make_container: Any, aiohttp_client: Any) -> None:
    portal: Client = await aiohttp_client(create_app(make_container()))
    page = await (await portal.get("/login", params={"rd": f"{PUBLIC}/account"})).text()
    assert 'name="rd"' not in page
    own = f"http://{portal.host}:{portal.port}/app"
    assert f'name="rd" value="{own}"' in await (await portal.get("/login", params={"rd": own})).text()
