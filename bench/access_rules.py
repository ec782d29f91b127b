"""access_control's cost (issue 25): /auth/verify with 100 rules vs none, in the same run, rounds interleaved.

Both processes get the same original request from a "trusted gateway" (X-Original-URL, the peer 127.0.0.1 listed in
server.trusted_proxies). With no rules authsvc never reads it (the default policy's hot path); with 100 rules the
request to app57.example.com has four candidate rules (its exact domain, three *.example.com rules; the regex rule is
tried once per host and kept), a subject rule the user misses, and allows on the last: a realistic walk, not the
first rule.
"""

from __future__ import annotations

from typing import Any

from bench import client
from bench.common import Options, Target, interleave, ratios, summarize
from bench.procs import Authsvc, BenchError, authsvc_overrides, servers

ORIGINAL = {"X-Original-URL": "https://app57.example.com/reports?week=1", "X-Original-Method": "GET"}


def hundred_rules() -> dict[str, Any]:
    rules: list[dict[str, Any]] = [
        {"domain": f"app{i}.example.com", "subject": f"group:team{i}", "policy": "two_factor"} for i in range(96)
    ]
    rules += [
        {"domain": "*.example.com", "resources": ["^/admin"], "policy": "deny"},
        {"domain_regex": r"^(grafana|prometheus)\.example\.com$", "policy": "two_factor"},
        {"domain": "*.example.com", "networks": ["10.0.0.0/8"], "policy": "bypass"},
        {"domain": "*.example.com", "policy": "one_factor"},
    ]
    return {"default_policy": "deny", "networks": [], "rules": rules}


def rules_vs_none(options: Options) -> dict[str, Any]:
    cpus = options.server_cpus
    with servers() as stack:
        plain = authsvc_overrides()
        plain["server"]["trusted_proxies"] = ["127.0.0.1/32"]
        ruled = authsvc_overrides()
        ruled["server"]["trusted_proxies"] = ["127.0.0.1/32"]
        ruled["access_control"] = hundred_rules()
        none = stack.enter_context(Authsvc("authsvc-no-rules", plain, cpus).start())
        hundred = stack.enter_context(Authsvc("authsvc-100-rules", ruled, cpus, none.session_key).start())
        targets = [
            Target(
                "verify_no_rules",
                none.base_url + "/auth/verify",
                none.pid,
                headers={"Cookie": client.signup_and_login(none.base_url).cookie_header, **ORIGINAL},
            ),
            Target(
                "verify_100_rules",
                hundred.base_url + "/auth/verify",
                hundred.pid,
                headers={"Cookie": client.signup_and_login(hundred.base_url).cookie_header, **ORIGINAL},
            ),
        ]
        results = interleave(targets, options)
    summary = {name: summarize(runs) for name, runs in results.items()}
    refused = {name: s["non_2xx"] for name, s in summary.items() if s["non_2xx"]}
    if refused:
        raise BenchError(f"non-2xx answers where the rules allow: {refused}")
    summary["verify_100_rules"]["vs_no_rules"] = ratios(results["verify_100_rules"], results["verify_no_rules"])
    summary["targets"] = {"verify_100_rules": {"rps_ratio_min": 0.9}}
    return summary
