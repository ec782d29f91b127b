"""access_control in the real process (issue 25): reloaded on SIGHUP (a bad file keeps the policy in force), and
`authsvc check-policy` as an operator runs it."""

from __future__ import annotations

import signal
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tests.helpers import FAST_CONFIG, AuthsvcProcess, cli

BLOCK: dict[str, Any] = {
    "default_policy": "deny",
    "networks": [{"name": "internal", "networks": ["10.0.0.0/8"]}],
    "rules": [
        {"domain": "public.example.com", "policy": "bypass"},
        {"domain": "*.example.com", "networks": ["internal"], "subject": "group:admins", "policy": "two_factor"},
        {"domain": "app.example.com", "resources": ["^/api/"], "methods": ["GET"], "policy": "one_factor"},
    ],
}


def config(block: dict[str, Any]) -> dict[str, Any]:
    return {
        **FAST_CONFIG,
        "server": {**FAST_CONFIG["server"], "trusted_proxies": ["127.0.0.1/32"]},
        "access_control": block,
    }


def verify(process: AuthsvcProcess, url: str) -> int:
    request = urllib.request.Request(process.url + "/auth/verify", headers={"X-Original-URL": url})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def eventually(check: Any, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_sighup_swaps_the_policy_and_a_bad_file_keeps_the_old_one(tmp_path: Path) -> None:
    process = AuthsvcProcess(tmp_path, config(BLOCK)).start()
    try:
        assert verify(process, "https://public.example.com/") == 200
        closed = {**BLOCK, "rules": [{"domain": "public.example.com", "policy": "deny"}]}
        process.config_path.write_text(yaml.safe_dump(config(closed)))
        assert process.process is not None
        process.process.send_signal(signal.SIGHUP)
        eventually(lambda: verify(process, "https://public.example.com/") == 403)
        assert "access_control reloaded: 1 rule(s), default_policy deny" in process.logs()

        broken = {**BLOCK, "rules": [{"domain": "public.example.com", "domain_regex": "^(", "policy": "bypass"}]}
        process.config_path.write_text(yaml.safe_dump(config(broken)))
        process.process.send_signal(signal.SIGHUP)
        eventually(lambda: "access_control not reloaded" in process.logs())
        assert "access_control.rules.0.domain_regex" in process.logs()
        assert verify(process, "https://public.example.com/") == 403  # still the policy in force
        assert process.process.poll() is None
    finally:
        process.stop()


def test_check_policy_prints_each_rule_and_the_decision(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump({"access_control": BLOCK}))
    admin = cli(
        "check-policy", "--config", str(path), "--url", "https://app.example.com/api/x?y=1",
        "--user", "alice", "--groups", "admins", "--ip", "10.1.2.3",
    )  # fmt: skip
    assert admin.returncode == 0, admin.stderr
    assert admin.stdout.splitlines() == [
        "GET app.example.com /api/x?y=1 from 10.1.2.3 as user alice (groups: admins)",
        "  rule 0 (bypass): domain=miss -> miss",
        "  rule 1 (two_factor): domain=match networks=match subject=match -> MATCH",
        "  rule 2 (one_factor): domain=match resources=match methods=match -> MATCH",
        "decision: step_up (two_factor, rule 1)",
    ]
    anonymous = cli(
        "check-policy", "--config", str(path), "--url", "https://app.example.com/api/x", "--ip", "192.0.2.1"
    )
    assert anonymous.stdout.splitlines()[2:] == [
        "  rule 1 (two_factor): domain=match networks=miss subject=open -> miss",
        "  rule 2 (one_factor): domain=match resources=match methods=match -> MATCH",
        "decision: sign_in (one_factor, rule 2)",
    ]
    bad = cli("check-policy", "--config", str(path), "--url", "not a url")
    assert bad.returncode == 2 and "--url" in bad.stderr
    memory = cli("check-policy", "--config", str(path), "--url", "https://x.example.com/", "--user", "alice")
    assert memory.returncode == 2 and "persistent backend" in memory.stderr
