"""The gateway listener (issue 27): server.gateway_port's asyncio.Protocol over httptools vs the main port's aiohttp
path (its fast-path middleware, which is what the gateway port ran through before: aiohttp's request, response and
server) vs the bare aiohttp hello, in one interleaved run: servers on one core, wrk on the other.

Each check is sent as a gateway sends it: bare (a session cookie only), as nginx's shipped server block sends it
(X-Original-URL/-Method, X-Forwarded-For/-Proto, X-Request-Id) and as Traefik's ForwardAuth does to
/auth/forward-auth (X-Forwarded-Method/-Proto/-Host/-Uri/-For); the two with headers also against 100 access rules
(bench/access_rules.py). Every answer must be a 200.
"""

from __future__ import annotations

from typing import Any

from bench import client
from bench.access_rules import hundred_rules
from bench.common import Options, Target, interleave, ratios, summarize
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
    summary["listener_forward_auth_traefik"]["vs_verify"] = ratios(
        results["listener_forward_auth_traefik"], results["listener_verify"]
    )
    summary["targets"] = {
        "listener_*": {"rps_vs_hello_min": 3.0},
        "listener_*_100_rules": {"rps_vs_no_rules_min": 0.9},
    }
    return summary
