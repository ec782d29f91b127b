"""Soak: minutes of /auth/verify at half the measured maximum rate, one login a second, RSS every 10 s.

Bounded: wrk stops itself after the duration, the login loop and the sampler stop with it, and every process is
stopped on the way out.
"""

from __future__ import annotations

import threading
import time
import urllib.error
from typing import Any

from bench import client, wrk
from bench.common import Options, Target, fixed_rate_lua, run_target, say
from bench.memory_backend import LOGIN_USERS
from bench.procs import Authsvc, BenchError, authsvc_overrides, rss_kib, servers

CONNECTIONS = 64  # many connections, long gaps: response-time swings move the rate little
RSS_EVERY = 10.0


def measure_max_rps(options: Options, target: Target, seconds: float) -> float:
    return run_target(target, options, duration=seconds, label="verify max (for the soak rate)").rps


def soak(options: Options, minutes: float, rate: float | None = None, warmup_fraction: float = 0.2) -> dict[str, Any]:
    duration = max(10.0, minutes * 60)
    with servers() as stack:
        server = stack.enter_context(Authsvc("authsvc-soak", authsvc_overrides(), options.server_cpus).start())
        client.signup_many(server.base_url, LOGIN_USERS, concurrency=2)
        login = client.login(server.base_url, client.USER_PREFIX + "0")
        cookie = {"Cookie": login.cookie_header}
        verify = Target("verify", server.base_url + "/auth/verify", server.pid, headers=cookie)
        max_rps = rate * 2 if rate else measure_max_rps(options, verify, 3.0 if options.quick else 10.0)
        target_rate = max_rps / 2
        say(f"soak: {duration:.0f} s at {target_rate:,.0f} verify/s (max measured {max_rps:,.0f}) + 1 login/s")
        lua = fixed_rate_lua(verify, options, target_rate, CONNECTIONS, count_statuses=True)
        load = wrk.WrkRun(
            "soak verify",
            verify.url,
            duration=duration,
            connections=CONNECTIONS,
            cpus=options.load_cpus,
            headers=cookie,
            lua=lua,
        )
        stop = threading.Event()
        logins: dict[str, Any] = {"ok": 0, "failed": 0, "errors": [], "latencies_ms": []}
        rss: list[dict[str, float]] = []

        def login_every_second() -> None:
            next_at = time.monotonic()
            number = 0
            while not stop.is_set():
                started = time.monotonic()
                try:
                    client.login(server.base_url, f"{client.USER_PREFIX}{number % LOGIN_USERS}")
                    logins["ok"] += 1
                except (BenchError, urllib.error.URLError, OSError) as exc:
                    logins["failed"] += 1
                    if len(logins["errors"]) < 10:
                        logins["errors"].append(str(exc)[:200])
                logins["latencies_ms"].append(round((time.monotonic() - started) * 1000, 1))
                number += 1
                next_at += 1.0
                stop.wait(max(0.0, next_at - time.monotonic()))

        def sample_rss() -> None:
            started = time.monotonic()
            while not stop.is_set():
                value = rss_kib(server.pid)
                if value is not None:
                    rss.append({"t": round(time.monotonic() - started, 1), "rss_kib": value})
                stop.wait(RSS_EVERY)

        workers = [threading.Thread(target=login_every_second), threading.Thread(target=sample_rss)]
        load.start(server.pid)
        for worker in workers:
            worker.start()
        try:
            result = load.wait(sample_every=1.0)
        finally:
            stop.set()
            for worker in workers:
                worker.join(timeout=30)
        rss.append({"t": round(duration, 1), "rss_kib": rss_kib(server.pid) or 0})
    warm = [s for s in rss if s["t"] >= duration * warmup_fraction]
    base = warm[0]["rss_kib"] if warm else None
    growth = (rss[-1]["rss_kib"] - base) / base if base else None
    latencies = sorted(logins.pop("latencies_ms"))
    statuses = result.statuses or {}
    summary = {
        "duration_s": duration,
        "verify_max_rps": round(max_rps, 1),
        "verify_target_rps": round(target_rate, 1),
        "verify": {k: v for k, v in result.to_dict().items() if k != "samples"},
        "logins": {
            **logins,
            "p50_ms": latencies[len(latencies) // 2] if latencies else None,
            "max_ms": latencies[-1] if latencies else None,
        },
        "rss_kib": rss,
        "warmup_s": round(duration * warmup_fraction, 1),
        "rss_growth_after_warmup": round(growth, 4) if growth is not None else None,
        "errors": result.error_count + logins["failed"],
        "non_2xx": sum(v for k, v in statuses.items() if k != "2xx"),
        "5xx": statuses.get("5xx", 0),
        "targets": {"errors": 0, "5xx": 0, "rss_growth_max": 0.10},
    }
    summary["met"] = summary["errors"] == 0 and summary["5xx"] == 0 and growth is not None and growth <= 0.10
    say(
        f"soak: {result.short()}; logins ok {logins['ok']} failed {logins['failed']}; "
        f"RSS {base} -> {rss[-1]['rss_kib']} KiB after warm-up ({(growth or 0) * 100:+.1f}%)"
    )
    return summary
