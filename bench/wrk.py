"""wrk runs: the command line, the Lua scripts (generated, constants substituted) and the JSON they print.

Every script ends with a ``done(summary, latency, requests)`` hook that prints one ``BENCH_JSON {...}`` line with the
request count, errors and latency percentiles (microseconds), so nothing depends on wrk's human-readable table.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import RAW_DIR
from bench.procs import BenchError, cpu_seconds, machine_busy_seconds, pinned, require_tool, rss_kib

PERCENTILES = (50, 75, 90, 99, 99.9)
WRK_DIR = RAW_DIR / "wrk"
_RUNS = 0

# Counts responses by status class in each thread; done() adds them up through thread:get().
STATUS_COUNTS = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function response(status, headers, body)
  if status < 300 then n2xx = (n2xx or 0) + 1
  elseif status < 400 then n3xx = (n3xx or 0) + 1
  elseif status < 500 then n4xx = (n4xx or 0) + 1
  else n5xx = (n5xx or 0) + 1 end
end
local function status_counts()
  local c = {n2xx = 0, n3xx = 0, n4xx = 0, n5xx = 0}
  for _, t in ipairs(threads) do
    for k, _ in pairs(c) do c[k] = c[k] + (t:get(k) or 0) end
  end
  return string.format('{"2xx":%d,"3xx":%d,"4xx":%d,"5xx":%d}', c.n2xx, c.n3xx, c.n4xx, c.n5xx)
end
"""

NO_STATUS_COUNTS = """
local function status_counts() return "null" end
"""

DONE = """
function done(summary, latency, requests)
  local e = summary.errors
  local p = {}
  for _, q in ipairs({%(percentiles)s}) do
    table.insert(p, string.format('"%%s":%%d', tostring(q), latency:percentile(q)))
  end
  io.write(string.format(
    'BENCH_JSON {"requests":%%d,"duration_us":%%d,"bytes":%%d,' ..
    '"errors":{"connect":%%d,"read":%%d,"write":%%d,"status":%%d,"timeout":%%d},' ..
    '"latency_us":{"min":%%d,"mean":%%.1f,"max":%%d,"stdev":%%.1f,"percentiles":{%%s}},"statuses":%%s}\\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.max, latency.stdev, table.concat(p, ","), status_counts()))
end
"""

# POST /users/login with a JSON body, cycling through `users` accounts named prefix0, prefix1, ...
LOGIN_REQUEST = """
local user_count = %(users)d
local counter = 0
function init(args)
  counter = math.random(0, user_count - 1)
end
function request()
  counter = counter + 1
  local body = string.format('{"username":"%(prefix)s%%d","password":"%(password)s"}', counter %% user_count)
  return wrk.format("POST", "%(path)s", {["Content-Type"] = "application/json"}, body)
end
"""

# A fixed request rate: each connection waits `interval` ms between requests (fractions by random rounding).
RATE_DELAY = """
local interval = %(interval_ms).4f
function delay()
  local whole = math.floor(interval)
  if math.random() < interval - whole then return whole + 1 end
  return whole
end
"""


def script(*, login: dict[str, Any] | None = None, interval_ms: float | None = None, count_statuses: bool) -> str:
    """A wrk Lua script: optional login requests, optional fixed rate, always the JSON done() hook."""
    parts = [STATUS_COUNTS if count_statuses else NO_STATUS_COUNTS]
    if login is not None:
        parts.append(LOGIN_REQUEST % login)
    if interval_ms is not None:
        parts.append(RATE_DELAY % {"interval_ms": interval_ms})
    parts.append(DONE % {"percentiles": ", ".join(str(p) for p in PERCENTILES)})
    return "\n".join(parts)


@dataclass
class WrkResult:
    label: str
    requests: int
    duration_s: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    mean_ms: float
    max_ms: float
    errors: dict[str, int]
    statuses: dict[str, int] | None
    connections: int
    server_rss_kib_max: int | None = None
    server_cpu_s: float | None = None  # CPU time the server used during the run (all its threads)
    wrk_cpu_s: float | None = None
    foreign_cores: float | None = None  # cores' worth of CPU other processes took meanwhile (shared machine)
    samples: list[dict[str, float]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def server_cpu_us_per_request(self) -> float | None:
        """Server CPU per request: steadier than RPS on a shared machine (other load takes time, not CPU)."""
        if self.server_cpu_s is None or not self.requests:
            return None
        return self.server_cpu_s / self.requests * 1e6

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rps"] = round(self.rps, 1)
        cpu = self.server_cpu_us_per_request
        data["server_cpu_us_per_request"] = round(cpu, 1) if cpu is not None else None
        for key in ("p50_ms", "p90_ms", "p99_ms", "p999_ms", "mean_ms", "max_ms", "duration_s"):
            data[key] = round(data[key], 3)
        return data

    def short(self) -> str:
        bad = f", errors {self.errors}" if self.error_count else ""
        cpu = self.server_cpu_us_per_request
        per = f", {cpu:.0f} us CPU/req" if cpu is not None else ""
        return (
            f"{self.label}: {self.rps:,.0f} req/s, p50 {self.p50_ms:.2f} ms, p99 {self.p99_ms:.2f} ms "
            f"({self.requests} requests{per}, other load {self.foreign_cores or 0:.2f} cores{bad})"
        )


class WrkRun:
    """One wrk process; start() returns at once, wait() returns its parsed result (sampling the server meanwhile)."""

    def __init__(
        self,
        label: str,
        url: str,
        *,
        duration: float,
        connections: int = 32,
        threads: int = 1,
        cpus: str | None = "0",
        headers: dict[str, str] | None = None,
        lua: str | None = None,
        timeout_s: float = 10.0,
        count_statuses: bool = False,
    ) -> None:
        require_tool("wrk")
        self.label = label
        self.connections = connections
        self.duration = duration
        self._dir = Path(tempfile.mkdtemp(prefix="bench-wrk-"))
        script_path = self._dir / "script.lua"
        script_path.write_text(lua or script(count_statuses=count_statuses))
        command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s", "--latency"]
        command += ["--timeout", f"{max(1, round(timeout_s))}s", "-s", str(script_path)]
        for name, value in (headers or {}).items():
            command += ["-H", f"{name}: {value}"]
        self.command = pinned([*command, url], cpus)
        self.process: subprocess.Popen[str] | None = None

    def start(self, server_pid: int | None = None) -> WrkRun:
        """Start wrk; server_pid (the server under load) is sampled for RSS and CPU time until wait() returns."""
        self.server_pid = server_pid
        self._busy_before = machine_busy_seconds()
        self._server_cpu_before = cpu_seconds(server_pid) if server_pid else None
        self.process = subprocess.Popen(self.command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.started = time.monotonic()
        return self

    def interrupt(self) -> None:
        """SIGINT: wrk stops early and still prints its summary."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGINT)

    def wait(self, sample_every: float = 0.5) -> WrkResult:
        if self.process is None:
            raise BenchError("wrk was not started")
        samples: list[dict[str, float]] = []
        deadline = self.started + self.duration + 60  # wrk stops itself; this only bounds a hung one
        while True:
            pid, status, usage = os.wait4(self.process.pid, os.WNOHANG)  # rusage: wrk's own CPU time
            if pid:
                self.process.returncode = os.waitstatus_to_exitcode(status)
                break
            if self.server_pid is not None and (rss := rss_kib(self.server_pid)) is not None:
                samples.append({"t": round(time.monotonic() - self.started, 2), "rss_kib": rss})
            if time.monotonic() > deadline:
                self.process.kill()
            time.sleep(sample_every)
        elapsed = time.monotonic() - self.started
        output = self.process.stdout.read() if self.process.stdout else ""
        if self.process.stdout:
            self.process.stdout.close()
        keep_output(self.label, self.command, output, (self._dir / "script.lua").read_text())
        shutil.rmtree(self._dir, ignore_errors=True)
        result = parse(self.label, output, self.connections, samples)
        wrk_cpu = usage.ru_utime + usage.ru_stime
        server_cpu = None
        if self.server_pid is not None and self._server_cpu_before is not None:
            after = cpu_seconds(self.server_pid)
            server_cpu = after - self._server_cpu_before if after is not None else None
        result.server_cpu_s = round(server_cpu, 3) if server_cpu is not None else None
        result.wrk_cpu_s = round(wrk_cpu, 3)
        busy = machine_busy_seconds() - self._busy_before
        result.foreign_cores = round(max(0.0, (busy - wrk_cpu - (server_cpu or 0.0)) / elapsed), 3)
        return result


def keep_output(label: str, command: list[str], output: str, lua: str) -> None:
    """wrk's own output for every run, numbered, under bench/results/raw/wrk/ (cleared at each bench start)."""
    global _RUNS
    _RUNS += 1
    WRK_DIR.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", label)[:60]
    (WRK_DIR / f"{_RUNS:04d}-{name}.txt").write_text(f"$ {' '.join(command)}\n\n{output}\n--- script.lua ---\n{lua}")


def clear_outputs() -> None:
    shutil.rmtree(WRK_DIR, ignore_errors=True)


def parse(label: str, output: str, connections: int, samples: list[dict[str, float]] | None = None) -> WrkResult:
    line = next((line for line in output.splitlines() if line.startswith("BENCH_JSON ")), None)
    if line is None:
        raise BenchError(f"wrk printed no result for {label}:\n{output[-2000:]}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    duration_s = data["duration_us"] / 1e6
    latency = data["latency_us"]
    percentiles = latency["percentiles"]
    rss = [int(s["rss_kib"]) for s in samples or []]
    return WrkResult(
        label=label,
        requests=data["requests"],
        duration_s=duration_s,
        rps=data["requests"] / duration_s if duration_s else 0.0,
        p50_ms=percentiles["50"] / 1000,
        p90_ms=percentiles["90"] / 1000,
        p99_ms=percentiles["99"] / 1000,
        p999_ms=percentiles["99.9"] / 1000,
        mean_ms=latency["mean"] / 1000,
        max_ms=latency["max"] / 1000,
        errors=data["errors"],
        statuses=data["statuses"],
        connections=connections,
        server_rss_kib_max=max(rss) if rss else None,
        samples=samples or [],
    )


def run(label: str, url: str, *, server_pid: int | None = None, **options: Any) -> WrkResult:
    return WrkRun(label, url, **options).start(server_pid).wait()
