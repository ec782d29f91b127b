"""The login bound: the time of one bcrypt check at a cost, measured in this process, and what N threads reach."""

from __future__ import annotations

import contextlib
import os
import statistics
import threading
import time
from collections.abc import Iterator
from typing import Any

from authsvc.users.passwords import _hash_sync, _verify_sync
from bench.client import PASSWORD


@contextlib.contextmanager
def on_cpus(cpus: set[int] | None) -> Iterator[None]:
    """Run this block on these CPUs only (None: wherever), then restore the affinity."""
    if cpus is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def one_check_seconds(cost: int, repeat: int = 5, cpus: set[int] | None = None) -> dict[str, Any]:
    """Median time of authsvc's own check (sha256 pre-hash + bcrypt.checkpw) at this cost, and of a hash."""
    stored = _hash_sync(PASSWORD, cost)
    checks, hashes = [], []
    with on_cpus(cpus):
        for _ in range(repeat):
            started = time.perf_counter()
            if not _verify_sync(PASSWORD, stored)[0]:
                raise RuntimeError("the bench password does not verify")
            checks.append(time.perf_counter() - started)
        for _ in range(max(1, repeat // 2)):
            started = time.perf_counter()
            _hash_sync(PASSWORD, cost)
            hashes.append(time.perf_counter() - started)
    return {
        "cost": cost,
        "check_s_median": round(statistics.median(checks), 4),
        "check_s_all": [round(c, 4) for c in checks],
        "hash_s_median": round(statistics.median(hashes), 4),
    }


def parallel_checks_per_second(cost: int, threads: int, seconds: float, cpus: set[int] | None) -> float:
    """Checks a second that `threads` threads reach together (bcrypt releases the GIL) on these CPUs."""
    stored = _hash_sync(PASSWORD, cost)
    counts = [0] * threads
    deadline = time.perf_counter() + seconds

    def work(index: int) -> None:
        while time.perf_counter() < deadline:
            _verify_sync(PASSWORD, stored)
            counts[index] += 1

    with on_cpus(cpus):
        started = time.perf_counter()
        pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        elapsed = time.perf_counter() - started
    return sum(counts) / elapsed
