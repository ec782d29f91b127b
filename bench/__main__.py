"""``python -m bench``: every scenario of issue 6, results in bench/results/latest.json (+ latest.md).

python -m bench                         # everything (about 40 minutes on 2 cores)
python -m bench --quick                 # a smoke run (~15 s): the verify scenario, 1 s runs, one round
python -m bench --quick --only all      # every scenario at tiny sizes (~3 minutes)
python -m bench --only verify,logins    # some scenarios (see --list)
python -m bench soak --minutes 5        # the soak (its own command: it takes minutes by design)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import (
    RAW_DIR,
    RESULTS_DIR,
    access_rules,
    authelia_peer,
    gateway,
    machine,
    memory_backend,
    micro,
    mongo_backend,
    profiling,
    report,
    wrk,
)
from bench.common import Options, say
from bench.procs import BenchError, require_tool
from bench.soak import soak

Scenario = Callable[[Options], dict[str, Any]]

SCENARIOS: dict[str, tuple[str, Scenario]] = {
    "verify": (
        "memory backend: /auth/verify, /users/protected vs the ceiling; idle/load RSS; cookie size",
        memory_backend.verify_vs_ceiling,
    ),
    "ablation": (
        "memory backend: verify with one piece of authsvc out at a time (bench/variants.py)",
        memory_backend.ablation,
    ),
    "logins": (
        "memory backend: logins/s vs the bcrypt bound, cost 12 and 10, pinned and unpinned",
        memory_backend.logins,
    ),
    "flood": ("memory backend: /auth/verify p99 under a login flood", memory_backend.flood),
    "sessions": ("memory backend: RSS with 100,000 live sessions", memory_backend.live_sessions),
    "micro": ("in-process per-request costs of the verify path's pieces", micro.scenario),
    "profile": ("py-spy profile of /auth/verify under load", profiling.profile_verify),
    "mongo": (
        "MongoDB backend: verify vs memory (pymongo, motor; cache on, pymongo off) and logins",
        mongo_backend.verify_and_logins,
    ),
    "growth": ("MongoDB backend: 1,000 vs 100,000 users and sessions", mongo_backend.growth),
    "workers": ("MongoDB backend: serve --workers 2 vs 1 worker, both cores", mongo_backend.workers),
    "access": ("memory backend: /auth/verify with 100 access rules vs none (issue 25)", access_rules.rules_vs_none),
    "gateway": (
        "memory backend: the gateway listener vs the aiohttp path vs aiohttp's hello, bare, nginx's and Traefik's "
        "headers, 100 rules (issue 27)",
        gateway.gateway_listener,
    ),
    "gateway-host": (
        "MongoDB backend: serve --workers auto vs Authelia (GOMAXPROCS = cores), both cores, forward-auth (issue 27)",
        gateway.whole_host,
    ),
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", nargs="?", choices=("run", "soak", "peers"), default="run")
    parser.add_argument("--quick", action="store_true", help="a few-second run of each scenario (smoke test)")
    parser.add_argument(
        "--only", default="", help="comma-separated scenarios, or all (default: all; with --quick: verify); see --list"
    )
    parser.add_argument("--skip", default="", help="comma-separated scenarios to leave out")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument("--duration", type=float, help="seconds per measured wrk run (default 10; quick 1)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds per comparison (default 3; quick 1)")
    parser.add_argument("--connections", type=int, help="wrk connections for throughput runs (default 32)")
    parser.add_argument("--login-duration", type=float, help="seconds per login run (default 15; quick 3)")
    parser.add_argument("--growth-sizes", help="comma-separated user/session counts (default 1000,100000)")
    parser.add_argument("--sessions", type=int, help="live sessions for the memory scenario (default 100000)")
    parser.add_argument("--mongodb-url", help="a real MongoDB instead of the FerretDB test server")
    parser.add_argument(
        "--ferretdb-no-serialize", action="store_true", help="run the FerretDB test server with -serialize=false"
    )
    parser.add_argument(
        "--no-quiet-wait", action="store_true", help="start runs without waiting for other processes to calm down"
    )
    parser.add_argument(
        "--merge", action="store_true", help="keep the other scenarios already in the results file, replace these"
    )
    parser.add_argument("--minutes", type=float, default=5.0, help="soak: minutes (default 5)")
    parser.add_argument("--rate", type=float, help="soak: verify requests/s (default: half the measured maximum)")
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="results file (default bench/results/latest.json, with --quick bench/results/raw/quick.json; "
        "soak: soak.json in the same folder)",
    )
    return parser.parse_args(argv)


def options_from(args: argparse.Namespace) -> Options:
    options = Options.quick_options() if args.quick else Options()
    if args.duration:
        options.duration = args.duration
    if args.rounds:
        options.rounds = args.rounds
    if args.connections:
        options.connections = args.connections
    if args.login_duration:
        options.login_duration = args.login_duration
    if args.growth_sizes:
        options.growth_sizes = tuple(int(size) for size in args.growth_sizes.split(","))
    if args.sessions:
        options.memory_sessions = args.sessions
    if args.mongodb_url:
        options.mongodb_url = args.mongodb_url
    if args.ferretdb_no_serialize:
        options.ferretdb_serialize = False
    if args.no_quiet_wait:
        options.quiet_wait = 0.0
    return options


def chosen(args: argparse.Namespace) -> list[str]:
    names = [n for n in args.only.split(",") if n] or (["verify"] if args.quick else list(SCENARIOS))
    if names == ["all"]:
        names = list(SCENARIOS)
    unknown = [n for n in names + [n for n in args.skip.split(",") if n] if n not in SCENARIOS]
    if unknown:
        raise SystemExit(f"unknown scenario(s): {', '.join(unknown)}; see --list")
    skipped = set(args.skip.split(","))
    return [n for n in names if n not in skipped]


def write(path: Path, results: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=1, default=str) + "\n")
    tmp.replace(path)


def peers() -> int:
    """Find or build the Authelia peer; the gateway scenario measures against it once it is there."""
    binary = authelia_peer.find_authelia()
    if binary is None:
        say(f"building Authelia {authelia_peer.VERSION} into {authelia_peer.BINARY}")
        try:
            binary = authelia_peer.build_authelia()
        except BenchError as exc:
            print(f"bench: {exc}", file=sys.stderr)
            return 2
    print(f"{binary}: {authelia_peer.authelia_version(binary)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.command == "peers":
        return peers()
    if args.list:
        for name, (description, _) in SCENARIOS.items():
            print(f"{name:10} {description}")
        return 0
    try:
        require_tool("wrk")
        require_tool("taskset")
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    options = options_from(args)
    if (os.cpu_count() or 1) < 2:  # nothing to keep apart: everything on the one core there is
        say("one core only: servers and wrk share it; figures are not comparable with 2-core runs")
        options.server_cpus = options.load_cpus = "0"
    wrk.clear_outputs()
    options.only = tuple(chosen(args)) if args.command == "run" else ("soak",)
    results: dict[str, Any] = {
        "machine": machine.describe(),
        "options": asdict(options),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "scenarios": {},
        "failures": {},
    }
    default = (RAW_DIR / "quick.json") if args.quick else (RESULTS_DIR / "latest.json")  # a smoke run keeps off
    output = args.output or (default if args.command == "run" else default.with_name("soak.json"))
    if args.merge and output.exists():
        previous = json.loads(output.read_text())
        results["scenarios"] = previous.get("scenarios", {})
        for scenario in results["scenarios"].values():  # which code each kept scenario measured
            scenario.setdefault("git_commit", previous.get("machine", {}).get("git_commit"))
        results["failures"] = {k: v for k, v in previous.get("failures", {}).items() if k not in options.only}
        results["merged_from"] = previous.get("started")
    if args.command == "soak":
        minutes = args.minutes if not args.quick else min(args.minutes, 0.25)
        results["scenarios"]["soak"] = soak(options, minutes, args.rate)
    else:
        for name in options.only:
            say(f"== {name}: {SCENARIOS[name][0]}")
            started = time.monotonic()
            commit = machine.code_version()  # the code may move during a long run: record it per scenario
            try:
                results["scenarios"][name] = SCENARIOS[name][1](options)
                results["scenarios"][name]["elapsed_s"] = round(time.monotonic() - started, 1)
                ended = machine.code_version()
                results["scenarios"][name]["git_commit"] = commit if ended == commit else f"{commit} .. {ended}"
            except (BenchError, OSError, ValueError, KeyError, RuntimeError) as exc:
                say(f"{name} failed: {exc}")
                results["failures"][name] = "".join(traceback.format_exception(exc))[-4000:]
            write(output, results)  # what has been measured survives a later failure
    results["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    write(output, results)
    markdown = report.markdown(results)
    output.with_suffix(".md").write_text(markdown)
    print(markdown)
    say(f"wrote {output} and {output.with_suffix('.md')}")
    return 1 if results["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
