"""`serve --workers` and server.workers: a number or auto, production's default, and each worker's own /metrics port."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from authsvc.__main__ import _worker_settings, parser, worker_count
from tests.helpers import ROOT, TEST_KEY


def test_auto_is_one_worker_per_cpu_this_process_may_use() -> None:
    assert worker_count("auto") == len(os.sched_getaffinity(0))
    assert worker_count(3) == 3


def test_production_runs_a_worker_per_cpu() -> None:
    production = yaml.safe_load((ROOT / "config.production.yaml").read_text())
    assert production["server"]["workers"] == "auto"
    assert yaml.safe_load((ROOT / "config.yaml").read_text())["server"]["workers"] == 1


@pytest.mark.parametrize("value", ["0", "-2", "many", "1.5"])
def test_workers_flag_takes_a_count_or_auto(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parser().parse_args(["serve", "--workers", value])
    assert "--workers" in capsys.readouterr().err
    assert parser().parse_args(["serve", "--workers", "auto"]).workers == "auto"
    assert parser().parse_args(["serve", "--workers", "4"]).workers == 4


def test_each_worker_serves_metrics_on_its_own_port(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "workers.yaml"
    config.write_text(yaml.safe_dump({"server": {"metrics_port": 9100}}))
    monkeypatch.setenv("AUTHSVC_SESSION_KEY", TEST_KEY)
    ports = [
        _worker_settings(parser().parse_args(["serve", "--config", str(config), "--worker-index", str(index)]))
        for index in range(3)
    ]
    assert [settings.server.metrics_port for settings in ports] == [9100, 9101, 9102]
