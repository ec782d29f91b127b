"""access_control compiled and decided (issue 25): the table, the start-up refusals, the domain index."""

from __future__ import annotations

from typing import Any

import pytest

from authsvc.access.policy import AccessPolicy, Policy, Target
from authsvc.config import AccessControlSettings, ConfigError
from tests.access_table import BLOCKS, CASES, USERS, Case, subject_of, verdict
from tests.conftest import make_settings


def policy_of(block: dict[str, Any]) -> AccessPolicy:
    return AccessPolicy(make_settings(access_control=block).access_control)


POLICIES = {name: policy_of(block) for name, block in BLOCKS.items()}


def test_the_table_has_at_least_60_cases_with_authelias_example_among_them() -> None:
    assert len(CASES) >= 60 and len({case.id for case in CASES}) == len(CASES)
    assert sum(case.block == "authelia" for case in CASES) >= 30
    assert {case.expected for case in CASES} == {"allow", "sign_in", "step_up", "deny"}


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_access_table(case: Case) -> None:
    subject = subject_of(case.user, USERS[case.user]) if case.user else None
    assert verdict(POLICIES[case.block], case, subject) == (case.expected, case.rule)


def refusal(block: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as refused:
        make_settings(access_control={"default_policy": "deny", "networks": [], **block})
    return str(refused.value)


@pytest.mark.parametrize(
    ("rules", "named"),
    [
        ([{"domain": "a.test", "policy": "deny"}, {"domain_regex": "^(a", "policy": "deny"}], "rules.1.domain_regex"),
        ([{"domain": "a.test", "resources": ["[z-a]"], "policy": "deny"}], "rules.0.resources"),
        ([{"domain": "a.test", "networks": ["office"], "policy": "deny"}], "rules.0.networks"),
        ([{"domain": "a.test", "subject": "group:x", "policy": "bypass"}], "rules.0"),
        ([{"domain": "a.test", "subject": "team:x", "policy": "deny"}], "rules.0.subject"),
        ([{"domain": "a.test", "subject": [[]], "policy": "deny"}], "rules.0.subject"),
        ([{"domain": "{user}.example.com", "policy": "bypass"}], "rules.0.domain"),
        ([{"domain_regex": r"^(?P<User>\w+)\.test$", "policy": "one_factor"}], "rules.0.domain_regex"),
        ([{"policy": "deny"}], "rules.0"),
        ([{"domain": "a.test", "policy": "maybe"}], "rules.0.policy"),
        ([{"domain": "a.test", "methods": ["FETCH"], "policy": "deny"}], "rules.0.methods.0"),
        ([{"domain": "a.test", "query": [[{"key": "a"}]], "policy": "deny"}], "rules.0.query"),
    ],
)
def test_a_bad_rule_is_refused_at_start_up_naming_its_index_and_key(rules: list[Any], named: str) -> None:
    assert named in refusal({"rules": rules})


def test_a_network_name_defined_twice_is_refused() -> None:
    twice = [{"name": "lan", "networks": ["10.0.0.0/8"]}, {"name": "lan", "networks": ["192.168.0.0/16"]}]
    assert "access_control: networks: each name may be defined once" in refusal({"networks": twice, "rules": []})


def test_no_rules_and_one_factor_is_the_trivial_policy_of_the_hot_path() -> None:
    assert AccessPolicy(make_settings().access_control).trivial
    assert not POLICIES["two_factor"].trivial and not POLICIES["authelia"].trivial


def test_candidates_come_from_the_index_in_rule_order_and_are_kept_per_host() -> None:
    policy = POLICIES["authelia"]
    assert [rule.index for rule in policy.candidates("dev.example.com")] == [1, 6, 7, 8]
    assert [rule.index for rule in policy.candidates("secure.example.com")] == [1, 2, 3, 6]
    assert policy.candidates("nothing.test") == ()
    assert policy.candidates("dev.example.com") is policy.candidates("dev.example.com")


def test_a_hundred_rules_decide_as_the_same_rules_tried_one_by_one() -> None:
    rules = [{"domain": f"app{i}.test", "subject": f"group:g{i}", "policy": "two_factor"} for i in range(98)]
    rules += [{"domain": "*.test", "policy": "deny"}, {"domain_regex": "^x", "policy": "bypass"}]
    settings = AccessControlSettings.model_validate({"default_policy": "one_factor", "networks": [], "rules": rules})
    policy = AccessPolicy(settings)
    for host, expected in (("app7.test", (Policy.TWO_FACTOR, 7)), ("zzz.test", (Policy.DENY, 98))):
        decision = policy.decide(Target.of(host, "/", "GET", None), subject_of("u", ("g7",)))
        assert (decision.policy, decision.rule) == expected
    decision = policy.decide(Target.of("x.org", "/", "GET", None), None)
    assert (decision.policy, decision.rule) == (Policy.BYPASS, 99)


def test_second_factor_at_login_off_is_refused_when_no_rule_would_ask_for_it() -> None:
    with pytest.raises(ConfigError) as refused:
        make_settings(mfa={"second_factor_at_login": False})
    assert "mfa.second_factor_at_login" in str(refused.value)
    step_up = {"default_policy": "one_factor", "networks": [], "rules": [{"domain": "a.test", "policy": "two_factor"}]}
    assert not make_settings(mfa={"second_factor_at_login": False}, access_control=step_up).mfa.second_factor_at_login
