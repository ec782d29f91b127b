"""What the figures were measured on: CPU, cores, versions, the code's commit, and how busy the machine was."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from typing import Any

from bench import ROOT

PACKAGES = (
    "aiohttp",
    "aiohttp-session",
    "uvloop",
    "cryptography",
    "bcrypt",
    "pymongo",
    "motor",
    "dependency-injector",
    "prometheus-client",
    "python-json-logger",
)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _run(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False, cwd=ROOT)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (done.stdout or done.stderr).strip()


def code_version() -> str:
    """The commit authsvc's code is at now (processes started later run what is checked out then)."""
    commit = _run(["git", "rev-parse", "--short", "HEAD"])
    dirty = _run(["git", "status", "--porcelain", "--", "authsvc"])
    return commit + (" + uncommitted authsvc changes" if dirty else "")


def describe() -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    status = _run(["git", "status", "--porcelain", "--", "authsvc"])
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": versions,
        "event_loop": "uvloop" if versions.get("uvloop") else "asyncio",
        "wrk": _run(["wrk", "-v"]).splitlines()[0] if _run(["wrk", "-v"]) else None,
        "git_commit": _run(["git", "rev-parse", "--short", "HEAD"]),
        "authsvc_uncommitted_changes": bool(status),
        "loadavg_at_start": open("/proc/loadavg").read().split()[:3],
        "shared_machine_note": (
            "2 cores shared with other engineers' test runs: each run records the cores other processes used "
            "(foreign_cores) and server CPU per request, which other load disturbs far less than requests/s"
        ),
    }
