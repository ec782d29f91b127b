"""The AuthService / UsersService rules of tests/unit/test_auth_service.py and test_throttling.py, run again on
every backend.

The functions are the unit tests themselves, taken whole so that the copies cannot drift apart: this package's
conftest makes their `container` and `make_container` stand on memory and mongodb+pymongo in turn.
"""

from __future__ import annotations

from tests.unit import test_auth_service, test_groups, test_throttling

for unit in (test_auth_service, test_groups, test_throttling):
    globals().update({name: test for name, test in vars(unit).items() if name.startswith("test_")})
