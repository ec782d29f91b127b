"""``python -m bench.throttle_memory``: the memory backend's attempt counters under a flood of random names.

Drives the real LoginThrottle over a MemoryAttemptCounter (no bcrypt, no HTTP: only the counting) with failed logins
for random names (some of 65,000 characters) from one address and from random addresses, and reports the bytes a
counter unit takes (tracemalloc) and that the store stays within its bound however long the flood goes on.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import time
import tracemalloc
from typing import Any

from authsvc.config import load_settings
from authsvc.errors import TooManyRequests
from authsvc.metrics import Metrics
from authsvc.storage.memory import MAX_COUNTER_UNITS, MemoryAttemptCounter
from authsvc.throttle.rules import LoginThrottle

NOW = 4_000_000_000.0


class FixedClock:
    def now(self) -> float:
        return NOW


def random_name(n: int) -> str:
    return secrets.token_hex(32_500) if n % 1000 == 0 else secrets.token_hex(8)


def random_address(n: int, spread: bool) -> str:
    return f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}" if spread else "203.0.113.1"


async def flood(max_units: int, failures: int, spread: bool) -> dict[str, Any]:
    counter = MemoryAttemptCounter(max_units=max_units)
    throttle = LoginThrottle(counter, FixedClock(), load_settings(environ={}).throttle, Metrics())
    refused = 0

    async def fail(n: int) -> None:
        nonlocal refused
        try:
            await throttle.begin(random_name(n), random_address(n, spread), None)  # a failure: nothing to give back
        except TooManyRequests:
            refused += 1

    # What a unit costs, measured while the store fills, before any eviction (tracemalloc slows every allocation).
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    n = 0
    while n < failures and counter.units < max_units * 0.7:
        await fail(n)
        n += 1
    per_unit = (tracemalloc.get_traced_memory()[0] - base) / max(counter.units, 1)
    tracemalloc.stop()
    filled, started = n, time.perf_counter()
    most = counter.units
    for m in range(filled, failures):
        await fail(m)
        most = max(most, counter.units)
    return {
        "failures": failures,
        "addresses": "one" if not spread else "random",
        "refused": refused,
        "max_units": max_units,
        "most_units_seen": most,
        "units_at_end": counter.units,
        "bytes_per_unit": round(per_unit),
        "bound_mib": round(max_units * per_unit / 2**20, 1),
        "us_per_failure_while_evicting": round((time.perf_counter() - started) / max(failures - filled, 1) * 1e6, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-units", type=int, default=MAX_COUNTER_UNITS)
    parser.add_argument("--failures", type=int, default=MAX_COUNTER_UNITS)
    options = parser.parse_args()
    for spread in (False, True):
        print(json.dumps(asyncio.run(flood(options.max_units, options.failures, spread))))


if __name__ == "__main__":
    main()
