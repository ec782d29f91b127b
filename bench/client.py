"""The few set-up calls the bench makes itself (sign-up, login), over plain HTTP to 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import Message
from http.cookies import SimpleCookie
from typing import Any

import aiohttp

from bench.procs import BenchError

PASSWORD = "bench-Passw0rd-x7"  # noqa: S105 (a throw-away account on 127.0.0.1); long enough, not a common password, never the username
USER_PREFIX = "benchuser"
SESSION_COOKIE = re.compile(r"(__Host-)?sid=")  # config.yaml's session.cookie_name


@dataclass(frozen=True)
class Login:
    cookie_name: str
    cookie_value: str
    set_cookie: str  # the whole Set-Cookie header, attributes included
    user_id: str

    @property
    def cookie_header(self) -> str:
        return f"{self.cookie_name}={self.cookie_value}"


def _post(url: str, body: dict[str, Any], timeout: float = 30.0) -> tuple[int, Message, Any]:
    request = urllib.request.Request(  # noqa: S310 (127.0.0.1 only)
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, response.headers, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read().decode(errors="replace")


def signup(base_url: str, username: str, password: str = PASSWORD) -> None:
    status, _, body = _post(base_url + "/users/signup", {"username": username, "password": password})
    if status not in (201, 409):
        raise BenchError(f"sign-up of {username} answered {status}: {body}")


def login(base_url: str, username: str, password: str = PASSWORD) -> Login:
    status, headers, body = _post(base_url + "/users/login", {"username": username, "password": password})
    if status != 200:
        raise BenchError(f"login of {username} answered {status}: {body}")
    # The session cookie, not the device cookie the same answer sets (a dict of the headers kept only the last one,
    # so runs before this fix measured verify's 401 answer).
    raw = next((value for value in headers.get_all("Set-Cookie") or [] if SESSION_COOKIE.match(value)), None)
    if raw is None:
        raise BenchError("the login answered no session Set-Cookie")
    morsel = next(iter(SimpleCookie(raw).values()))
    return Login(morsel.key, morsel.value, raw, body["User"]["userId"])


def signup_and_login(base_url: str, username: str = USER_PREFIX + "0") -> Login:
    signup(base_url, username)
    return login(base_url, username)


async def _signup_many(base_url: str, names: list[str], concurrency: int) -> None:
    limit = asyncio.Semaphore(concurrency)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def one(name: str) -> None:
            async with limit:
                body = {"username": name, "password": PASSWORD}
                async with session.post(base_url + "/users/signup", json=body) as response:
                    if response.status not in (201, 409):
                        raise BenchError(f"sign-up of {name} answered {response.status}: {await response.text()}")

        await asyncio.gather(*(one(name) for name in names))


def signup_many(base_url: str, count: int, prefix: str = USER_PREFIX, concurrency: int = 8) -> None:
    """Register prefix0 .. prefix{count-1} through the API (use a low bcrypt cost for large counts)."""
    asyncio.run(_signup_many(base_url, [f"{prefix}{i}" for i in range(count)], concurrency))
