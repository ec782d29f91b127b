"""authsvc benchmarks (issue 6): ``python -m bench``.

Starts the real authsvc process and a bare aiohttp "hello" app (the ceiling), drives both with wrk from 127.0.0.1
with the servers and the load generator pinned to separate cores, interleaves the runs and writes
``bench/results/latest.json`` (raw outputs under ``bench/results/raw/``, gitignored). Not part of the test suite.
"""

from __future__ import annotations

from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent  # the repository: holds config.yaml (AUTHSVC_CONFIG_DIR)
RESULTS_DIR = BENCH_DIR / "results"
RAW_DIR = RESULTS_DIR / "raw"
