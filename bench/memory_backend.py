"""The memory backend: verify and protected vs the ceiling, logins vs the bcrypt bound, verify under a login flood,
RSS (idle, under load, 100,000 live sessions) and the cookie's size."""

from __future__ import annotations

import os
import time
from typing import Any

from bench import client, hashing, tutorial_peer, variants, wrk
from bench.common import (
    Options,
    Target,
    fixed_rate_lua,
    interleave,
    median,
    ratios,
    rounded,
    run_target,
    say,
    summarize,
)
from bench.procs import (
    Authsvc,
    BenchError,
    authsvc_overrides,
    free_port,
    metric_value,
    rss_kib,
    servers,
    start_ceiling,
)

LOGIN_USERS = 4


def login_lua(users: int = LOGIN_USERS) -> str:
    login = {"users": users, "prefix": client.USER_PREFIX, "password": client.PASSWORD, "path": "/users/login"}
    return wrk.script(login=login, count_statuses=True)


def cookie_size(login: client.Login) -> dict[str, Any]:
    return {
        "cookie_value_bytes": len(login.cookie_value.encode()),
        "cookie_header_bytes": len(login.cookie_header.encode()),  # what a browser sends: name=value
        "set_cookie_header_bytes": len(login.set_cookie.encode()),
        "target_bytes": 300,
        "met": len(login.cookie_header.encode()) <= 300,
    }


def access_log_variant() -> tuple[str, dict[str, Any]]:
    """Verify with its access-log line flipped: on where the default leaves verify out of the log, else all off."""
    from authsvc.config import ServerSettings

    if "access_log_verify" in ServerSettings.model_fields:
        settings = authsvc_overrides()
        settings["server"]["access_log_verify"] = True
        return "verify_access_log_on", settings
    return "verify_access_log_off", authsvc_overrides(access_log=False)


def verify_vs_ceiling(options: Options) -> dict[str, Any]:
    """GET /auth/verify, /auth/forward-auth and /users/protected vs the ceiling and the tutorial's own stack (its
    /users/protected); also verify with its access-log line flipped."""
    cpus = options.server_cpus
    with servers() as stack:
        ceiling = stack.enter_context(start_ceiling(cpus))
        settings = authsvc_overrides()
        gateway_port = settings["server"]["gateway_port"] = free_port()  # idle unless its target runs
        settings["server"]["public_url"] = "http://127.0.0.1"  # required with gateway_port; only redirects use it
        authsvc = stack.enter_context(Authsvc("authsvc-memory", settings, cpus).start())
        variant_name, variant_settings = access_log_variant()
        variant = stack.enter_context(
            Authsvc(f"authsvc-memory-{variant_name}", variant_settings, cpus, authsvc.session_key).start()
        )
        peer = stack.enter_context(tutorial_peer.start_tutorial(cpus))
        rss_start = rss_kib(authsvc.pid)
        login = client.signup_and_login(authsvc.base_url)
        variant_login = client.signup_and_login(variant.base_url)
        peer_cookie = tutorial_peer.tutorial_login(peer.base_url)
        time.sleep(1.0)
        rss_idle = rss_kib(authsvc.pid)
        cookie = {"Cookie": login.cookie_header}
        targets = [
            Target("ceiling", ceiling.base_url + "/", ceiling.pid),
            Target("verify", authsvc.base_url + "/auth/verify", authsvc.pid, headers=cookie),
            Target("forward_auth", authsvc.base_url + "/auth/forward-auth", authsvc.pid, headers=cookie),
            Target("verify_gateway_port", f"http://127.0.0.1:{gateway_port}/auth/verify", authsvc.pid, headers=cookie),
            Target("protected", authsvc.base_url + "/users/protected", authsvc.pid, headers=cookie),
            Target("tutorial_peer", peer.base_url + "/users/protected", peer.pid, headers={"Cookie": peer_cookie}),
            Target(
                variant_name,
                variant.base_url + "/auth/verify",
                variant.pid,
                headers={"Cookie": variant_login.cookie_header},
            ),
        ]
        results = interleave(targets, options)
        time.sleep(1.0)
        rss_after = rss_kib(authsvc.pid)
        equal = equal_rate(targets[:2], results["verify"], options)
    summary = {name: summarize(runs) for name, runs in results.items()}
    refused = {name: s["non_2xx"] for name, s in summary.items() if s["non_2xx"]}
    if refused:  # a refused cookie measures the 401 path: say so rather than report it as the target
        raise BenchError(f"non-2xx answers where a live session was sent: {refused}")
    for name in ("verify", "forward_auth", "verify_gateway_port", "protected", "tutorial_peer", variant_name):
        summary[name]["vs_ceiling"] = ratios(results[name], results["ceiling"])
    summary["peers"] = {"tutorial_peer": {"node": tutorial_peer.node_version(), "app": "bench/peers/tutorial/app.js"}}
    summary["targets"] = {
        "verify": {"rps_ratio_min": 0.8, "p99_ratio_max": 2.0},
        "forward_auth": {"rps_ratio_min": 0.8, "p99_ratio_max": 2.0},
        "verify_gateway_port": {"rps_ratio_min": 0.8, "p99_ratio_max": 2.0},
        "protected": {"rps_ratio_min": 0.6},
    }
    summary["rss_kib"] = {
        "at_start": rss_start,
        "idle_after_login": rss_idle,
        "under_verify_load_max": summary["verify"]["rss_kib_max"],
        "idle_after_load": rss_after,
    }
    summary["cookie"] = cookie_size(login)
    summary["equal_rate"] = equal
    return summary


def equal_rate(targets: list[Target], verify_runs: list[wrk.WrkResult], options: Options) -> dict[str, Any]:
    """Latency of the ceiling and of verify at one fixed rate both can carry (half verify's maximum): at saturation
    a closed-loop p99 only restates the throughput ratio; here it shows what a gateway's request waits."""
    rate = (median([r.rps for r in verify_runs]) or 1000.0) / 2
    connections = 16
    scripts = {t.name: fixed_rate_lua(t, options, rate, connections, count_statuses=False) for t in targets}
    runs: dict[str, list[wrk.WrkResult]] = {t.name: [] for t in targets}
    for _ in range(max(1, options.rounds)):
        for target in targets:
            fixed = Target(target.name, target.url, target.pid, target.headers, scripts[target.name], connections)
            runs[target.name].append(run_target(fixed, options, label=f"{target.name} at {rate:,.0f}/s"))
            say(runs[target.name][-1].short())
    out: dict[str, Any] = {"rate": round(rate), "connections": connections}
    for name, results in runs.items():
        out[name] = summarize(results)
    out["verify_vs_ceiling"] = ratios(runs["verify"], runs["ceiling"])
    return out


def ablation(options: Options) -> dict[str, Any]:
    """authsvc's app with one piece out (bench/variants.py): what each piece costs per request, end to end."""
    cpus = options.server_cpus
    with servers() as stack:
        ceiling = stack.enter_context(start_ceiling(cpus))
        key = None
        targets = [Target("ceiling", ceiling.base_url + "/", ceiling.pid)]
        failed: dict[str, str] = {}
        for variant in variants.VARIANTS:
            server = stack.enter_context(Authsvc(f"authsvc-variant-{variant}", authsvc_overrides(), cpus, key, variant))
            try:
                server.start()
                login = client.signup_and_login(server.base_url) if variant != "bare_hello" else None
            except BenchError as exc:  # a variant the current authsvc code cannot take: say so, go on
                failed[variant] = str(exc)[-500:]
                say(f"variant {variant} skipped: {str(exc)[-200:]}")
                continue
            key = server.session_key
            if variant in ("as_is", "bare_hello"):
                targets.append(Target(f"{variant} /bench-hello", server.base_url + "/bench-hello", server.pid))
            if login is None:
                continue
            targets.append(
                Target(
                    f"{variant} /auth/verify",
                    server.base_url + "/auth/verify",
                    server.pid,
                    headers={"Cookie": login.cookie_header},
                )
            )
        results = interleave(targets, options)
    summary: dict[str, Any] = {name: summarize(runs) for name, runs in results.items()}
    summary["variants_failed"] = failed
    base = summary["as_is /auth/verify"]["server_cpu_us_per_request"]
    for name, runs in results.items():
        if name != "ceiling":
            summary[name]["vs_ceiling"] = ratios(runs, results["ceiling"])
        cpu = summary[name]["server_cpu_us_per_request"]
        if base and cpu and name.endswith("/auth/verify"):
            summary[name]["saves_us_per_request_vs_as_is"] = round(base - cpu, 1)
    return summary


def bcrypt_bounds(options: Options, costs: tuple[int, ...]) -> dict[str, Any]:
    """One check's time at each cost (on the server's core), and what 2 threads reach on 1 and on 2 cores."""
    server_core = {int(options.server_cpus.split(",")[0])}
    seconds = 2.0 if options.quick else 6.0
    bounds: dict[str, Any] = {}
    for cost in costs:
        one = hashing.one_check_seconds(cost, repeat=3 if options.quick else 5, cpus=server_core)
        one["two_threads_one_core_per_s"] = round(hashing.parallel_checks_per_second(cost, 2, seconds, server_core), 2)
        one["two_threads_two_cores_per_s"] = round(hashing.parallel_checks_per_second(cost, 2, seconds, None), 2)
        bounds[str(cost)] = one
        say(
            f"bcrypt cost {cost}: one check {one['check_s_median'] * 1000:.0f} ms; 2 threads: "
            f"{one['two_threads_one_core_per_s']}/s on 1 core, {one['two_threads_two_cores_per_s']}/s on 2"
        )
    return bounds


def login_runs(targets: list[Target], options: Options, base_urls: dict[str, str]) -> dict[str, list[wrk.WrkResult]]:
    """Interleaved login runs; each also counts logins from authsvc's metric over a window inside the run, away
    from the start (the bcrypt pool filling) and the end (requests wrk leaves in flight)."""
    results: dict[str, list[wrk.WrkResult]] = {t.name: [] for t in targets}
    for round_number in range(1, options.rounds + 1):
        for target in targets:
            duration = target.duration or options.login_duration
            run = wrk.WrkRun(
                target.name,
                target.url,
                duration=duration,
                connections=target.connections or 4,
                cpus=options.load_cpus,
                lua=target.lua,
                timeout_s=target.timeout_s,
            ).start(target.pid)
            edge = min(2.0, duration / 4)
            time.sleep(edge)
            first, started = metric_value(base_urls[target.name], "authsvc_logins_total", "success"), time.monotonic()
            time.sleep(max(0.5, duration - 2 * edge))
            last, ended = metric_value(base_urls[target.name], "authsvc_logins_total", "success"), time.monotonic()
            result = run.wait()
            result.extra["round"] = round_number
            result.extra["logins_per_s_window"] = round((last - first) / (ended - started), 3)
            results[target.name].append(result)
            say(f"round {round_number} {result.short()}; metric window: {result.extra['logins_per_s_window']}/s")
    return results


def login_summary(runs: list[wrk.WrkResult]) -> dict[str, Any]:
    summary = summarize(runs)
    summary["logins_per_s_wrk"] = summary.pop("rps")
    summary["logins_per_s"] = rounded(median([r.extra.get("logins_per_s_window") for r in runs]), 3)
    return summary


def logins(options: Options) -> dict[str, Any]:
    """POST /users/login at cost 12 (the default) and 10, authsvc pinned to one core and unpinned."""
    costs = (12,) if options.quick else (12, 10)
    bounds = bcrypt_bounds(options, costs)
    out: dict[str, Any] = {"bcrypt": bounds, "hash_threads": 2, "by_cost": {}}
    lua = login_lua()
    for cost in costs:
        with servers() as stack:
            placements = {"pinned_1_core": options.server_cpus, "unpinned_2_cores": None}
            targets = []
            base_urls = {}
            for placement, cpus in placements.items():
                server = stack.enter_context(
                    Authsvc(f"authsvc-login-{cost}-{placement}", authsvc_overrides(bcrypt_cost=cost), cpus).start()
                )
                client.signup_many(server.base_url, LOGIN_USERS, concurrency=2)
                base_urls[placement] = server.base_url
                targets.append(
                    Target(
                        placement,
                        server.base_url + "/users/login",
                        server.pid,
                        lua=lua,
                        connections=4,  # 2 per bcrypt thread: the pool never idles
                        timeout_s=60,
                        duration=options.login_duration,
                    )
                )
            results = login_runs(targets, options, base_urls)
        one = bounds[str(cost)]["check_s_median"]
        threads = out["hash_threads"]
        by_placement: dict[str, Any] = {}
        for placement, runs in results.items():
            summary = login_summary(runs)
            cores = 1 if placement.startswith("pinned") else min(2, os.cpu_count() or 2)
            issue_bound = threads / one  # the issue's formula: bcrypt threads / time of one hash
            core_bound = min(threads, cores) / one  # threads share cores: at most one hash per core at a time
            rate = summary["logins_per_s"] or 0.0
            summary["bound_issue_formula_per_s"] = round(issue_bound, 2)
            summary["bound_cores_per_s"] = round(core_bound, 2)
            summary["ratio_to_issue_bound"] = rounded(rate / issue_bound)
            summary["ratio_to_core_bound"] = rounded(rate / core_bound)
            summary["cores"] = cores
            by_placement[placement] = summary
        out["by_cost"][str(cost)] = by_placement
    out["target_ratio_min"] = 0.95
    return out


def flood(options: Options) -> dict[str, Any]:
    """/auth/verify while a login flood keeps the bcrypt threads busy: pinned to one core, and unpinned."""
    out: dict[str, Any] = {"target_p99_ms_max": 50.0}
    lua = login_lua()
    for placement, cpus in {"pinned_1_core": options.server_cpus, "unpinned_2_cores": None}.items():
        with servers() as stack:
            server = stack.enter_context(Authsvc(f"authsvc-flood-{placement}", authsvc_overrides(), cpus).start())
            client.signup_many(server.base_url, LOGIN_USERS, concurrency=2)
            login = client.login(server.base_url, client.USER_PREFIX + "0")
            verify = Target(
                "verify", server.base_url + "/auth/verify", server.pid, headers={"Cookie": login.cookie_header}
            )
            baseline = []
            flooded = []
            flood_runs = []
            run_target(verify, options, duration=options.warmup or 1, label="verify (warm-up)")
            for round_number in range(1, options.rounds + 1):
                baseline.append(run_target(verify, options, label=f"{placement} verify, no flood"))
                say(f"round {round_number} {baseline[-1].short()}")
                logins_before = metric_value(server.base_url, "authsvc_logins_total")
                flooder = wrk.WrkRun(
                    "login flood",
                    server.base_url + "/users/login",
                    duration=options.duration + 4,
                    connections=8,
                    cpus=options.load_cpus,
                    lua=lua,
                    timeout_s=60,
                ).start()
                time.sleep(2.0)  # the bcrypt threads are busy before verify starts
                flooded.append(run_target(verify, options, label=f"{placement} verify, under login flood"))
                flood_result = flooder.wait()
                logins = metric_value(server.base_url, "authsvc_logins_total") - logins_before
                flood_runs.append({**flood_result.to_dict(), "logins_counted_by_metrics": logins})
                say(f"round {round_number} {flooded[-1].short()}; flood: {flood_result.short()}")
        out[placement] = {
            "verify_no_flood": summarize(baseline),
            "verify_under_flood": summarize(flooded),
            "flood": [{k: v for k, v in run.items() if k != "samples"} for run in flood_runs],
            "flood_logins_per_s_median": rounded(median([r["rps"] for r in flood_runs]), 2),
            "p99_met": (summarize(flooded)["p99_ms"] or 1e9) <= 50.0,
        }
    return out


def live_sessions(options: Options) -> dict[str, Any]:
    """RSS with N live sessions, made by logging in N times (cost 4 for speed, many connections; bounded)."""
    target_sessions = options.memory_sessions
    users = 100 if not options.quick else 10
    time_limit = 30.0 if options.quick else 400.0
    with servers() as stack:
        server = stack.enter_context(
            Authsvc("authsvc-live-sessions", authsvc_overrides(bcrypt_cost=4, access_log=False), options.server_cpus)
        ).start()
        client.signup_many(server.base_url, users, concurrency=8)
        login = client.login(server.base_url, client.USER_PREFIX + "0")
        time.sleep(1.0)
        rss_before = rss_kib(server.pid)
        sessions_before = metric_value(server.base_url, "authsvc_sessions_created_total")
        login_lua_text = wrk.script(
            login={"users": users, "prefix": client.USER_PREFIX, "password": client.PASSWORD, "path": "/users/login"},
            count_statuses=True,
        )
        flooder = wrk.WrkRun(
            "create sessions",
            server.base_url + "/users/login",
            duration=time_limit,
            connections=32,
            cpus=options.load_cpus,
            lua=login_lua_text,
            timeout_s=30,
        ).start(server.pid)
        started = time.monotonic()
        created = 0.0
        while time.monotonic() - started < time_limit:
            time.sleep(1.0)
            created = metric_value(server.base_url, "authsvc_sessions_created_total") - sessions_before
            if created >= target_sessions:
                break
        flooder.interrupt()
        creation = flooder.wait()
        elapsed = time.monotonic() - started
        created = metric_value(server.base_url, "authsvc_sessions_created_total") - sessions_before
        say(f"{created:.0f} sessions in {elapsed:.0f} s ({creation.short()})")
        time.sleep(2.0)
        rss_idle = rss_kib(server.pid)
        verify = Target("verify", server.base_url + "/auth/verify", server.pid, headers={"Cookie": login.cookie_header})
        under_load = run_target(verify, options, label=f"verify with {created:.0f} live sessions")
        say(under_load.short())
    per_session = (rss_idle - rss_before) * 1024 / created if rss_idle and rss_before and created else None
    return {
        "method": (
            f"{users} users signed up through the API at bcrypt cost 4; POST /users/login from wrk with 32 "
            "connections until the sessions_created metric reached the target (each login opens a session)"
        ),
        "sessions_created": int(created),
        "seconds": round(elapsed, 1),
        "rss_kib_before": rss_before,
        "rss_kib_with_sessions_idle": rss_idle,
        "rss_kib_with_sessions_under_verify_load": under_load.server_rss_kib_max,
        "bytes_per_session": round(per_session) if per_session else None,
        "creation": {k: v for k, v in creation.to_dict().items() if k != "samples"},
        "verify": {k: v for k, v in under_load.to_dict().items() if k != "samples"},
    }
