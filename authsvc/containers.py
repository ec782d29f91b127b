"""The parts list: configuration -> password hasher -> storage -> services -> handlers."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from dependency_injector import containers, providers

from authsvc.auth.cookies import build_cookie_storage
from authsvc.auth.keys import load_session_keys
from authsvc.auth.passwords import PasswordHasher, PasswordPolicy, load_common_passwords
from authsvc.auth.service import AuthService
from authsvc.auth.service_tokens import ServiceTokens
from authsvc.auth.sessions import SessionPolicy, SessionRegistry
from authsvc.auth.throttle import LoginThrottle, ThrottlePolicy
from authsvc.auth.views import ForwardAuthPolicy
from authsvc.clock import SystemClock
from authsvc.config import Settings
from authsvc.metrics import Metrics
from authsvc.storage.memory import MemoryStorage
from authsvc.storage.mongo import MongoStorage, open_mongo_client
from authsvc.users.service import UsersService


def hash_thread_pool(threads: int) -> Iterator[ThreadPoolExecutor]:
    executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="bcrypt")
    yield executor
    executor.shutdown(wait=True)


def common_passwords(reject_common: bool) -> frozenset[str]:
    return load_common_passwords() if reject_common else frozenset()


class Container(containers.DeclarativeContainer):
    wiring_config = containers.WiringConfiguration(
        modules=["authsvc.users.handlers", "authsvc.auth.handlers", "authsvc.ops.handlers"]
    )

    config = providers.Configuration(strict=True)
    clock = providers.Singleton(SystemClock)
    metrics = providers.Singleton(Metrics)

    # Passwords
    hash_executor = providers.Resource(hash_thread_pool, threads=config.passwords.hash_threads)
    password_hasher = providers.Singleton(PasswordHasher, executor=hash_executor, cost=config.passwords.bcrypt_cost)
    password_policy = providers.Singleton(
        PasswordPolicy,
        min_length=config.passwords.min_length,
        max_length=config.passwords.max_length,
        common=providers.Singleton(common_passwords, config.passwords.reject_common),
        context_words=config.passwords.context_words,
    )

    # Storage: one backend, chosen by storage.backend
    mongo_client = providers.Resource(
        open_mongo_client,
        driver=config.mongodb.driver,
        url=config.mongodb.url,
        server_selection_timeout_ms=config.mongodb.server_selection_timeout_ms,
        connect_timeout_ms=config.mongodb.connect_timeout_ms,
        socket_timeout_ms=config.mongodb.socket_timeout_ms,
    )
    storage = providers.Selector(
        config.storage.backend,
        memory=providers.Singleton(MemoryStorage),
        mongodb=providers.Singleton(
            MongoStorage,
            client=mongo_client,
            database=config.mongodb.database,
            clock=clock,
            session_cache_seconds=config.mongodb.session_cache_seconds,
        ),
    )
    users_repository = storage.provided.users
    sessions_repository = storage.provided.sessions
    attempts_counter = storage.provided.attempts

    # Sessions
    session_keys = providers.Singleton(load_session_keys, config.session["keys"], config.session.key_file, config.env)
    cookie_storage = providers.Singleton(
        build_cookie_storage,
        keys=session_keys,
        cookie_name=config.session.cookie_name,
        host_prefix=config.session.host_prefix,
        secure=config.session.secure,
        idle_timeout=config.session.idle_timeout,
    )
    session_registry = providers.Singleton(
        SessionRegistry,
        repository=sessions_repository,
        clock=clock,
        policy=providers.Singleton(
            SessionPolicy,
            idle_timeout=config.session.idle_timeout,
            absolute_lifetime=config.session.absolute_lifetime,
            renew_after=config.session.renew_after,
        ),
        metrics=metrics,
    )
    login_throttle = providers.Singleton(
        LoginThrottle,
        counter=attempts_counter,
        clock=clock,
        policy=providers.Singleton(
            ThrottlePolicy,
            account_max_failures=config.throttle.account_max_failures,
            account_window=config.throttle.account_window,
            ip_max_failures=config.throttle.ip_max_failures,
            ip_window=config.throttle.ip_window,
        ),
    )

    # Gateway and internal callers
    forward_auth_policy = providers.Singleton(
        ForwardAuthPolicy,
        renews=config.session.verify_renews,
        user_id_header=config.gateway.user_id_header,
        user_name_header=config.gateway.user_name_header,
    )
    service_tokens = providers.Singleton(ServiceTokens, tokens=config.introspection.tokens)

    # Services
    users_service = providers.Singleton(
        UsersService,
        repository=users_repository,
        hasher=password_hasher,
        policy=password_policy,
        clock=clock,
        username_min_length=config.users.username_min_length,
        username_max_length=config.users.username_max_length,
    )
    auth_service = providers.Singleton(
        AuthService,
        users=users_repository,
        hasher=password_hasher,
        policy=password_policy,
        sessions=session_registry,
        throttle=login_throttle,
        clock=clock,
        metrics=metrics,
    )


async def provide(provider: Callable[[], Any]) -> Any:
    """A provider's value, awaited when an async Resource (the MongoDB client) stands behind it."""
    value = provider()
    return await value if inspect.isawaitable(value) else value


def create_container(settings: Settings) -> Container:
    container = Container()
    container.config.from_dict(settings.model_dump())
    return container
