"""The gateway fast path's ablation in one process: create_app(container) against create_app(container,
fast_path=False), the same request through each app's whole aiohttp path (router, middlewares, handler, the
response's prepare and write_eof, the on_response_prepare hook), no sockets and no wrk.

    .venv/bin/python -m bench.fast_path                          # /auth/verify with a live session, 7 rounds
    .venv/bin/python -m bench.fast_path --paths /auth/verify,/auth/forward-auth,/users/protected --cpu 1
    .venv/bin/python -m bench.fast_path --quick                  # a smoke run (~2 s): does it still work?

Rounds interleave the two apps (fast, generic, fast, ...) so drift hits both; each round is the mean of a loop of
--requests requests on one reused request object. It prints microseconds per request (best and median of the rounds)
and the median's saving; the generic chain is "within noise" when the saving is inside the spread of the rounds
(the larger max - min of the two apps'). Every answer must be a 200, and GatewayFastPath.answered must show the fast app
answered each request itself, or it stops.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import time
from typing import Any

from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from cryptography.fernet import Fernet

from bench.client import PASSWORD
from bench.hashing import on_cpus


def _settings(key: str) -> Any:
    from authsvc.config import load_settings

    return load_settings(overrides={"session": {"keys": [key]}, "passwords": {"bcrypt_cost": 4}})


async def _cookie(container: Any) -> str:
    """A real user and session in the memory backend, and the session cookie that points at them."""
    user = await container.users_service().signup("fastpathbench", PASSWORD)
    session_id, _ = await container.session_registry().create(user.id)
    storage = container.session_cookies()
    payload = json.dumps({"created": int(time.time()), "session": {"sid": session_id, "uid": user.id}})
    return f"{storage.cookie_name}={storage._fernet.encrypt(payload.encode()).decode()}"


async def _per_request_us(app: web.Application, request: web.Request, n: int) -> float:
    handle = app._handle
    # The cyclic collector off while timing (and a collection before): its passes land on whichever loop runs when
    # they fall due, which spread the rounds by 200 us and more; what is timed is the path's own work.
    gc.collect()
    gc.disable()
    try:
        started = time.perf_counter()
        for _ in range(n):
            request._state.clear()
            request._cache.clear()
            response = await handle(request)
            await response.prepare(request)
            await response.write_eof()
            if response.status != 200:
                raise SystemExit(f"{request.path}: {response.status}, not 200")
        return (time.perf_counter() - started) / n * 1e6
    finally:
        gc.enable()


async def measure(paths: list[str], rounds: int, requests: int) -> dict[str, dict[str, list[float]]]:
    from authsvc.web.app import create_app
    from authsvc.web.container import create_container
    from authsvc.web.gateway import FAST_PATH

    container = create_container(_settings(Fernet.generate_key().decode()))
    apps = {"fast path": create_app(container), "generic chain": create_app(container, fast_path=False)}
    runners = [web.AppRunner(app, access_log=None) for app in apps.values()]  # start-up only: no site, no socket
    for runner in runners:
        await runner.setup()
    try:
        cookie = await _cookie(container)
        times: dict[str, dict[str, list[float]]] = {path: {name: [] for name in apps} for path in paths}
        for path in paths:
            requests_of = {
                name: make_mocked_request("GET", path, headers={"Cookie": cookie, "Host": "auth.test"}, app=app)
                for name, app in apps.items()
            }
            for name, app in apps.items():  # warm-up (caches, the middleware chain's build)
                await _per_request_us(app, requests_of[name], max(10, requests // 10))
            for _ in range(rounds):
                for name, app in apps.items():
                    app[FAST_PATH].answered.clear()
                    times[path][name].append(await _per_request_us(app, requests_of[name], requests))
                    taken = sum(app[FAST_PATH].answered.values())
                    if taken != (requests if name == "fast path" else 0):
                        raise SystemExit(f"{path}: the {name} app's fast path answered {taken} of {requests}")
        return times
    finally:
        for runner in runners:
            await runner.cleanup()


def report(times: dict[str, dict[str, list[float]]]) -> None:
    print(f"{'path':<22} {'app':<14} {'best us':>8} {'median us':>10} {'spread us':>10}")
    for path, by_app in times.items():
        for name, rounds in by_app.items():
            spread = max(rounds) - min(rounds)
            print(f"{path:<22} {name:<14} {min(rounds):>8.1f} {statistics.median(rounds):>10.1f} {spread:>10.1f}")
        fast, generic = by_app["fast path"], by_app["generic chain"]
        saving = statistics.median(generic) - statistics.median(fast)
        noise = max(max(fast) - min(fast), max(generic) - min(generic))
        verdict = "within noise" if abs(saving) <= noise else "outside noise"
        print(f"{path:<22} saving {saving:.1f} us/request ({saving / statistics.median(generic):.0%}), {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paths", default="/auth/verify", help="comma-separated fast routes (GET, live session)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=5000, help="requests per round and app")
    parser.add_argument("--cpu", type=int, default=None, help="pin this process to one CPU")
    parser.add_argument("--quick", action="store_true", help="2 rounds of 200 requests: a smoke run")
    options = parser.parse_args()
    rounds, requests = (2, 200) if options.quick else (options.rounds, options.requests)
    with on_cpus(None if options.cpu is None else {options.cpu}):
        loop = asyncio.new_event_loop()
        try:
            report(loop.run_until_complete(measure(options.paths.split(","), rounds, requests)))
        finally:
            loop.close()


if __name__ == "__main__":
    main()
