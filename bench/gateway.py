"""The gateway listener (issue 27): server.gateway_port's asyncio.Protocol over httptools vs the main port's aiohttp
path (its fast-path middleware, which is what the gateway port ran through before: aiohttp's request, response and
server) vs the bare aiohttp hello, in one interleaved run: servers on one core, wrk on the other.

With BENCH_BASELINE_TREE naming an older source tree (`git archive f86ee66 | tar -x -C DIR`: the commit before
issue 27, whose gateway port ran aiohttp's low-level server), its gateway port is measured in the same rounds too.

Each check is sent as a gateway sends it: bare (a session cookie only), as nginx's shipped server block sends it
(X-Original-URL/-Method, X-Forwarded-For/-Proto, X-Request-Id) and as Traefik's ForwardAuth does to
/auth/forward-auth (X-Forwarded-Method/-Proto/-Host/-Uri/-For); the two with headers also against 100 access rules
(bench/access_rules.py). Every answer must be a 200.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from bench import authelia_peer, client
from bench.access_rules import hundred_rules
from bench.common import Options, Target, interleave, ratios, summarize
from bench.mongo_backend import database_server, mongo_settings
from bench.procs import Authsvc, BenchError, authsvc_overrides, free_port, servers, start_ceiling

NGINX = {
    "X-Original-URL": "https://app57.example.com/reports?week=1",
    "X-Original-Method": "GET",
    "X-Forwarded-For": "203.0.113.7",
    "X-Forwarded-Proto": "https",
    "X-Request-Id": "5f0c3b1d9e2a4c6b8d0f1e3a5c7b9d1f",
}
TRAEFIK = {
    "X-Forwarded-Method": "GET",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "app57.example.com",
    "X-Forwarded-Uri": "/reports?week=1",
    "X-Forwarded-For": "203.0.113.7",
}


def _settings(rules: dict[str, Any] | None) -> tuple[dict[str, Any], int]:
    settings = authsvc_overrides()
    port = settings["server"]["gateway_port"] = free_port()
    settings["server"]["public_url"] = "https://auth.example.com"
    settings["server"]["trusted_proxies"] = ["127.0.0.1/32"]
    if rules is not None:
        settings["access_control"] = rules
    return settings, port


def gateway_listener(options: Options) -> dict[str, Any]:
    cpus = options.server_cpus
    with servers() as stack:
        ceiling = stack.enter_context(start_ceiling(cpus))
        plain_settings, plain_port = _settings(None)
        plain = stack.enter_context(Authsvc("authsvc", plain_settings, cpus).start())
        ruled_settings, ruled_port = _settings(hundred_rules())
        ruled = stack.enter_context(Authsvc("authsvc-100-rules", ruled_settings, cpus, plain.session_key).start())
        cookie = {"Cookie": client.signup_and_login(plain.base_url).cookie_header}
        ruled_cookie = {"Cookie": client.signup_and_login(ruled.base_url).cookie_header}
        gateway, ruled_gateway = f"http://127.0.0.1:{plain_port}", f"http://127.0.0.1:{ruled_port}"
        targets = [
            Target("hello", ceiling.base_url + "/", ceiling.pid),
            Target("listener_verify", gateway + "/auth/verify", plain.pid, headers=cookie),
            Target("listener_verify_nginx", gateway + "/auth/verify", plain.pid, headers={**cookie, **NGINX}),
            Target("listener_forward_auth_traefik", gateway + "/auth/forward-auth", plain.pid, {**cookie, **TRAEFIK}),
            Target("aiohttp_verify", plain.base_url + "/auth/verify", plain.pid, headers=cookie),
            Target("aiohttp_verify_nginx", plain.base_url + "/auth/verify", plain.pid, headers={**cookie, **NGINX}),
            Target(
                "aiohttp_forward_auth_traefik", plain.base_url + "/auth/forward-auth", plain.pid, {**cookie, **TRAEFIK}
            ),
            Target("aiohttp_protected", plain.base_url + "/users/protected", plain.pid, headers=cookie),
            Target(
                "listener_verify_nginx_100_rules",
                ruled_gateway + "/auth/verify",
                ruled.pid,
                headers={**ruled_cookie, **NGINX},
            ),
            Target(
                "listener_forward_auth_traefik_100_rules",
                ruled_gateway + "/auth/forward-auth",
                ruled.pid,
                headers={**ruled_cookie, **TRAEFIK},
            ),
        ]
        baseline = os.environ.get("BENCH_BASELINE_TREE")
        if baseline:
            before_settings, before_port = _settings(None)
            before = stack.enter_context(
                Authsvc("authsvc-before", before_settings, cpus, plain.session_key, root=Path(baseline)).start()
            )
            before_cookie = {"Cookie": client.signup_and_login(before.base_url).cookie_header}
            old = f"http://127.0.0.1:{before_port}"
            targets += [
                Target("before_verify", old + "/auth/verify", before.pid, headers=before_cookie),
                Target("before_verify_nginx", old + "/auth/verify", before.pid, headers={**before_cookie, **NGINX}),
                Target(
                    "before_forward_auth_traefik", old + "/auth/forward-auth", before.pid, {**before_cookie, **TRAEFIK}
                ),
                Target("before_aiohttp_verify", before.base_url + "/auth/verify", before.pid, headers=before_cookie),
                Target(
                    "before_aiohttp_protected", before.base_url + "/users/protected", before.pid, headers=before_cookie
                ),
            ]
        authelia = authelia_peer.find_authelia()
        if authelia is not None:
            peer = stack.enter_context(authelia_peer.start_authelia(authelia, cpus))
            peer_cookie = {"Cookie": authelia_peer.authelia_login(peer.base_url)}
            targets += [
                Target(
                    "authelia_forward_auth_traefik",
                    peer.base_url + "/api/authz/forward-auth",
                    peer.pid,
                    headers={**peer_cookie, **TRAEFIK},
                ),
                Target(
                    "authelia_auth_request_nginx",
                    peer.base_url + "/api/authz/auth-request",
                    peer.pid,
                    headers={**peer_cookie, **NGINX},
                ),
            ]
        results = interleave(targets, options)
    summary: dict[str, Any] = {name: summarize(runs) for name, runs in results.items()}
    refused = {name: s["non_2xx"] for name, s in summary.items() if s["non_2xx"]}
    if refused:
        raise BenchError(f"non-2xx answers: {refused}")
    for name in results:
        if name != "hello":
            summary[name]["vs_hello"] = ratios(results[name], results["hello"])
    for kind in ("verify", "verify_nginx", "forward_auth_traefik"):
        summary[f"listener_{kind}"]["vs_aiohttp"] = ratios(results[f"listener_{kind}"], results[f"aiohttp_{kind}"])
    for kind in ("verify_nginx", "forward_auth_traefik"):
        ruled_name = f"listener_{kind}_100_rules"
        summary[ruled_name]["vs_no_rules"] = ratios(results[ruled_name], results[f"listener_{kind}"])
    for name in ("aiohttp_verify", "aiohttp_protected"):  # the main port, which must not be slower
        if f"before_{name}" in results:
            summary[name]["vs_before"] = ratios(results[name], results[f"before_{name}"])
    for kind in ("verify", "verify_nginx", "forward_auth_traefik"):
        if f"before_{kind}" in results:
            summary[f"listener_{kind}"]["vs_before"] = ratios(results[f"listener_{kind}"], results[f"before_{kind}"])
    if "authelia_forward_auth_traefik" in results:
        for name, theirs in (
            ("listener_forward_auth_traefik", "authelia_forward_auth_traefik"),
            ("listener_verify_nginx", "authelia_auth_request_nginx"),
            ("listener_forward_auth_traefik_100_rules", "authelia_forward_auth_traefik"),
            ("listener_verify_nginx_100_rules", "authelia_auth_request_nginx"),
            ("aiohttp_verify", "authelia_forward_auth_traefik"),
        ):
            summary[name]["vs_authelia"] = ratios(results[name], results[theirs])
        summary["hello"]["vs_authelia"] = ratios(results["hello"], results["authelia_forward_auth_traefik"])
    summary["listener_forward_auth_traefik"]["vs_verify"] = ratios(
        results["listener_forward_auth_traefik"], results["listener_verify"]
    )
    summary["targets"] = {
        "listener_*": {"rps_vs_hello_min": 3.0},
        "listener_*_100_rules": {"rps_vs_no_rules_min": 0.9},
    }
    return summary


def whole_host(options: Options) -> dict[str, Any]:
    """`serve --workers auto` (MongoDB backend: the FerretDB test server, the per-replica cache on) against Authelia
    with GOMAXPROCS = cores, both unpinned; wrk keeps its core (load_cpus). Traefik's forward-auth on both. The
    servers' CPU figures are their parents' only (authsvc's workers are children) and are left out."""
    database = f"authsvc_gateway_{secrets.token_hex(4)}"
    out: dict[str, Any] = {}
    binary = authelia_peer.find_authelia()
    if binary is None:
        raise BenchError("no Authelia binary: python -m bench peers")
    with servers() as stack:
        url, db_pids, out["database_server"] = database_server(options, stack)
        settings = authsvc_overrides(mongodb=mongo_settings(url, database, "pymongo"))
        port = settings["server"]["gateway_port"] = free_port()
        settings["server"]["public_url"] = "https://auth.example.com"
        settings["server"]["trusted_proxies"] = ["127.0.0.1/32"]
        authsvc = stack.enter_context(Authsvc("authsvc-workers-auto", settings, None, workers="auto").start())
        peer = stack.enter_context(authelia_peer.start_authelia(binary, None))
        cookie = {"Cookie": client.signup_and_login(authsvc.base_url).cookie_header}
        peer_cookie = {"Cookie": authelia_peer.authelia_login(peer.base_url)}
        targets = [
            Target(
                "workers_auto_forward_auth_traefik",
                f"http://127.0.0.1:{port}/auth/forward-auth",
                authsvc.pid,
                headers={**cookie, **TRAEFIK},
            ),
            Target(
                "authelia_forward_auth_traefik",
                peer.base_url + "/api/authz/forward-auth",
                peer.pid,
                headers={**peer_cookie, **TRAEFIK},
            ),
        ]
        results = interleave(targets, options, other_pids=db_pids)
    out.update({name: summarize(runs) for name, runs in results.items()})
    out["workers_auto_forward_auth_traefik"]["vs_authelia"] = ratios(
        results["workers_auto_forward_auth_traefik"], results["authelia_forward_auth_traefik"]
    )
    out["targets"] = {"workers_auto_forward_auth_traefik": {"rps_vs_authelia_min": 1.5}}
    return out
