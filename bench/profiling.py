"""Where a verify request's time goes: py-spy samples of authsvc under wrk load, grouped by the code they are in.

Each sample's stack is walked from the innermost frame outwards and charged to the first group it matches, so the
groups add up to 100% of the samples in which the process was running Python (or native code called from it).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench import RAW_DIR, client, wrk
from bench.common import Options, say
from bench.procs import Authsvc, BenchError, authsvc_overrides, servers

# (group, substrings of a frame "function (file:line)"), innermost match wins; order matters for ties.
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("access log: logging + python-json-logger", ("logging/__init__.py", "pythonjsonlogger", "authsvc/logs.py")),
    ("prometheus metrics", ("prometheus_client",)),
    ("Fernet decrypt (cryptography)", ("cryptography/",)),
    ("json", ("json/",)),
    ("aiohttp-session (load_session, Session)", ("aiohttp_session",)),
    ("dependency-injector @inject", ("dependency_injector",)),
    ("authsvc middlewares (edge, csrf, problem)", ("authsvc/web/edge/middlewares.py",)),
    ("authsvc verify: handler, guards, service, registry, storage", ("authsvc/",)),
    ("secrets/hashlib/urllib (ids, hashes, quoting)", ("secrets.py", "hashlib.py", "urllib/parse.py")),
    ("contextvars/asyncio glue", ("asyncio/", "contextvars")),
    ("multidict/yarl/http cookies", ("multidict", "yarl", "http/cookies.py")),
    ("aiohttp: request handling, routing, response", ("aiohttp/",)),
)
EVENT_LOOP = "event loop (uvloop C code: sockets, callbacks) and interpreter"


def group_of(stack: list[str]) -> str:
    for frame in reversed(stack):
        for name, needles in GROUPS:
            if any(needle in frame for needle in needles):
                return name
    return EVENT_LOOP


def summarize_raw(path: Path) -> dict[str, Any]:
    """Groups and hottest innermost frames of a py-spy `--format raw` file (collapsed stacks + counts)."""
    groups: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not stack_text or not count_text.isdigit():
            continue
        count = int(count_text)
        stack = [frame for frame in stack_text.split(";") if frame]
        total += count
        groups[group_of(stack)] += count
        if stack:
            leaves[_short(stack[-1])] += count
    return {
        "samples": total,
        "groups_percent": {name: round(100 * count / total, 1) for name, count in groups.most_common()}
        if total
        else {},
        "top_frames_percent": {name: round(100 * count / total, 1) for name, count in leaves.most_common(25)}
        if total
        else {},
    }


def _short(frame: str) -> str:
    # "Fernet.decrypt (cryptography/fernet.py:84)" -> keep the file path's tail only
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit('site-packages/', 1)[-1]}" if where else name


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        raise BenchError("py-spy is not installed: .venv/bin/pip install py-spy")
    return found


def record(pid: int, seconds: float, output: Path, fmt: str, rate: int = 250, native: bool = False) -> None:
    command = [py_spy(), "record", "--pid", str(pid), "--duration", str(round(seconds)), "--rate", str(rate)]
    command += ["--format", fmt, "--output", str(output), "--nonblocking"]
    if native:
        command.append("--native")
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=False)
    if done.returncode != 0:
        raise BenchError(f"py-spy failed ({done.returncode}): {done.stderr[-1000:]}")


def profile_verify(options: Options, access_log: bool = True) -> dict[str, Any]:
    seconds = 3.0 if options.quick else 10.0
    RAW_DIR.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"seconds": seconds, "rate_hz": 250}
    with servers() as stack:
        server = stack.enter_context(
            Authsvc("authsvc-profile", authsvc_overrides(access_log=access_log), options.server_cpus).start()
        )
        login = client.signup_and_login(server.base_url)
        for fmt, suffix in (("raw", "txt"), ("flamegraph", "svg")):
            load = wrk.WrkRun(
                f"verify under py-spy ({fmt})",
                server.base_url + "/auth/verify",
                duration=seconds + 3,
                connections=options.connections,
                cpus=options.load_cpus,
                headers={"Cookie": login.cookie_header},
            ).start(server.pid)
            time.sleep(1.0)
            output = RAW_DIR / f"verify-profile.{suffix}"
            record(server.pid, seconds, output, fmt)
            result = load.wait()
            say(result.short())
            out[f"{fmt}_file"] = str(output.relative_to(RAW_DIR.parent.parent.parent))
            if fmt == "raw":
                out.update(summarize_raw(output))
                out["load_during_sampling"] = {k: v for k, v in result.to_dict().items() if k != "samples"}
    return out
