"""The access-rule table of tests/access_table.py with its users and their groups stored in each backend: the
subject a rule sees is what the backend gives back, looked up by name and by id as the session check does."""

from __future__ import annotations

from authsvc.access.policy import AccessPolicy
from authsvc.containers import Container, running
from tests.access_table import BLOCKS, CASES, USERS, subject_of, verdict
from tests.conftest import make_settings

HASH = "$2b$04$" + "x" * 53


async def test_access_table_with_users_stored_in_the_backend(container: Container) -> None:
    policies = {
        name: AccessPolicy(make_settings(access_control=block).access_control) for name, block in BLOCKS.items()
    }
    async with running(container) as storage:
        ids = {}
        for name, groups in USERS.items():
            user = await storage.users.create(name, HASH, 1_700_000_000.0)
            assert await storage.users.set_groups(user.id, groups, 1_700_000_000.0)
            ids[name] = user.id
        stored = {}
        for name, user_id in ids.items():
            found = await storage.users.find_by_id(user_id)
            assert found is not None and found == await storage.users.find_by_username(name)
            stored[name] = subject_of(found.username, found.groups)

        answers = {
            case.id: verdict(policies[case.block], case, stored[case.user] if case.user else None) for case in CASES
        }

    assert answers == {case.id: (case.expected, case.rule) for case in CASES}
    assert len(answers) >= 60
