"""The login use case, shaped like Kratos' selfservice/flow/login: one flow, its strategies (strategies.py) and its
hooks (hooks.py). No HTTP: the JSON routes and the portal's pages only render what it answers.

    login(proof)              a first step (a password, a passwordless passkey)
      -> SignedIn             every factor proven: gates, session, hooks
      -> SecondFactorNeeded   the user has a second factor: no session; a sealed token of the waiting login
    second_step(token, proof) a second step (a code, a passkey) for the waiting login -> SignedIn
    step_up(session, code)    a code for a signed-in one-factor session -> SignedIn (the session's new id)

Every attempt is counted before its proof is checked (concurrent guesses cannot overtake the count) and given back
when it succeeds or never reaches a verdict. Every refusal is a type (outcomes.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from authsvc.auth.audit import AccountPseudonyms
from authsvc.auth.factors import WEBAUTHN, PendingLogins
from authsvc.auth.mfa import CodeRefused
from authsvc.auth.models import PASSWORD
from authsvc.auth.service import Authenticated, ClientInfo
from authsvc.auth.sessions import SessionRegistry
from authsvc.clock import Clock
from authsvc.config import MfaSettings
from authsvc.errors import NotFound, Problem, TooManyRequests
from authsvc.login.hooks import AfterLogin, Gate, SessionIssuer
from authsvc.login.outcomes import NoPendingLogin, NoSecondFactor, SecondFactorNeeded, SignedIn
from authsvc.login.strategies import Challenged, Claim, CodeProof, PasswordlessStrategy, Proven, Strategy
from authsvc.metrics import Metrics
from authsvc.throttle.ports import AttemptCounter
from authsvc.throttle.rules import Attempt, LoginThrottle
from authsvc.users.models import User, normalize_username
from authsvc.users.ports import UserRepository

audit = logging.getLogger("authsvc.audit")

S = TypeVar("S")
NO_PASSKEY = "No passkey is registered for this account; send a code to POST /users/login/mfa."


class LoginFlow:
    def __init__(
        self,
        strategies: Sequence[Strategy],
        gates: Sequence[Gate],
        issuer: SessionIssuer,
        hooks: Sequence[AfterLogin],
        throttle: LoginThrottle,
        attempts: AttemptCounter,
        pending: PendingLogins,
        users: UserRepository,
        sessions: SessionRegistry,
        pseudonyms: AccountPseudonyms,
        clock: Clock,
        metrics: Metrics,
        settings: MfaSettings,
    ) -> None:
        """settings.second_factor_at_login False: a password alone opens a one-factor session even for a user with a
        second factor, which access_control's two_factor rules then ask for (step-up), as Authelia does."""
        self._strategies = {strategy.proof: strategy for strategy in strategies}
        self._gates, self._issuer, self._hooks = gates, issuer, hooks
        self._throttle, self._attempts, self._pending = throttle, attempts, pending
        self._users, self._sessions, self._pseudonyms = users, sessions, pseudonyms
        self._clock, self._metrics, self._settings = clock, metrics, settings

    def _strategy(self, proof: object) -> Strategy:
        return self._strategies[type(proof)]

    def _one(self, kind: type[S]) -> S:
        """The strategy of this class (a passkey's challenge comes before its proof)."""
        for strategy in self._strategies.values():
            if isinstance(strategy, kind):
                return strategy
        raise LookupError(kind.__name__)

    async def methods(self, user_id: str) -> list[str]:
        """The second steps this user can finish a login with (or step a session up with)."""
        return [strategy.method for strategy in self._strategies.values() if await strategy.enrolled(user_id)]

    # A first step

    async def login(
        self, proof: object, client: ClientInfo, previous_session_id: str | None = None, *, remember: bool = False
    ) -> SignedIn | SecondFactorNeeded:
        """A first step's proof: SignedIn (the client's previous session ends), or SecondFactorNeeded when the user has
        a second factor and the proof was one factor only (the attempt stays counted until the second step)."""
        strategy = self._strategy(proof)
        claim = await strategy.claim(proof, client)
        assert claim is not None, "a second step's proof goes to second_step()"
        attempt = await self._count(claim, client, self._account)
        proven = await self._prove(strategy, proof, claim, attempt)
        if proven is None:
            self._metrics.login("failure")
            audit.info("login failed", extra={"event": "login.failure", "ip": client.ip, **self._account(claim)})
            raise strategy.refusal()
        user, factors = proven.user, proven.factors
        if self._settings.second_factor_at_login and len(set(factors)) < 2 and (methods := await self.methods(user.id)):
            # The attempt stays counted until the second factor succeeds: a known password buys no fresh allowance.
            audit.info("second factor required", extra={"event": "login.mfa_required", "user_id": user.id})
            return SecondFactorNeeded(methods, self._pending.issue(user, remember), self._pending.lifetime)
        return await self._sign_in(user, attempt, client, previous_session_id, remember, factors)

    async def passwordless_challenge(self, nonce: str, ip: str | None) -> dict[str, Any]:
        """Options for a passwordless passkey, the challenge bound to the browser's nonce."""
        return await self._one(PasswordlessStrategy).browser_challenge(nonce, ip)

    # A second step

    async def second_step(
        self, pending_token: str | None, proof: object, client: ClientInfo, previous_session_id: str | None = None
    ) -> SignedIn:
        """The waiting login's second step: counted like a password, capped per waiting login
        (mfa.pending_max_attempts), single use."""
        strategy = self._strategy(proof)
        claim = await self._waiting(pending_token)
        user, waiting = claim.user, claim.waiting
        assert user is not None and waiting is not None
        if not await self.methods(user.id):
            raise NoPendingLogin()
        now, expires_at = self._clock.now(), waiting.issued_at + self._pending.lifetime
        attempt = await self._count(claim, client, self._user_id)
        try:
            # Every try of this waiting login is counted before its check too: concurrent ones cannot pass the cap.
            tries = await self._attempts.hit(f"mfa:{waiting.login_id}", now, expires_at)
            if tries > self._settings.pending_max_attempts:
                raise NoPendingLogin()  # given back below: this try checked nothing
        except BaseException:
            await attempt.abandoned()
            raise
        proven = await self._prove(strategy, proof, claim, attempt)
        if proven is None:
            self._metrics.login("failure")
            audit.info("second factor failed", extra={"event": "login.mfa_failure", "user_id": user.id})
            raise strategy.refusal()
        if await self._attempts.hit(f"mfa-done:{waiting.login_id}", now, expires_at) != 1:  # single use
            raise NoPendingLogin()
        factors = (PASSWORD, *proven.factors)
        return await self._sign_in(user, attempt, client, previous_session_id, waiting.remember, factors)

    async def pending_methods(self, pending_token: str | None) -> list[str]:
        """The methods the waiting login's user can finish with; [] when there is no such waiting login."""
        waiting = self._pending.open(pending_token)
        user = await self._user_of(waiting.user_id, waiting.generation) if waiting is not None else None
        return await self.methods(user.id) if user is not None else []

    async def second_step_challenge(self, pending_token: str | None, method: str = WEBAUTHN) -> dict[str, Any]:
        """What a second step that starts with a challenge hands the browser (a passkey's options), bound to the
        waiting login; NotFound when the user cannot use that method."""
        claim = await self._waiting(pending_token)
        assert claim.user is not None
        strategy = next((s for s in self._strategies.values() if s.method == method), None)
        if not isinstance(strategy, Challenged) or not await strategy.enrolled(claim.user.id):
            raise NotFound(NO_PASSKEY if method == WEBAUTHN else f"The method {method} is not enrolled.")
        return await strategy.challenge(claim)

    # A signed-in session's second factor

    async def step_up(self, me: Authenticated, proof: CodeProof, client: ClientInfo) -> SignedIn:
        """A code for a signed-in one-factor session (a two_factor access rule asked for it), counted like a login;
        the session gets a new id with the factor recorded. A wrong code is the field's refusal (CodeRefused), as in
        every other proof a signed-in session gives."""
        strategy = self._strategy(proof)
        if not await strategy.enrolled(me.user.id):
            raise NoSecondFactor()
        claim = Claim(normalize_username(me.user.username), me.user)
        try:
            attempt = await self._throttle.begin_for(claim.name, client.ip, client.device, me.user)
        except TooManyRequests:
            self._metrics.login("throttled")
            raise
        proven = await self._prove(strategy, proof, claim, attempt)
        if proven is None:
            self._metrics.login("failure")
            audit.info("step-up failed", extra={"event": "session.step_up_failure", "user_id": me.user.id})
            raise CodeRefused()
        await attempt.succeeded()
        session_id = await self._sessions.step_up(me.session_id, me.session, proven.factors[0])
        audit.info("session stepped up", extra={"event": "session.step_up", "user_id": me.user.id})
        return SignedIn(me.user, session_id, (*me.session.factors, *proven.factors))

    # The parts

    async def _count(self, claim: Claim, client: ClientInfo, who: Callable[[Claim], dict[str, str]]) -> Attempt:
        try:
            return await self._throttle.begin_for(claim.name, client.ip, client.device, claim.user)
        except TooManyRequests:
            self._metrics.login("throttled")
            audit.info("login throttled", extra={"event": "login.throttled", "ip": client.ip, **who(claim)})
            raise

    def _account(self, claim: Claim) -> dict[str, str]:
        """Who a first step's audit line is about: the typed name, pseudonymised (made only for a line written)."""
        return {"account": self._pseudonyms.of(claim.account)} if claim.account is not None else {}

    @staticmethod
    def _user_id(claim: Claim) -> dict[str, str]:
        return {"user_id": claim.user.id} if claim.user is not None else {}

    @staticmethod
    async def _prove(strategy: Strategy, proof: object, claim: Claim, attempt: Attempt) -> Proven | None:
        try:
            return await strategy.prove(proof, claim)
        except BaseException:
            await attempt.abandoned()
            raise

    async def _sign_in(
        self,
        user: User,
        attempt: Attempt,
        client: ClientInfo,
        previous_session_id: str | None,
        remember: bool,
        factors: tuple[str, ...],
    ) -> SignedIn:
        await attempt.succeeded()  # every factor is proven
        try:
            for gate in self._gates:  # before any session opens: a refusal leaves nothing to end
                await gate(user)
        except Problem as refused:
            if refused.status < 500:
                self._metrics.login("failure")
            raise
        signed_in = await self._issuer(user, client, previous_session_id, remember=remember, factors=factors)
        for hook in self._hooks:
            await hook(signed_in, client)
        return signed_in

    async def _waiting(self, pending_token: str | None) -> Claim:
        """The live waiting login and its user, as a second step's claim; else NoPendingLogin."""
        waiting = self._pending.open(pending_token)
        if waiting is None:
            raise NoPendingLogin()
        tries = await self._attempts.count(f"mfa:{waiting.login_id}", self._clock.now())
        if tries >= self._settings.pending_max_attempts:
            raise NoPendingLogin()
        user = await self._user_of(waiting.user_id, waiting.generation)
        if user is None:
            raise NoPendingLogin()
        return Claim(normalize_username(user.username), user, waiting=waiting)

    async def _user_of(self, user_id: str, generation: int) -> User | None:
        """The waiting login's user, or None when it is gone or revoked since the password step (a remedy moved its
        generation on: password change or reset, "this was not me", revoke-all, mfa-reset)."""
        user = await self._users.find_by_id(user_id)
        return user if user is not None and user.generation == generation else None
