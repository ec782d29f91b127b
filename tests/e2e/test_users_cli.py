"""`authsvc users show`, `set-groups` and `list --group` against a real MongoDB (FerretDB), as an operator runs them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.driver import PASSWORD
from tests.helpers import FAST_CONFIG, TEST_KEY, cli
from tests.mongodb import mongo_sections

pytestmark = pytest.mark.mongodb


@pytest.fixture
def config(tmp_path: Path, mongodb_url: str, mongodb_database: str) -> str:
    path = tmp_path / "authsvc.yaml"
    path.write_text(yaml.safe_dump({**FAST_CONFIG, **mongo_sections(mongodb_url, mongodb_database)}))
    return str(path)


def test_set_groups_then_show_lists_them(config: str) -> None:
    env = {"AUTHSVC_SESSION_KEY": TEST_KEY}
    assert cli("create-user", "alice", "--config", config, env=env, stdin=PASSWORD + "\n").returncode == 0

    shown = cli("users", "show", "alice", "--config", config, env=env)
    assert shown.returncode == 0, shown.stderr
    assert "username: alice" in shown.stdout and "groups: (none)" in shown.stdout

    changed = cli("users", "set-groups", "Alice", "dev", "admins", "--config", config, env=env)
    assert changed.returncode == 0, changed.stderr
    assert "groups: admins dev" in changed.stdout
    assert "groups: admins dev" in cli("users", "show", "alice", "--config", config, env=env).stdout
    members = cli("users", "list", "--group", "admins", "--config", config, env=env)
    assert members.returncode == 0 and members.stdout.split("\t")[1:] == ["alice", "active\n"]
    assert cli("users", "list", "--group", "ops", "--config", config, env=env).stdout == "\n"

    cleared = cli("users", "set-groups", "alice", "--config", config, env=env)
    assert cleared.returncode == 0 and "groups: (none)" in cleared.stdout


def test_set_groups_refuses_a_bad_name_and_an_unknown_user(config: str) -> None:
    env = {"AUTHSVC_SESSION_KEY": TEST_KEY}
    assert cli("create-user", "alice", "--config", config, env=env, stdin=PASSWORD + "\n").returncode == 0
    bad = cli("users", "set-groups", "alice", "has space", "--config", config, env=env)
    assert bad.returncode == 1 and "not a group name" in bad.stderr
    unknown = cli("users", "show", "nobody", "--config", config, env=env)
    assert unknown.returncode == 1 and "There is no user with this name." in unknown.stderr


def test_users_commands_refuse_the_memory_backend() -> None:
    result = cli("users", "show", "alice")
    assert result.returncode == 2 and "persistent backend" in result.stderr


def test_check_policy_reads_the_users_groups_from_storage(config: str, tmp_path: Path) -> None:
    env = {"AUTHSVC_SESSION_KEY": TEST_KEY}
    block = {
        "default_policy": "deny",
        "networks": [],
        "rules": [{"domain": "admin.example.com", "subject": "group:admins", "policy": "one_factor"}],
    }
    merged = {**yaml.safe_load(Path(config).read_text()), "access_control": block}
    Path(config).write_text(yaml.safe_dump(merged))
    assert cli("create-user", "alice", "--config", config, env=env, stdin=PASSWORD + "\n").returncode == 0
    args = ("check-policy", "--config", config, "--url", "https://admin.example.com/", "--user", "alice")
    assert cli(*args, env=env).stdout.splitlines()[-1] == "decision: deny (deny, default_policy)"
    assert cli("users", "set-groups", "alice", "admins", "--config", config, env=env).returncode == 0
    assert cli(*args, env=env).stdout.splitlines()[-1] == "decision: allow (one_factor, rule 0)"
    unknown = cli("check-policy", "--config", config, "--url", "https://admin.example.com/", "--user", "bob", env=env)
    assert unknown.returncode == 1 and "no such user" in unknown.stderr
