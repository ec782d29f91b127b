"""Groups on users and step-up of a session (issue 25): set by an administrator, seen by the next check; a second
factor added to a live session under a new id. Run on every backend by tests/contract/test_services_contract.py."""

from __future__ import annotations

from typing import Any

import pyotp
import pytest

from authsvc.auth.service import ClientInfo
from authsvc.containers import Container, running
from authsvc.errors import Conflict, FieldRefused
from authsvc.login.strategies import CodeProof
from tests.driver import PASSWORD
from tests.helpers import sign_in

CLIENT = ClientInfo(ip="192.0.2.10", user_agent="pytest")


async def test_set_groups_is_seen_by_the_next_check_of_a_live_session(container: Container) -> None:
    async with running(container):
        users, auth = container.users_service(), container.auth_service()
        await users.signup("alice", PASSWORD)
        user, session_id = await sign_in(container, "alice", PASSWORD, CLIENT)
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


async def test_step_up_gives_the_session_a_new_id_with_the_factor_recorded(container: Container, clock: Any) -> None:
    async with running(container):
        users, auth, mfa = container.users_service(), container.auth_service(), container.mfa_service()
        await users.signup("alice", PASSWORD)
        user, first_id = await sign_in(container, "alice", PASSWORD, CLIENT)
        me = await auth.authenticate(first_id, user.id)
        assert me is not None and me.session.factors == ("password",) and not me.session.two_factors
        enrolment = await mfa.begin_totp(me, PASSWORD, CLIENT)
        await mfa.confirm_totp(me, enrolment.token, pyotp.TOTP(enrolment.secret).at(clock.now()))
        clock.advance(30)
        flow = container.login_flow()
        with pytest.raises(FieldRefused):
            await flow.step_up(me, CodeProof("000000"), CLIENT)

        stepped_id = (
            await flow.step_up(me, CodeProof(pyotp.TOTP(enrolment.secret).at(clock.now())), CLIENT)
        ).session_id

        assert stepped_id != first_id and await auth.authenticate(first_id, user.id) is None
        stepped = await auth.authenticate(stepped_id, user.id)
        assert stepped is not None and stepped.session.factors == ("password", "totp")
        assert stepped.session.two_factors and stepped.session.proven_at == clock.now()
        assert stepped.session.absolute_expires_at == me.session.absolute_expires_at  # no longer life for it


async def test_step_up_without_a_second_factor_is_refused(container: Container) -> None:
    async with running(container):
        users, auth = container.users_service(), container.auth_service()
        await users.signup("alice", PASSWORD)
        user, session_id = await sign_in(container, "alice", PASSWORD, CLIENT)
        me = await auth.authenticate(session_id, user.id)
        assert me is not None
        with pytest.raises(Conflict):
            await container.login_flow().step_up(me, CodeProof("123456"), CLIENT)
