"""The admin API over HTTP against the app in-process: tokens and scopes, finding and paging users, creating and
inviting them (through a real SMTP server), and what disabling does on every login path. ASVS v5 8.2.1 / 8.3.1
(access control enforced at a trusted service layer, per function), 8.1.1 (documented rules: SECURITY.md)."""

from __future__ import annotations

import secrets
from typing import Any

import bcrypt
import pytest
from aiohttp.test_utils import TestClient

from authsvc.config import ConfigError, load_settings
from authsvc.web.app import create_app
from tests.driver import (
    ADMIN,
    PASSWORD,
    code_at,
    enrol,
    enrolled,
    login,
    passwordless,
    post_login,
    protected_with,
    signup,
)
from tests.driver import ADMIN_READER as READER
from tests.driver import ADMIN_READER_TOKEN as READER_TOKEN
from tests.driver import ADMIN_ROOT as ROOT
from tests.driver import ADMIN_ROOT_TOKEN as ROOT_TOKEN
from tests.helpers import ManualClock
from tests.smtp import SmtpServer, smtp_sections, token_in
from tests.unit.test_production_guards import production, refusal
from tests.webauthn_authenticator import SoftAuthenticator

Client = TestClient[Any, Any]


@pytest.fixture
async def client(aiohttp_client: Any, make_container: Any) -> Client:
    return await aiohttp_client(create_app(make_container(**ADMIN)))


async def user_id(client: Client, name: str) -> str:
    found = await client.get("/admin/users", params={"prefix": name}, headers=ROOT)
    assert found.status == 200
    [user] = [u for u in (await found.json())["users"] if u["username"] == name]
    return str(user["id"])


async def test_admin_is_not_served_without_a_configured_token(aiohttp_client: Any, make_container: Any) -> None:
    bare: Client = await aiohttp_client(create_app(make_container()))
    assert (await bare.get("/admin/users", headers=ROOT)).status == 404


async def test_v8_3_1_no_token_or_a_wrong_one_is_401_and_a_missing_scope_403(client: Client) -> None:
    for headers in ({}, {"Authorization": "Bearer " + "x" * 43}, {"Authorization": f"Basic {ROOT_TOKEN}"}):
        refused = await client.get("/admin/users", headers=headers)
        assert refused.status == 401 and refused.headers["WWW-Authenticate"] == "Bearer"
        assert refused.content_type == "application/problem+json"
    assert (await client.get("/admin/users", headers=READER)).status == 200
    created = await client.post("/admin/users", json={"username": "bob", "password": PASSWORD}, headers=READER)
    assert created.status == 403 and "users:write" in (await created.json())["detail"]
    assert (await client.get("/admin/users", params={"prefix": "bob"}, headers=READER)).status == 200
    assert (await (await client.get("/admin/users", headers=READER)).json())["users"] == []


async def test_create_get_and_delete_a_user(client: Client) -> None:
    created = await client.post("/admin/users", json={"username": "Bob", "password": PASSWORD}, headers=ROOT)
    assert created.status == 201
    bob = await created.json()
    assert bob["username"] == "bob" and bob["state"] == "active"
    assert (await login(client, "bob")).status == 200
    shown = await (await client.get(f"/admin/users/{bob['id']}", headers=ROOT)).json()
    assert shown | {"sessions": None} == bob | {
        "email": None,
        "emailVerified": False,
        "secondFactors": [],
        "sessions": None,
    }
    assert shown["sessions"] == 1
    taken = await client.post("/admin/users", json={"username": "BOB", "password": PASSWORD}, headers=ROOT)
    assert taken.status == 409
    weak = await client.post("/admin/users", json={"username": "carol", "password": "password"}, headers=ROOT)
    assert weak.status == 422
    assert (await client.delete(f"/admin/users/{bob['id']}", headers=ROOT)).status == 204
    assert (await client.get("/users/protected")).status == 401
    assert (await client.get(f"/admin/users/{bob['id']}", headers=ROOT)).status == 404
    assert (await client.delete(f"/admin/users/{bob['id']}", headers=ROOT)).status == 404
    assert (await login(client, "bob")).status == 401


async def test_users_page_by_name_with_cursors_prefix_and_state(client: Client) -> None:
    names = [f"user{i:02d}" for i in range(12)] + ["zed"]
    for name in reversed(names):
        await signup(client, name)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "5", **({"cursor": cursor} if cursor else {})}
        page = await (await client.get("/admin/users", params=params, headers=ROOT)).json()
        seen += [user["username"] for user in page["users"]]
        if (cursor := page["nextCursor"]) is None:
            break
    assert seen == sorted(names)
    prefixed = await (await client.get("/admin/users", params={"prefix": "User1"}, headers=ROOT)).json()
    assert [u["username"] for u in prefixed["users"]] == ["user10", "user11"] and prefixed["nextCursor"] is None
    zed = await user_id(client, "zed")
    assert (await client.post(f"/admin/users/{zed}/disable", headers=ROOT)).status == 200
    disabled = await (await client.get("/admin/users", params={"state": "disabled"}, headers=ROOT)).json()
    assert [u["username"] for u in disabled["users"]] == ["zed"]
    active = await (await client.get("/admin/users", params={"state": "active", "limit": "5"}, headers=ROOT)).json()
    assert "zed" not in [u["username"] for u in active["users"]] and len(active["users"]) == 5


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "6"},
        {"limit": "0"},
        {"limit": "x"},
        {"limit": "²"},
        {"state": "gone"},
        {"cursor": "!!!"},
        {"prefix": "a" * 257},
    ],
)
async def test_bad_queries_are_400_problems(client: Client, params: dict[str, str]) -> None:
    refused = await client.get("/admin/users", params=params, headers=ROOT)
    assert refused.status == 400 and refused.content_type == "application/problem+json"


async def test_find_a_user_by_email_address_whose_domain_matches_in_any_case(client: Client) -> None:
    body = {"username": "erin", "password": PASSWORD, "email": "Erin@Example.com"}
    assert (await client.post("/admin/users", json=body, headers=ROOT)).status == 201
    await signup(client, "frank")
    found = await (await client.get("/admin/users", params={"email": "Erin@EXAMPLE.com"}, headers=ROOT)).json()
    assert [u["username"] for u in found["users"]] == ["erin"]
    none = await (await client.get("/admin/users", params={"email": "nobody@example.com"}, headers=ROOT)).json()
    assert none == {"users": [], "nextCursor": None}


async def test_an_invitation_mails_a_link_that_sets_the_password(
    make_container: Any, aiohttp_client: Any, smtp_server: SmtpServer
) -> None:
    web: Client = await aiohttp_client(create_app(make_container(**ADMIN, **smtp_sections(smtp_server))))
    invited = await web.post("/admin/invitations", json={"username": "gina", "email": "gina@example.com"}, headers=ROOT)
    assert invited.status == 201
    gina = await invited.json()
    trail = await (await web.get("/admin/events", params={"user": gina["id"]}, headers=ROOT)).json()
    invitation = [(e["type"], e["actor"]) for e in trail["events"]]
    assert invitation == [  # the administrator's doing, each once: not the user's, and not invited twice
        ("signup", "admin:root"),
        ("invitation.mailed", "admin:root"),
        ("account.invited", "admin:root"),
    ]
    token = token_in(
        await smtp_server.wait_for("gina@example.com", "You have been invited: choose your password"), "reset"
    )
    reset = await web.post("/users/password/reset", json={"token": token, "newPassword": PASSWORD})
    assert reset.status == 200
    assert (await login(web, "gina")).status == 200
    shown = await (await web.get(f"/admin/users/{gina['id']}", headers=ROOT)).json()
    assert shown["email"] == "gina@example.com" and shown["emailVerified"] is True
    again = await web.post("/admin/invitations", json={"username": "gina2", "email": "gina@example.com"}, headers=ROOT)
    assert again.status == 409

    sent = await web.post(f"/admin/users/{gina['id']}/reset-link", headers=ROOT)
    assert sent.status == 202
    assert (await smtp_server.wait_for("gina@example.com", "Reset your password")) is not None
    assert (await web.post("/admin/users", json={"username": "hal", "password": PASSWORD}, headers=ROOT)).status == 201
    hal = await user_id(web, "hal")
    assert (await web.post(f"/admin/users/{hal}/reset-link", headers=ROOT)).status == 409


async def test_end_sessions_and_reset_second_factors(client: Client, clock: ManualClock) -> None:
    await enrol(client, clock)
    alice = await user_id(client, "alice")
    other = await client.delete(f"/admin/users/{alice}/sessions", headers=READER)
    assert other.status == 403
    ended = await client.delete(f"/admin/users/{alice}/sessions", headers=ROOT)
    assert ended.status == 200 and (await ended.json())["ended"] == 1
    assert (await client.get("/users/protected")).status == 401
    assert (await (await client.get(f"/admin/users/{alice}", headers=ROOT)).json())["secondFactors"] == ["totp"]
    reset = await client.delete(f"/admin/users/{alice}/mfa", headers=ROOT)
    assert reset.status == 200 and (await reset.json())["removed"] is True
    assert (await (await login(client)).json())["msg"] == "User logged in"  # no second step any more
    assert (await (await client.delete(f"/admin/users/{alice}/mfa", headers=ROOT)).json())["removed"] is False


async def test_a_disabled_user_is_refused_like_a_wrong_password_and_loses_every_session(client: Client) -> None:
    await signup(client, "alice")
    assert (await login(client)).status == 200
    session = client.session.cookie_jar.filter_cookies(client.make_url("/"))["sid"].value
    assert (await client.get("/auth/verify")).status == 200
    wrong = await client.post("/users/login", json={"username": "alice", "password": "not the password"})
    alice = await user_id(client, "alice")

    disabled = await client.post(f"/admin/users/{alice}/disable", headers=ROOT)
    assert disabled.status == 200 and (await disabled.json())["state"] == "disabled"
    assert await protected_with(client, session) == 401
    assert (await client.get("/auth/verify", headers={"Cookie": f"sid={session}"})).status == 401
    refused = await login(client)
    assert refused.status == wrong.status == 401 and await refused.json() == await wrong.json()
    assert (await client.post("/users/password/forgot", json={"username": "alice"})).status == 202

    assert (await client.post(f"/admin/users/{alice}/enable", headers=ROOT)).status == 200
    assert (await login(client)).status == 200


async def test_a_disabled_users_pending_second_factor_login_ends(client: Client, clock: ManualClock) -> None:
    secret, codes = await enrol(client, clock)
    first = await login(client)
    assert (await first.json())["mfa"]["methods"] == ["totp"]
    await client.post(f"/admin/users/{await user_id(client, 'alice')}/disable", headers=ROOT)
    second = await client.post("/users/login/mfa", json={"code": code_at(secret, clock)})
    assert second.status == 401
    assert (await client.post("/users/login/mfa", json={"code": codes[0]})).status == 401


async def test_a_disabled_users_passkey_signs_in_neither_as_second_step_nor_passwordless(client: Client) -> None:
    authenticator = SoftAuthenticator()
    await enrolled(client, authenticator)
    alice = await user_id(client, "alice")
    assert (await passwordless(client, authenticator)).status == 200
    await client.post(f"/admin/users/{alice}/disable", headers=ROOT)
    assert (await passwordless(client, authenticator)).status == 401
    assert (await login(client)).status == 401  # the password step refuses before the passkey step is offered
    await client.post(f"/admin/users/{alice}/enable", headers=ROOT)
    assert (await passwordless(client, authenticator)).status == 200


async def test_a_disabled_users_reset_link_is_dead(
    make_container: Any, aiohttp_client: Any, smtp_server: SmtpServer
) -> None:
    web: Client = await aiohttp_client(create_app(make_container(**ADMIN, **smtp_sections(smtp_server))))
    invited = await web.post("/admin/invitations", json={"username": "ivy", "email": "ivy@example.com"}, headers=ROOT)
    ivy = (await invited.json())["id"]
    token = token_in(
        await smtp_server.wait_for("ivy@example.com", "You have been invited: choose your password"), "reset"
    )
    assert (await web.post(f"/admin/users/{ivy}/disable", headers=ROOT)).status == 200
    reset = await web.post("/users/password/reset", json={"token": token, "newPassword": PASSWORD})
    assert reset.status == 422
    assert (await login(web, "ivy")).status == 401


async def test_unknown_users_are_404_on_every_route(client: Client) -> None:
    for method, path in [
        ("GET", ""),
        ("DELETE", ""),
        ("POST", "/disable"),
        ("POST", "/enable"),
        ("DELETE", "/sessions"),
        ("DELETE", "/mfa"),
        ("POST", "/reset-link"),
        ("PUT", "/groups"),
    ]:
        body = {"groups": ["admins"]} if method == "PUT" else None
        answer = await client.request(method, f"/admin/users/{'0' * 24}{path}", json=body, headers=ROOT)
        assert answer.status == 404 and answer.content_type == "application/problem+json", (method, path)


def test_admin_tokens_need_distinct_names_and_production_refuses_weak_ones() -> None:
    twice = '[{name: ops, token: "' + "a1" * 16 + '", scopes: [users:read]}, {name: ops, token: "' + "b2" * 16
    with pytest.raises(ConfigError, match=r"admin\.tokens"):
        load_settings(environ={"AUTHSVC__ADMIN__TOKENS": twice + '", scopes: [users:read]}]'})
    weak = '[{name: ops, token: "' + "password" * 4 + '", scopes: [users:read]}]'
    refused = refusal(production(AUTHSVC__ADMIN__TOKENS=weak))
    assert "admin.tokens: the token of ops has too little variety" in refused and "password" not in refused
    strong = '[{name: ops, token: "' + secrets.token_urlsafe(32) + '", scopes: [users:read, events:read]}]'
    assert load_settings(env="production", environ=production(AUTHSVC__ADMIN__TOKENS=strong)).admin.tokens
    with pytest.raises(ConfigError, match=r"admin\.tokens"):
        load_settings(environ={"AUTHSVC__ADMIN__TOKENS": '[{name: ops, token: "' + "c3" * 16 + '", scopes: [root]}]'})


async def test_a_disabled_users_address_stays_theirs(client: Client) -> None:
    body = {"username": "jill", "password": PASSWORD, "email": "jill@example.com"}
    jill = await (await client.post("/admin/users", json=body, headers=ROOT)).json()
    assert (await client.post(f"/admin/users/{jill['id']}/disable", headers=ROOT)).status == 200
    taker = {"username": "mallory", "password": PASSWORD, "email": "jill@example.com"}
    assert (await client.post("/users/signup", json=taker)).status == 409
    assert (await (await client.get(f"/admin/users/{jill['id']}", headers=ROOT)).json())["email"] == "jill@example.com"


async def test_a_disabled_user_gets_the_portals_wrong_password_page(client: Client) -> None:
    await signup(client, "alice")
    wrong = await post_login(client, password="wrong password")
    await client.post(f"/admin/users/{await user_id(client, 'alice')}/disable", headers=ROOT)
    refused = await post_login(client)
    assert refused.status == wrong.status == 401
    assert "Invalid username or password." in await refused.text()
    assert not any(
        line.startswith("sid=") and "Max-Age=0" not in line for line in refused.headers.getall("Set-Cookie", [])
    )


async def test_set_groups_is_seen_by_the_next_gateway_check_and_is_the_clis_event(client: Client) -> None:
    await signup(client, "alice")
    assert (await login(client)).status == 200
    before = await client.get("/auth/verify")
    assert before.status == 200 and before.headers["X-Auth-User-Groups"] == ""
    alice = await user_id(client, "alice")
    body = {"groups": ["dev", "admins", "dev"]}
    assert (await client.put(f"/admin/users/{alice}/groups", json=body, headers=READER)).status == 403
    changed = await client.put(f"/admin/users/{alice}/groups", json=body, headers=ROOT)
    assert changed.status == 200 and (await changed.json())["groups"] == ["admins", "dev"]  # sorted, once each
    after = await client.get("/auth/verify")  # the same session, not logged in again
    assert after.status == 200 and after.headers["X-Auth-User-Groups"] == "admins,dev"
    shown = await (await client.get(f"/admin/users/{alice}", headers=ROOT)).json()
    assert shown["groups"] == ["admins", "dev"]
    trail = await (await client.get("/admin/events", params={"type": "user.groups"}, headers=ROOT)).json()
    assert [(e["actor"], e["userId"]) for e in trail["events"]] == [("admin:root", alice)]
    cleared = await client.put(f"/admin/users/{alice}/groups", json={"groups": []}, headers=ROOT)
    assert cleared.status == 200 and (await cleared.json())["groups"] == []
    assert (await client.get("/auth/verify")).headers["X-Auth-User-Groups"] == ""


@pytest.mark.parametrize(
    "body",
    [
        {"groups": ["has space"]},
        {"groups": ["x" * 65]},
        {"groups": [""]},
        {"groups": [f"g{i}" for i in range(65)]},
        {"groups": "admins"},
        {"groups": [1]},
        {"groups": ["admins"], "extra": "x"},
        {},
        ["admins"],
    ],
)
async def test_set_groups_refuses_what_the_cli_refuses_with_a_400_problem(client: Client, body: Any) -> None:
    await signup(client, "alice")
    alice = await user_id(client, "alice")
    refused = await client.put(f"/admin/users/{alice}/groups", json=body, headers=ROOT)
    assert refused.status == 400 and refused.content_type == "application/problem+json", await refused.text()
    assert (await (await client.get(f"/admin/users/{alice}", headers=ROOT)).json())["groups"] == []


async def test_set_groups_of_an_unknown_user_is_404_and_a_form_is_415(client: Client) -> None:
    unknown = await client.put(f"/admin/users/{'0' * 24}/groups", json={"groups": ["admins"]}, headers=ROOT)
    assert unknown.status == 404 and unknown.content_type == "application/problem+json"
    await signup(client, "alice")
    form = await client.put(f"/admin/users/{await user_id(client, 'alice')}/groups", data="groups=x", headers=ROOT)
    assert form.status == 415


async def test_users_list_by_group_with_cursors(client: Client) -> None:
    names = [f"user{i:02d}" for i in range(9)]
    for name in names:
        await signup(client, name)
    members = names[1::2]  # four of nine, in name order
    for name in members:
        body = {"groups": ["staff", name]}
        assert (await client.put(f"/admin/users/{await user_id(client, name)}/groups", json=body, headers=ROOT)).ok
    seen: list[str] = []
    cursor = None
    while True:
        params = {"group": "staff", "limit": "3", **({"cursor": cursor} if cursor else {})}
        page = await (await client.get("/admin/users", params=params, headers=ROOT)).json()
        seen += [user["username"] for user in page["users"]]
        assert all("staff" in user["groups"] for user in page["users"])
        if (cursor := page["nextCursor"]) is None:
            break
    assert seen == members
    one = await (await client.get("/admin/users", params={"group": "user03"}, headers=ROOT)).json()
    assert [u["username"] for u in one["users"]] == ["user03"]
    none = await (await client.get("/admin/users", params={"group": "Staff"}, headers=ROOT)).json()
    assert none == {"users": [], "nextCursor": None}  # group names are case-sensitive, as the access rules match
    bad = await client.get("/admin/users", params={"group": "has space"}, headers=ROOT)
    assert bad.status == 400 and bad.content_type == "application/problem+json"


def strings_in(root: object) -> list[str]:
    """Every str (and bytes, decoded) reachable from root through models, dataclasses, slots, attributes and
    containers: what a heap dump or a stray repr of these objects could show."""
    found: list[str] = []
    seen: set[int] = set()
    stack = [root]
    while stack:
        item = stack.pop()
        if id(item) in seen or item is None or isinstance(item, bool | int | float | type):
            continue
        seen.add(id(item))
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, bytes | bytearray):
            found.append(bytes(item).decode("latin-1"))
        elif isinstance(item, dict):
            stack += [*item.keys(), *item.values()]
        elif isinstance(item, list | tuple | set | frozenset):
            stack += list(item)
        else:
            stack += [getattr(item, name) for name in getattr(type(item), "__slots__", ()) if hasattr(item, name)]
            stack += list(getattr(item, "__dict__", {}).values())
            stack += [getattr(item, name) for name in getattr(type(item), "model_fields", {})]
    return found


async def test_no_plain_admin_token_outlives_start_up(aiohttp_client: Any, make_container: Any) -> None:
    container = make_container(**ADMIN)
    web: Client = await aiohttp_client(create_app(container))
    assert (await web.get("/admin/users", headers=ROOT)).status == 200
    settings, registry = container.settings(), container.admin_tokens()
    kept = strings_in(settings) + strings_in(registry)
    assert "root" in kept and "reader" in kept  # the walk reaches the tokens' names, beside which a token would be
    for token in (ROOT_TOKEN, READER_TOKEN):
        assert not [value for value in kept if token in value]
        assert token not in repr(settings) and token not in settings.model_dump_json()
        assert token.encode().hex() not in "".join(kept)


async def test_a_disabled_users_login_does_the_bcrypt_work_of_a_wrong_password(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same 401 is not enough: the same work, or timing tells a disabled account from a wrong password. Every
    bcrypt check the login runs is recorded with its cost."""
    await signup(client, "alice")
    real_checkpw = bcrypt.checkpw
    costs: list[int] = []

    def counted(password: bytes, hashed: bytes) -> bool:
        costs.append(int(hashed.split(b"$")[2]))
        return real_checkpw(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counted)

    async def work(username: str, password: str) -> tuple[int, list[int]]:
        costs.clear()
        answer = await client.post("/users/login", json={"username": username, "password": password})
        return answer.status, sorted(costs)

    wrong = await work("alice", "not the password")
    unknown = await work("nobody", PASSWORD)
    await client.post(f"/admin/users/{await user_id(client, 'alice')}/disable", headers=ROOT)
    disabled = await work("alice", PASSWORD)
    assert wrong == disabled == unknown and wrong[0] == 401 and len(wrong[1]) == 1  # one check each, same cost
