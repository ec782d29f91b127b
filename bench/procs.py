"""Processes the bench starts and always stops: authsvc, the ceiling app and the FerretDB test server.

Every server listens on 127.0.0.1 only and is pinned with ``taskset -c CPUS`` when CPUS is given.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import yaml
from cryptography.fernet import Fernet

from bench import RAW_DIR, ROOT

FERRETDB_BINARY = ROOT / "tools" / "ferretdb" / "bin" / "ferretdb-test"
LOG_TAIL_BYTES = 64 * 1024  # server logs are cut to their tail once the server has stopped


class BenchError(Exception):
    """A server did not start, a tool is missing: the run cannot go on."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pinned(command: Sequence[str], cpus: str | None) -> list[str]:
    """The command under ``taskset -c cpus`` (None: unpinned)."""
    return ["taskset", "-c", cpus, *command] if cpus else list(command)


def rss_kib(pid: int) -> int | None:
    """VmRSS of a process in KiB, from /proc/PID/status (None once it has gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (all its threads), from /proc/PID/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def machine_busy_seconds() -> float:
    """CPU seconds every core has spent busy since boot (user+nice+system+irq+softirq+steal), from /proc/stat."""
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def foreign_load(exclude_pids: Sequence[int] = (), seconds: float = 0.5) -> float:
    """Cores' worth of CPU used by everything but exclude_pids during the next `seconds` (0 on a quiet machine)."""
    before = machine_busy_seconds() - sum(cpu_seconds(pid) or 0.0 for pid in exclude_pids)
    time.sleep(seconds)
    after = machine_busy_seconds() - sum(cpu_seconds(pid) or 0.0 for pid in exclude_pids)
    return max(0.0, (after - before) / seconds)


def wait_for_quiet(exclude_pids: Sequence[int] = (), threshold: float = 0.15, max_wait: float = 20.0) -> float:
    """Wait (bounded) until other processes use under `threshold` cores; the load last seen is returned."""
    deadline = time.monotonic() + max_wait
    load = foreign_load(exclude_pids)
    while load > threshold and time.monotonic() < deadline:
        load = foreign_load(exclude_pids, 1.0)
    return load


def trim_log(path: Path, keep: int = LOG_TAIL_BYTES) -> None:
    """Keep a server log's tail only: a 10 s run at full rate writes megabytes of access log."""
    try:
        size = path.stat().st_size
        if size <= keep:
            return
        with path.open("rb") as log:
            log.seek(size - keep)
            tail = log.read()
        path.write_bytes(b"[... trimmed by the bench ...]\n" + tail[tail.find(b"\n") + 1 :])
    except OSError:
        pass


class Server:
    """One server process: started in its own process group, stopped with SIGTERM (then SIGKILL)."""

    def __init__(self, name: str, command: Sequence[str], *, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.command = list(command)
        self.env = env
        RAW_DIR.mkdir(parents=True, exist_ok=True)
        self.log_path = RAW_DIR / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        if self.process is None:
            raise BenchError(f"{self.name} is not running")
        return self.process.pid

    def start(self) -> Self:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
            )
        return self

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def logs(self, tail: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        self.process = None
        trim_log(self.log_path)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class HttpServer(Server):
    """A server answering HTTP on 127.0.0.1:port; ready once ``ready_path`` answers."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        port: int,
        *,
        env: dict[str, str] | None = None,
        ready_path: str = "/",
    ) -> None:
        super().__init__(name, command, env=env)
        self.port = port
        self.ready_path = ready_path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> Self:
        super().start()
        deadline = time.monotonic() + timeout
        while True:
            if not self.running():
                raise BenchError(f"{self.name} exited at start-up:\n{self.logs()}")
            try:
                with urllib.request.urlopen(self.base_url + self.ready_path, timeout=2) as response:  # noqa: S310
                    if response.status < 500:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise BenchError(f"{self.name} did not answer {self.ready_path} within {timeout:.0f} s")
            time.sleep(0.05)


def start_ceiling(cpus: str | None, name: str = "ceiling") -> HttpServer:
    port = free_port()
    command = pinned([sys.executable, "-m", "bench.ceiling", "--host", "127.0.0.1", "--port", str(port)], cpus)
    server = HttpServer(name, command, port, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return server.start()


def authsvc_overrides(
    *,
    bcrypt_cost: int = 12,
    hash_threads: int = 2,
    access_log: bool = True,
    mongodb: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The settings the bench changes; everything else keeps config.yaml's defaults."""
    config: dict[str, Any] = {
        "server": {"access_log": access_log},
        # The bench measures the bcrypt bound itself: wrk's connections may all wait for a thread, and one address
        # signs up thousands of users.
        "passwords": {"bcrypt_cost": bcrypt_cost, "hash_threads": hash_threads, "hash_queue": 10_000},
        "throttle": {"signup_burst": 1_000_000},
    }
    if mongodb is not None:
        config["storage"] = {"backend": "mongodb"}
        config["mongodb"] = mongodb
    return config


class Authsvc(HttpServer):
    """``python -m authsvc serve`` with a temporary --config file, a fresh session key (shared when given)."""

    def __init__(
        self,
        name: str,
        config: dict[str, Any],
        cpus: str | None,
        session_key: str | None = None,
        variant: str | None = None,
        workers: int | str = 1,
        root: Path = ROOT,
    ) -> None:
        """root: the source tree to run (another commit's, unpacked, to measure before against after)."""
        port = free_port()
        self.config = config
        self.session_key = session_key or Fernet.generate_key().decode("ascii")
        self._config_dir = Path(tempfile.mkdtemp(prefix="authsvc-bench-"))
        config_path = self._config_dir / "bench.yaml"
        config_path.write_text(yaml.safe_dump(config))
        # -P: the working directory (this tree) does not go before PYTHONPATH (root's tree) on sys.path
        serve = [sys.executable, "-P", "-m", "authsvc", "serve", "--host", "127.0.0.1", "--port", str(port)]
        if workers != 1:  # processes sharing the port (SO_REUSEPORT), or auto; needs the mongodb backend
            serve += ["--workers", str(workers)]
        if variant is not None:  # the same app through bench/variants.py, one piece changed
            serve = [sys.executable, "-m", "bench.variants", "--variant", variant, "--port", str(port)]
        command = pinned([*serve, "--config", str(config_path)], cpus)
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("AUTHSVC_") and key not in ("MONGODB_URL", "AUTHSVC_ENV")
        }
        env.update(AUTHSVC_SESSION_KEY=self.session_key, AUTHSVC_CONFIG_DIR=str(root), PYTHONPATH=str(root))
        super().__init__(name, command, port, env=env, ready_path="/healthz")

    def stop(self, timeout: float = 15.0) -> None:
        super().stop(timeout)
        shutil.rmtree(self._config_dir, ignore_errors=True)


class FerretDB(Server):
    """tools/ferretdb/bin/ferretdb-test on 127.0.0.1, data in a temporary directory removed at stop."""

    def __init__(self, cpus: str | None, serialize: bool = True) -> None:
        if not FERRETDB_BINARY.is_file():
            raise BenchError(f"{FERRETDB_BINARY} is missing: run tools/ferretdb/build.sh (needs Go >= 1.24)")
        self.port = free_port()
        self.data_dir = Path(tempfile.mkdtemp(prefix="ferretdb-bench-"))
        flag = f"-serialize={'true' if serialize else 'false'}"
        command = pinned(
            [str(FERRETDB_BINARY), "-listen-addr", f"127.0.0.1:{self.port}", "-data-dir", str(self.data_dir), flag],
            cpus,
        )
        super().__init__("ferretdb", command)

    @property
    def url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def start(self, timeout: float = 60.0) -> Self:
        super().start()
        deadline = time.monotonic() + timeout
        while b"ready mongodb://" not in self.log_path.read_bytes():
            if not self.running() or time.monotonic() > deadline:
                self.stop()
                raise BenchError(f"FerretDB did not start:\n{self.logs()}")
            time.sleep(0.05)
        return self

    def stop(self, timeout: float = 15.0) -> None:
        super().stop(timeout)
        shutil.rmtree(self.data_dir, ignore_errors=True)


@contextlib.contextmanager
def servers() -> Iterator[contextlib.ExitStack]:
    """An ExitStack whose servers are all stopped on the way out, whatever happened."""
    with contextlib.ExitStack() as stack:
        yield stack


def get_json(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (127.0.0.1 only)
        return json.loads(response.read())


def metric_value(base_url: str, name: str, labels: str = "") -> float:
    """A sample of authsvc's /metrics, summed over its label sets (those containing `labels`); 0 when absent."""
    total = 0.0
    with urllib.request.urlopen(base_url + "/metrics", timeout=5) as response:  # noqa: S310
        for line in response.read().decode().splitlines():
            if line.startswith((name + " ", name + "{")) and labels in line:
                total += float(line.rsplit(" ", 1)[1])
    return total


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BenchError(
            f"{name} is not installed: apt-get update -qq && apt-get install -y -qq {name} (or make system-packages)"
        )
    return path
