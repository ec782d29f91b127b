"""latest.json -> Markdown tables (bench/results/latest.md), the raw material of BENCHMARKS.md."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_fmt(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _throughput_rows(scenario: dict[str, Any], names: Sequence[str], targets: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for name in names:
        entry = scenario.get(name)
        if not entry:
            continue
        vs = entry.get("vs_ceiling", {})
        target = targets.get(name, {})
        rps_min = target.get("rps_ratio_min")
        met = None
        if rps_min is not None and vs.get("rps_ratio") is not None:
            met = vs["rps_ratio"] >= rps_min and (
                "p99_ratio_max" not in target or (vs.get("p99_ratio") or 99) <= target["p99_ratio_max"]
            )
        rows.append(
            [
                name,
                round(entry["rps"] or 0),
                entry["p50_ms"],
                entry["p99_ms"],
                entry["server_cpu_us_per_request"],
                vs.get("rps_ratio"),
                vs.get("cpu_ratio"),
                vs.get("p50_ratio"),
                vs.get("p99_ratio"),
                ", ".join(f"{k.split('_')[0]} {'>=' if 'min' in k else '<='} {v}" for k, v in target.items()) or "",
                met,
                entry.get("foreign_cores_median"),
            ]
        )
    return rows


THROUGHPUT_HEADERS = (
    "target",
    "req/s",
    "p50 ms",
    "p99 ms",
    "server CPU us/req",
    "RPS / ceiling",
    "CPU ratio",
    "p50 / ceiling",
    "p99 / ceiling",
    "target",
    "met",
    "foreign cores",
)


def _gateway_table(scenario: dict[str, Any]) -> str:
    """Each target, and its ratios (median of the per-round ratios: RPS, CPU, p99) against what it is compared with."""
    rows = []
    for name, entry in scenario.items():
        if not isinstance(entry, dict) or "rps" not in entry:
            continue
        ratios = "; ".join(
            f"{key[3:]}: {_fmt(v.get('rps_ratio'))} / {_fmt(v.get('cpu_ratio'))} / {_fmt(v.get('p99_ratio'))}"
            for key, v in entry.items()
            if key.startswith("vs_") and isinstance(v, dict)
        )
        cpu, foreign = entry["server_cpu_us_per_request"], entry["foreign_cores_median"]
        rows.append([name, entry["rps"], entry["p99_ms"], cpu, foreign, ratios])
    headers = ("target", "req/s", "p99 ms", "CPU us/req", "foreign cores", "vs (RPS / CPU / p99 ratios)")
    return table(headers, rows)


def markdown(results: dict[str, Any]) -> str:
    s = results.get("scenarios", {})
    m = results.get("machine", {})
    dirty = " + uncommitted authsvc changes" if m.get("authsvc_uncommitted_changes") else ""
    out = [
        "# authsvc benchmark results",
        "",
        f"{m.get('cpu_model')}, {m.get('cores')} cores, Python {m.get('python')}, "
        f"aiohttp {m.get('packages', {}).get('aiohttp')}, {m.get('event_loop')}, {m.get('wrk')}; "
        f"commit {m.get('git_commit')}{dirty}; "
        f"started {results.get('started')}. Medians of {results.get('options', {}).get('rounds')} interleaved rounds "
        f"of {results.get('options', {}).get('duration')} s. CPU ratio = ceiling CPU per request / target CPU per "
        "request (the RPS ratio a quiet core would show).",
        "",
    ]
    if gateway := s.get("gateway"):
        out += ["## The gateway listener (issue 27)", "", _gateway_table(gateway), ""]
    if verify := s.get("verify"):
        names = [n for n in verify if isinstance(verify[n], dict) and "rps" in verify[n]]
        out += ["## Memory backend", "", table(THROUGHPUT_HEADERS, _throughput_rows(verify, names, verify["targets"]))]
        rss, cookie = verify.get("rss_kib", {}), verify.get("cookie", {})
        out += [
            "",
            f"RSS: {_fmt(rss.get('idle_after_login'))} KiB idle, {_fmt(rss.get('under_verify_load_max'))} KiB max "
            f"under verify load. Cookie: `{cookie.get('cookie_header_bytes')}` bytes as sent (name=value), "
            f"Set-Cookie {cookie.get('set_cookie_header_bytes')} bytes; target <= 300: {_fmt(cookie.get('met'))}.",
            "",
        ]
        if equal := verify.get("equal_rate"):
            vs = equal["verify_vs_ceiling"]
            out += [
                f"At one fixed rate, {_fmt(equal['rate'])} req/s ({equal['connections']} connections): ceiling p50 "
                f"{equal['ceiling']['p50_ms']} ms, p99 {equal['ceiling']['p99_ms']} ms; verify p50 "
                f"{equal['verify']['p50_ms']} ms, p99 {equal['verify']['p99_ms']} ms (p99 ratio {vs['p99_ratio']}).",
                "",
            ]
    if ablation := s.get("ablation"):
        rows = [
            [
                name,
                round(entry["rps"] or 0),
                entry["p99_ms"],
                entry["server_cpu_us_per_request"],
                entry.get("vs_ceiling", {}).get("rps_ratio"),
                entry.get("saves_us_per_request_vs_as_is"),
            ]
            for name, entry in ablation.items()
            if isinstance(entry, dict) and "rps" in entry
        ]
        out += [
            "## Ablation: authsvc with one piece changed (bench/variants.py)",
            "",
            table(("variant", "req/s", "p99 ms", "server CPU us/req", "RPS / ceiling", "saves us/req"), rows),
            "",
        ]
    if logins := s.get("logins"):
        rows = []
        for cost, placements in logins["by_cost"].items():
            bcrypt = logins["bcrypt"][cost]
            for placement, entry in placements.items():
                rows.append(
                    [
                        cost,
                        placement,
                        round(bcrypt["check_s_median"] * 1000, 1),
                        entry["logins_per_s"],
                        entry["bound_issue_formula_per_s"],
                        entry["ratio_to_issue_bound"],
                        entry["bound_cores_per_s"],
                        entry["ratio_to_core_bound"],
                        entry["p50_ms"],
                        entry["errors"],
                    ]
                )
        out += [
            "## Logins (memory backend, 2 bcrypt threads, 4 connections)",
            "",
            table(
                (
                    "cost",
                    "authsvc placed",
                    "one check ms",
                    "logins/s",
                    "bound 2/t",
                    "ratio",
                    "bound min(2,cores)/t",
                    "ratio",
                    "p50 ms",
                    "errors",
                ),
                rows,
            ),
            "",
            "Two threads checking at once, in-process: "
            + "; ".join(
                f"cost {c}: {b['two_threads_one_core_per_s']}/s on one core, {b['two_threads_two_cores_per_s']}/s "
                "on two"
                for c, b in logins["bcrypt"].items()
            ),
            "",
        ]
    if flood := s.get("flood"):
        rows = []
        for placement in ("pinned_1_core", "unpinned_2_cores"):
            if entry := flood.get(placement):
                quiet, busy = entry["verify_no_flood"], entry["verify_under_flood"]
                rows.append(
                    [
                        placement,
                        round(quiet["rps"] or 0),
                        quiet["p99_ms"],
                        round(busy["rps"] or 0),
                        busy["p50_ms"],
                        busy["p99_ms"],
                        entry["flood_logins_per_s_median"],
                        entry["p99_met"],
                    ]
                )
        out += [
            "## /auth/verify under a login flood (cost 12, 8 login connections)",
            "",
            table(
                (
                    "authsvc placed",
                    "verify req/s alone",
                    "p99 ms alone",
                    "verify req/s in flood",
                    "p50 ms",
                    "p99 ms",
                    "logins/s",
                    "p99 <= 50 ms",
                ),
                rows,
            ),
            "",
        ]
    if sessions := s.get("sessions"):
        out += [
            "## Memory with live sessions",
            "",
            f"{_fmt(sessions['sessions_created'])} sessions created in {sessions['seconds']} s: RSS "
            f"{_fmt(sessions['rss_kib_before'])} KiB before, {_fmt(sessions['rss_kib_with_sessions_idle'])} KiB "
            f"after ({_fmt(sessions['bytes_per_session'])} bytes a session), "
            f"{_fmt(sessions['rss_kib_with_sessions_under_verify_load'])} KiB under verify load.",
            "",
        ]
    if mongo := s.get("mongo"):
        verify = mongo["verify"]
        names = list(verify)
        targets = {n: {"rps_ratio_min": mongo.get("verify_target_rps_ratio_min", 0.5)} for n in names if n != "ceiling"}
        out += [
            f"## MongoDB backend ({mongo.get('database_server')})",
            "",
            table(THROUGHPUT_HEADERS, _throughput_rows(verify, names, targets)),
            "",
        ]
        against_memory = [(n, e["vs_memory"]) for n, e in verify.items() if "vs_memory" in e]
        if against_memory:
            floor = mongo.get("verify_vs_memory_target_rps_ratio_min", 0.8)
            out += [
                table(
                    ("vs the memory backend", "RPS ratio", "CPU ratio", "p99 ratio", f"RPS >= {floor}x"),
                    [
                        [n, vs["rps_ratio"], vs["cpu_ratio"], vs["p99_ratio"], (vs["rps_ratio"] or 0) >= floor]
                        for n, vs in against_memory
                    ],
                ),
                "",
            ]
        if mongo_logins := mongo.get("logins_cost12"):
            out += [
                table(
                    ("logins, cost 12", "logins/s", "p50 ms", "p99 ms", "errors"),
                    [[n, e["logins_per_s"], e["p50_ms"], e["p99_ms"], e["errors"]] for n, e in mongo_logins.items()],
                ),
                "",
            ]
    if workers := s.get("workers"):
        verify = workers["verify"]
        two = verify.get("verify_workers2", {}).get("vs_workers1", {})
        out += [
            f"## serve --workers 2 against 1 ({workers.get('database_server')}; servers unpinned, wrk on its core)",
            "",
            table(
                ("target", "req/s", "p50 ms", "p99 ms"),
                [[n, round(e["rps"] or 0), e["p50_ms"], e["p99_ms"]] for n, e in verify.items()],
            ),
            "",
            f"2 workers / 1: RPS {two.get('rps_ratio')}x, p99 {two.get('p99_ratio')}x.",
            "",
        ]
    if growth := s.get("growth"):
        rows = []
        sizes = [str(size) for size in growth["sizes"]]
        for kind, ratio in growth.get("large_vs_small", {}).items():
            small, large = (growth["by_size"][size].get(kind, {}) for size in (sizes[0], sizes[-1]))
            rows.append(
                [
                    kind,
                    small.get("p50_ms"),
                    large.get("p50_ms"),
                    ratio["p50_ratio"],
                    small.get("p99_ms"),
                    large.get("p99_ms"),
                    ratio["p99_ratio"],
                    (ratio["p50_ratio"] or 99) <= growth.get("target_latency_ratio_max", 1.2),
                ]
            )
        out += [
            f"## Growth ({growth.get('database_server')}; one client at a time)",
            "",
            table(
                (
                    "path",
                    f"p50 ms @{sizes[0]}",
                    f"p50 ms @{sizes[-1]}",
                    "ratio",
                    f"p99 ms @{sizes[0]}",
                    f"p99 ms @{sizes[-1]}",
                    "ratio",
                    "p50 <= 1.2x",
                ),
                rows,
            ),
            "",
            "Direct queries (ms, the user signed up last): "
            + "; ".join(f"{size}: {growth['by_size'][size].get('query_ms')}" for size in sizes),
            "",
        ]
    if micro := s.get("micro"):
        out += [
            "## Per-call costs, in-process (us)",
            "",
            table(("piece", "us"), list(micro["us_per_call"].items())),
            "",
        ]
    if profile := s.get("profile"):
        out += [
            f"## Profile of /auth/verify under load (py-spy, {profile.get('samples')} samples)",
            "",
            table(("where", "% of samples"), list(profile.get("groups_percent", {}).items())),
            "",
            table(("innermost frame", "%"), list(profile.get("top_frames_percent", {}).items())[:15]),
            "",
        ]
    if soak := s.get("soak"):
        out += [
            "## Soak",
            "",
            f"{soak['duration_s']:.0f} s at {soak['verify_target_rps']:,.0f} verify/s (half of "
            f"{soak['verify_max_rps']:,.0f}) + 1 login/s: {soak['verify']['requests']:,} verify requests, "
            f"p99 {soak['verify']['p99_ms']} ms; errors {soak['errors']}, non-2xx {soak['non_2xx']}, "
            f"5xx {soak['5xx']}; logins ok {soak['logins']['ok']}, failed {soak['logins']['failed']}; RSS growth "
            f"after {soak['warmup_s']} s warm-up {_fmt((soak['rss_growth_after_warmup'] or 0) * 100, 1)}%; "
            f"met: {_fmt(soak['met'])}.",
            "",
        ]
    if failures := results.get("failures"):
        out += ["## Failed scenarios", ""] + [f"- {name}: {text.splitlines()[-1]}" for name, text in failures.items()]
    return "\n".join(out) + "\n"
