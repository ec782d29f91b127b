"""Groups on users (issue 25): set by an administrator, seen by the next check; run on every backend by
tests/contract/test_services_contract.py."""

from __future__ import annotations

import pytest

from authsvc.auth.service import ClientInfo
from authsvc.containers import Container, running
from authsvc.errors import FieldRefused

CLIENT = ClientInfo(ip="192.0.2.10", user_agent="pytest")
PASSWORD = "correct horse battery"


async def test_set_groups_is_seen_by_the_next_check_of_a_live_session(container: Container) -> None:
    async with running(container):
        users, auth = container.users_service(), container.auth_service()
        await users.signup("alice", PASSWORD)
        user, session_id = await auth.login("alice", PASSWORD, CLIENT)
        before = await auth.authenticate(session_id, user.id)
        assert before is not None and before.user.groups == ()

        changed = await users.set_groups("ALICE", ["dev", "admins", "dev"])

        assert changed is not None and changed.groups == ("admins", "dev")  # sorted, once each
        after = await auth.authenticate(session_id, user.id)
        assert after is not None and after.user.groups == ("admins", "dev")
        assert (await users.set_groups("alice", [])) is not None
        cleared = await auth.authenticate(session_id, user.id)
        assert cleared is not None and cleared.user.groups == ()


async def test_set_groups_of_an_unknown_user_is_none(container: Container) -> None:
    async with running(container):
        assert await container.users_service().set_groups("nobody", ["admins"]) is None


@pytest.mark.parametrize("group", ["", "has space", "semi;colon", "comma,separated", "x" * 65, "nul\x00", "é"])
async def test_set_groups_refuses_names_that_cannot_travel_in_a_header(container: Container, group: str) -> None:
    async with running(container):
        users = container.users_service()
        await users.signup("alice", PASSWORD)
        with pytest.raises(FieldRefused) as refused:
            await users.set_groups("alice", ["ok", group])
        assert refused.value.fields.keys() == {"groups"}
        found = await users.find("alice")
        assert found is not None and found.groups == ()
