"""What every scenario shares: the options, interleaved wrk runs, medians and ratios to the ceiling."""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bench import wrk
from bench.procs import wait_for_quiet

SERVER_CPUS = "1"  # every server under test
LOAD_CPUS = "0"  # wrk (and the FerretDB test server)


@dataclass
class Options:
    duration: float = 10.0  # seconds per measured wrk run
    rounds: int = 3  # A, B, A, B, ... rounds per comparison
    connections: int = 32
    warmup: float = 2.0
    login_duration: float = 15.0  # logins at cost 12 come ~3-7 a second: longer runs
    quiet_threshold: float = 0.25  # cores other processes may use before a run starts (shared machine)
    quiet_wait: float = 10.0  # at most this long waiting for them
    ferretdb_serialize: bool = True
    mongodb_url: str | None = None  # a real MongoDB instead of the FerretDB test server
    growth_sizes: tuple[int, ...] = (1_000, 100_000)
    memory_sessions: int = 100_000
    quick: bool = False
    only: tuple[str, ...] = ()
    server_cpus: str = SERVER_CPUS
    load_cpus: str = LOAD_CPUS
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def quick_options(cls) -> Options:
        return cls(
            duration=1.0,
            rounds=1,
            warmup=0.0,
            login_duration=3.0,
            quiet_wait=0.0,
            growth_sizes=(100, 1_000),
            memory_sessions=1_000,
            quick=True,
        )


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Target:
    """One thing to load: the ceiling, /auth/verify on some authsvc, a login script..."""

    name: str
    url: str
    pid: int
    headers: dict[str, str] | None = None
    lua: str | None = None
    connections: int | None = None
    timeout_s: float = 10.0
    duration: float | None = None


def run_target(target: Target, options: Options, *, duration: float | None = None, label: str = "") -> wrk.WrkResult:
    return wrk.run(
        label or target.name,
        target.url,
        server_pid=target.pid,
        duration=duration or target.duration or options.duration,
        connections=target.connections or options.connections,
        cpus=options.load_cpus,
        headers=target.headers,
        lua=target.lua,
        timeout_s=target.timeout_s,
    )


def interleave(
    targets: Sequence[Target], options: Options, *, other_pids: Sequence[int] = (), warmup: bool = True
) -> dict[str, list[wrk.WrkResult]]:
    """Rounds of A, B, C, A, B, C...: slow drifts of a shared machine hit every target alike."""
    pids = [t.pid for t in targets] + list(other_pids)
    if warmup and options.warmup > 0:
        for target in targets:
            run_target(target, options, duration=options.warmup, label=f"{target.name} (warm-up)")
    results: dict[str, list[wrk.WrkResult]] = {t.name: [] for t in targets}
    for round_number in range(1, options.rounds + 1):
        for target in targets:
            quiet = wait_for_quiet(pids, options.quiet_threshold, options.quiet_wait) if options.quiet_wait else 0.0
            result = run_target(target, options)
            result.extra["round"] = round_number
            result.extra["foreign_cores_before"] = round(quiet, 2)
            results[target.name].append(result)
            say(f"round {round_number}/{options.rounds} {result.short()}")
    return results


def fixed_rate_lua(target: Target, options: Options, rate: float, connections: int, count_statuses: bool) -> str:
    """A wrk script holding `rate` requests/s: each connection waits interval ms between requests, the interval
    calibrated by a 2 s trial (a connection's cycle is its wait plus the response time, which wrk's ms-resolution
    delay() cannot see)."""
    interval = connections / rate * 1000
    trial_lua = wrk.script(interval_ms=interval, count_statuses=False)
    trial = Target(target.name, target.url, target.pid, target.headers, trial_lua, connections)
    achieved = run_target(trial, options, duration=2.0, label=f"{target.name} rate calibration").rps
    if achieved > 0:
        latency_ms = max(0.0, connections / achieved * 1000 - interval)
        interval = max(0.05, interval - latency_ms)
    return wrk.script(interval_ms=interval, count_statuses=count_statuses)


def median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def rounded(value: float | None, digits: int = 3) -> float | None:
    return round(value, digits) if value is not None else None


def summarize(runs: Sequence[wrk.WrkResult]) -> dict[str, Any]:
    """Medians over the rounds, and every run in full."""
    return {
        "rps": rounded(median([r.rps for r in runs]), 1),
        "p50_ms": rounded(median([r.p50_ms for r in runs])),
        "p90_ms": rounded(median([r.p90_ms for r in runs])),
        "p99_ms": rounded(median([r.p99_ms for r in runs])),
        "server_cpu_us_per_request": rounded(median([r.server_cpu_us_per_request for r in runs]), 1),
        "rss_kib_max": max((r.server_rss_kib_max or 0 for r in runs), default=None),
        "errors": sum(r.error_count for r in runs),
        "non_2xx": sum(r.errors.get("status", 0) for r in runs),
        "requests": sum(r.requests for r in runs),
        "foreign_cores_median": rounded(median([r.foreign_cores for r in runs]), 2),
        "runs": [compact(r) for r in runs],
    }


def compact(result: wrk.WrkResult) -> dict[str, Any]:
    data = result.to_dict()
    data.pop("samples", None)
    return data


def ratios(target: Sequence[wrk.WrkResult], ceiling: Sequence[wrk.WrkResult]) -> dict[str, Any]:
    """Target / ceiling: per round (the runs next to each other), then the median of those."""
    per_round = []
    for mine, theirs in zip(target, ceiling, strict=False):
        cpu_mine, cpu_theirs = mine.server_cpu_us_per_request, theirs.server_cpu_us_per_request
        per_round.append(
            {
                "rps": mine.rps / theirs.rps if theirs.rps else None,
                "p50": mine.p50_ms / theirs.p50_ms if theirs.p50_ms else None,
                "p99": mine.p99_ms / theirs.p99_ms if theirs.p99_ms else None,
                # ceiling CPU per request / target CPU per request: the RPS ratio a quiet core would show
                "cpu": cpu_theirs / cpu_mine if cpu_mine and cpu_theirs else None,
            }
        )
    return {
        "rps_ratio": rounded(median([r["rps"] for r in per_round])),
        "p50_ratio": rounded(median([r["p50"] for r in per_round])),
        "p99_ratio": rounded(median([r["p99"] for r in per_round])),
        "cpu_ratio": rounded(median([r["cpu"] for r in per_round])),
        "per_round": [{k: rounded(v) for k, v in r.items()} for r in per_round],
    }
