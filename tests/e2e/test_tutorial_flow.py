"""The tutorial's Postman flow against the real `authsvc serve` process, over real HTTP, with a cookie jar."""

from __future__ import annotations

import asyncio

import aiohttp

from tests.driver import PASSWORD, new_name, session_cookie
from tests.helpers import AuthsvcProcess


async def test_tutorial_flow_signup_login_protected_logout(http: aiohttp.ClientSession) -> None:
    name = new_name("Alice")
    signup = await http.post("/users/signup", json={"username": name, "password": PASSWORD})
    assert signup.status == 201
    body = await signup.json()
    assert body.keys() == {"msg", "userId", "userName"}
    assert body["msg"] == "User successfully registered" and body["userName"] == name.lower()

    login = await http.post("/users/login", data={"username": name, "password": PASSWORD})  # a form, as Postman
    assert login.status == 200
    assert await login.json() == {"User": {"userId": body["userId"], "userName": name.lower()}, "msg": "User logged in"}
    set_cookie = login.headers["Set-Cookie"]
    for attribute in ("HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=1800"):
        assert attribute in set_cookie
    assert len(session_cookie(login)) <= 300

    protected = await http.get("/users/protected")
    assert protected.status == 200
    assert await protected.json() == {"userId": body["userId"], "userName": name.lower()}

    logout = await http.post("/users/logout")
    assert logout.status == 200 and await logout.json() == {"msg": "The user session has ended"}
    assert (await http.get("/users/protected")).status == 401


async def test_every_response_carries_security_headers(http: aiohttp.ClientSession) -> None:
    for response in [await http.get("/healthz"), await http.get("/users/protected"), await http.get("/nowhere")]:
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"


async def test_signup_of_taken_name_in_other_case_is_409(http: aiohttp.ClientSession) -> None:
    name = new_name("bob")
    assert (await http.post("/users/signup", json={"username": name, "password": PASSWORD})).status == 201
    again = await http.post("/users/signup", json={"username": name.upper(), "password": PASSWORD})
    assert again.status == 409
    assert again.content_type == "application/problem+json"


async def test_v6_3_8_unknown_user_and_wrong_password_get_identical_401(http: aiohttp.ClientSession) -> None:
    name = new_name()
    await http.post("/users/signup", json={"username": name, "password": PASSWORD})
    wrong = await http.post("/users/login", json={"username": name, "password": "wrong password"})
    unknown = await http.post("/users/login", json={"username": new_name("ghost"), "password": "wrong password"})
    assert wrong.status == unknown.status == 401
    assert await wrong.json() == await unknown.json()
    assert "Set-Cookie" not in wrong.headers


async def test_v7_2_4_new_session_token_on_login(authsvc: AuthsvcProcess) -> None:
    name = new_name()
    async with aiohttp.ClientSession(authsvc.url, cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await http.post("/users/signup", json={"username": name, "password": PASSWORD})
        first = session_cookie(await http.post("/users/login", json={"username": name, "password": PASSWORD}))
        second_login = await http.post("/users/login", json={"username": name, "password": PASSWORD})
        second = session_cookie(second_login)
    assert first != second
    # the session the browser held before the new login is over
    async with aiohttp.ClientSession(authsvc.url) as stranger:
        assert (await stranger.get("/users/protected", headers={"Cookie": f"sid={first}"})).status == 401
        assert (await stranger.get("/users/protected", headers={"Cookie": f"sid={second}"})).status == 200


async def test_planted_cookie_never_becomes_the_logged_in_one(authsvc: AuthsvcProcess) -> None:
    name = new_name()
    async with aiohttp.ClientSession(authsvc.url) as http:
        await http.post("/users/signup", json={"username": name, "password": PASSWORD})
        planted = "gAAAAABplanted-by-an-attacker"
        login = await http.post(
            "/users/login", json={"username": name, "password": PASSWORD}, headers={"Cookie": f"sid={planted}"}
        )
        assert session_cookie(login) != planted


async def test_v7_4_1_logout_revokes_copied_cookie(authsvc: AuthsvcProcess) -> None:
    name = new_name()
    async with aiohttp.ClientSession(authsvc.url, cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await http.post("/users/signup", json={"username": name, "password": PASSWORD})
        copied = session_cookie(await http.post("/users/login", json={"username": name, "password": PASSWORD}))
        logout = await http.get("/users/logout")  # the tutorial's GET
        assert logout.status == 200
        assert "Max-Age=0" in logout.headers["Set-Cookie"]
    async with aiohttp.ClientSession(authsvc.url) as thief:
        assert (await thief.get("/users/protected", headers={"Cookie": f"sid={copied}"})).status == 401


async def test_logout_without_session_is_200(http: aiohttp.ClientSession) -> None:
    for method in ("GET", "POST"):
        response = await http.request(method, "/users/logout")
        assert response.status == 200
        assert await response.json() == {"msg": "The user session has ended"}


async def test_tampered_cookie_is_401(authsvc: AuthsvcProcess) -> None:
    name = new_name()
    async with aiohttp.ClientSession(authsvc.url) as http:
        await http.post("/users/signup", json={"username": name, "password": PASSWORD})
        cookie = session_cookie(await http.post("/users/login", json={"username": name, "password": PASSWORD}))
        flipped = cookie[:-5] + ("A" if cookie[-5] != "A" else "B") + cookie[-4:]
        response = await http.get("/users/protected", headers={"Cookie": f"sid={flipped}"})
        assert response.status == 401
        assert response.content_type == "application/problem+json"


async def test_protected_without_session_is_401_not_403(http: aiohttp.ClientSession) -> None:
    response = await http.get("/users/protected")
    assert response.status == 401
    body = await response.json()
    assert body["status"] == 401 and body["title"] == "Unauthorized"


async def test_16_concurrent_signups_of_one_name_give_one_201(http: aiohttp.ClientSession) -> None:
    name = new_name("race")
    responses = await asyncio.gather(
        *(http.post("/users/signup", json={"username": name, "password": PASSWORD}) for _ in range(16))
    )
    statuses = sorted(r.status for r in responses)
    assert statuses == [201] + [409] * 15


async def test_healthz(http: aiohttp.ClientSession) -> None:
    assert (await http.get("/healthz")).status == 200
