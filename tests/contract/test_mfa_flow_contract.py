"""The second-factor flow of tests/http/test_mfa_http.py over HTTP, run again on every backend (taken whole, as
test_services_contract.py takes the service tests): replay refusal, single-use recovery codes and the pending
login's counters must hold on MongoDB as they do in memory."""

from __future__ import annotations

from tests.http import test_mfa_http

app_client = test_mfa_http.app_client
globals().update({name: test for name, test in vars(test_mfa_http).items() if name.startswith("test_")})
