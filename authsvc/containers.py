"""The parts list: settings -> password hasher -> storage -> services; and the one life cycle that runs them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

from dependency_injector import containers, providers

from authsvc.access.policy import AccessRules
from authsvc.admin.service import AdminService
from authsvc.admin.tokens import AdminTokens
from authsvc.auth.audit import AccountPseudonyms, load_audit_key
from authsvc.auth.factors import EnrolmentTokens, PendingLogins, SecretBox
from authsvc.auth.keys import load_session_keys
from authsvc.auth.mfa import MfaService
from authsvc.auth.passkeys import PasskeyService
from authsvc.auth.service import AuthService
from authsvc.auth.service_tokens import ServiceTokens
from authsvc.auth.sessions import SessionRegistry
from authsvc.auth.webauthn import Ceremonies
from authsvc.clock import Clock, SystemClock
from authsvc.config import Settings
from authsvc.events.service import AuditReader
from authsvc.events.trail import AuditTrail
from authsvc.events.webhook_transport import HttpPoster, WebhookMetrics
from authsvc.events.webhooks import Webhooks, WebhookSender
from authsvc.login.flow import LoginFlow
from authsvc.login.hooks import Audited, NewDeviceNotice, SessionIssuer, VerifiedAddressGate
from authsvc.login.strategies import CodeStrategy, PasskeyStrategy, PasswordlessStrategy, PasswordStrategy
from authsvc.mail.metrics import MailMetrics
from authsvc.mail.notices import MailedNotices
from authsvc.mail.outbox import Outbox
from authsvc.mail.sender import MailSender
from authsvc.mail.service import AccountMail
from authsvc.mail.templates import MailTemplates
from authsvc.mail.transport import make_transport
from authsvc.metrics import Metrics
from authsvc.storage.events_memory import MemoryEventLog
from authsvc.storage.memory import MemoryStorage
from authsvc.storage.mongo import MongoStorage
from authsvc.storage.ports import Storage
from authsvc.storage.webhooks_memory import MemoryDeliveries
from authsvc.throttle.rules import LoginThrottle
from authsvc.users.enabled import EnabledUsers
from authsvc.users.passwords import PasswordHasher, PasswordPolicy, load_common_passwords
from authsvc.users.service import UsersService

log = logging.getLogger("authsvc")


def common_passwords(reject_common: bool) -> frozenset[str]:
    return load_common_passwords() if reject_common else frozenset()


class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    clock = providers.Singleton(SystemClock)
    metrics = providers.Singleton(Metrics)

    # Passwords: bcrypt releases the GIL, so a small pool hashes in parallel off the event loop
    hash_executor = providers.Singleton(
        ThreadPoolExecutor, max_workers=settings.provided.passwords.hash_threads, thread_name_prefix="bcrypt"
    )
    password_hasher = providers.Singleton(
        PasswordHasher,
        executor=hash_executor,
        cost=settings.provided.passwords.bcrypt_cost,
        tutorial_compatible=settings.provided.passwords.tutorial_compatible,
        threads=settings.provided.passwords.hash_threads,
        queue=settings.provided.passwords.hash_queue,
    )
    password_policy = providers.Singleton(
        PasswordPolicy,
        min_length=settings.provided.passwords.min_length,
        max_length=settings.provided.passwords.max_length,
        common=providers.Singleton(common_passwords, settings.provided.passwords.reject_common),
        context_words=settings.provided.passwords.context_words,
        max_bytes=password_hasher.provided.max_bytes,
    )

    # Storage: one backend, chosen by storage.backend; it owns its connections
    storage = providers.Selector(
        settings.provided.storage.backend,
        memory=providers.Singleton(MemoryStorage),
        mongodb=providers.Singleton(MongoStorage, settings=settings.provided.mongodb, clock=clock, metrics=metrics),
    )
    # Every login path sees users through this view, which hides disabled ones; the admin service reads them all.
    users_repository = providers.Singleton(EnabledUsers, storage.provided.users)
    sessions_repository = storage.provided.sessions
    attempts_counter = storage.provided.attempts
    second_factors_repository = storage.provided.second_factors
    passkeys_repository = storage.provided.passkeys

    # Sessions
    session_keys = providers.Singleton(
        load_session_keys, settings.provided.session.keys, settings.provided.session.key_file, settings.provided.env
    )
    session_registry = providers.Singleton(
        SessionRegistry,
        repository=sessions_repository,
        clock=clock,
        settings=settings.provided.session,
        metrics=metrics,
        users=users_repository,
    )
    login_throttle = providers.Singleton(
        LoginThrottle, counter=attempts_counter, clock=clock, settings=settings.provided.throttle, metrics=metrics
    )
    # Second factors: their secrets and the pending-login token are sealed with the session keys (rotation works)
    secret_box = providers.Singleton(SecretBox, keys=session_keys)
    pending_logins = providers.Singleton(
        PendingLogins, keys=session_keys, clock=clock, lifetime=settings.provided.mfa.pending_seconds
    )
    enrolment_tokens = providers.Singleton(EnrolmentTokens, keys=session_keys, clock=clock)
    service_tokens = providers.Singleton(ServiceTokens, tokens=settings.provided.introspection.tokens)
    audit_pseudonyms = providers.Singleton(
        AccountPseudonyms,
        key=providers.Singleton(load_audit_key, settings.provided.logging.audit_key, settings.provided.env),
    )

    # Mail: the outbox in the storage backend, its background sender, the notices the services raise (users.ports.
    # Notices), the account flows that mail (addresses, reset links, "this was not me")
    mail_templates = providers.Singleton(MailTemplates)
    outbox = providers.Singleton(
        Outbox, repository=storage.provided.outbox, templates=mail_templates, clock=clock, box=secret_box
    )
    mail_transport = providers.Singleton(make_transport, settings.provided.mail)
    mail_sender = providers.Singleton(
        MailSender,
        outbox=outbox,
        transport=mail_transport,
        clock=clock,
        settings=settings.provided.mail,
        metrics=providers.Singleton(MailMetrics, metrics),
    )
    notices = providers.Singleton(
        MailedNotices,
        addresses=storage.provided.email_addresses,
        tokens=storage.provided.mail_tokens,
        outbox=outbox,
        clock=clock,
        settings=settings.provided.mail,
        server=settings.provided.server,
    )

    # Services
    auth_service = providers.Singleton(
        AuthService,
        users=users_repository,
        hasher=password_hasher,
        policy=password_policy,
        sessions=session_registry,
        throttle=login_throttle,
        clock=clock,
        factors=second_factors_repository,
        passkeys=passkeys_repository,
        notices=notices,
    )
    passkey_service = providers.Singleton(
        PasskeyService,
        auth=auth_service,
        passkeys=passkeys_repository,
        challenges=storage.provided.passkey_challenges,
        sessions=session_registry,
        ceremonies=providers.Singleton(Ceremonies, settings=settings.provided.webauthn),
        clock=clock,
        throttle=login_throttle,
        max_passwordless=settings.provided.webauthn.passwordless_max_challenges,
    )
    # The account's mail flows; sign-up gives them the address it was given
    account_mail = providers.Singleton(
        AccountMail,
        users=users_repository,
        addresses=storage.provided.email_addresses,
        tokens=storage.provided.mail_tokens,
        outbox=outbox,
        notices=notices,
        account=auth_service,
        throttle=login_throttle,
        clock=clock,
        settings=settings.provided.mail,
        stored_users=storage.provided.users,
    )
    mfa_service = providers.Singleton(
        MfaService,
        auth=auth_service,
        passkeys=passkey_service,
        factors=second_factors_repository,
        users=users_repository,
        sessions=session_registry,
        box=secret_box,
        enrolments=enrolment_tokens,
        clock=clock,
        settings=settings.provided.mfa,
        addresses=account_mail,
    )
    access_rules = providers.Singleton(AccessRules, settings.provided.access_control)
    users_service = providers.Singleton(
        UsersService,
        repository=users_repository,
        hasher=password_hasher,
        policy=password_policy,
        clock=clock,
        settings=settings.provided.users,
        throttle=login_throttle,
        addresses=account_mail,
    )
    # Logins: one flow (like Kratos' selfservice/flow/login); a new way to sign in or second factor is one strategy
    # in this list, a new check before the session one gate, a new follow-up one hook
    login_strategies = providers.List(
        providers.Singleton(PasswordStrategy, users=users_repository, hasher=password_hasher, clock=clock),
        providers.Singleton(
            PasswordlessStrategy, passkeys=passkey_service, repository=passkeys_repository, users=users_repository
        ),
        providers.Singleton(CodeStrategy, factors=second_factors_repository, mfa=mfa_service),
        providers.Singleton(PasskeyStrategy, passkeys=passkey_service, repository=passkeys_repository),
    )
    login_flow = providers.Singleton(
        LoginFlow,
        strategies=login_strategies,
        gates=providers.List(
            providers.Singleton(
                VerifiedAddressGate, mail=account_mail, required=settings.provided.users.require_verified_email
            ),
        ),
        issuer=providers.Singleton(
            SessionIssuer, auth=auth_service, sessions=session_registry, users=users_repository, metrics=metrics
        ),
        hooks=providers.List(
            providers.Singleton(Audited, metrics=metrics),
            providers.Singleton(NewDeviceNotice, mail=account_mail),
        ),
        throttle=login_throttle,
        attempts=attempts_counter,
        pending=pending_logins,
        users=users_repository,
        sessions=session_registry,
        pseudonyms=audit_pseudonyms,
        clock=clock,
        metrics=metrics,
        settings=settings.provided.mfa,
    )
    # The audit trail: the services' audit lines stored as events (memory: a bounded ring; MongoDB: `events`)
    event_log = providers.Selector(
        settings.provided.storage.backend,
        memory=providers.Singleton(MemoryEventLog, max_events=settings.provided.events.memory_max),
        mongodb=storage.provided.events,
    )
    webhook_queue = providers.Selector(
        settings.provided.storage.backend,
        memory=providers.Singleton(MemoryDeliveries),
        mongodb=storage.provided.webhook_deliveries,
    )
    webhooks = providers.Singleton(Webhooks, queue=webhook_queue, clock=clock, settings=settings.provided.webhooks)
    webhook_metrics = providers.Singleton(WebhookMetrics, metrics)
    webhook_sender = providers.Singleton(
        WebhookSender,
        webhooks=webhooks,
        transport=providers.Singleton(HttpPoster, timeout=settings.provided.webhooks.timeout),
        failed=webhook_metrics.provided.failed,
        interval=settings.provided.webhooks.send_interval,
    )
    audit_trail = providers.Singleton(
        AuditTrail, repository=event_log, clock=clock, settings=settings.provided.events, webhooks=webhooks
    )
    audit_reader = providers.Singleton(AuditReader, trail=audit_trail, settings=settings.provided.admin)
    # Operators: the admin API's tokens and the service behind it and the `authsvc users` commands
    admin_tokens = providers.Singleton(AdminTokens, tokens=settings.provided.admin.tokens)
    admin_service = providers.Singleton(
        AdminService,
        users=storage.provided.users,
        directory=storage.provided.directory,
        addresses=storage.provided.email_addresses,
        signup=users_service,
        sessions=session_registry,
        factors=second_factors_repository,
        passkeys=passkeys_repository,
        mail=account_mail,
        notices=notices,
        clock=clock,
        settings=settings.provided.admin,
    )


def create_container(settings: Settings) -> Container:
    return Container(settings=providers.Object(settings))


async def _purge_forever(storage: Storage, clock: Clock, interval: float) -> None:
    """Expired sessions and counters go even where the database has no TTL index."""
    while True:
        await asyncio.sleep(interval)
        try:
            await storage.purge_expired(clock.now())
        except Exception:  # an outage must not end the purge loop
            log.warning("purge of expired sessions failed; will retry", exc_info=True)


async def shutdown(container: Container) -> None:
    """Close what the container opened: the storage backend's connections and the hashing threads."""
    await container.storage().close()
    container.hash_executor().shutdown(wait=True)


@contextlib.asynccontextmanager
async def running(container: Container) -> AsyncIterator[Storage]:
    """The storage opened, expired records purged meanwhile, everything closed after: app, CLI and tests alike."""
    storage: Storage = container.storage()
    await storage.open()
    purger = asyncio.create_task(
        _purge_forever(storage, container.clock(), container.settings().session.purge_interval)
    )
    settings = container.settings()
    if settings.env != "development" and not settings.server.public_url:
        log.warning("server.public_url is not set: links in mails point at http://%s:%s", *_listen(settings))
    sender = container.mail_sender()
    mail_sender = asyncio.create_task(sender.run_forever())
    trail = container.audit_trail()
    trail.attach()
    trail_writer = asyncio.create_task(trail.run_forever())
    webhook_sender = container.webhook_sender()
    webhook_task = asyncio.create_task(webhook_sender.run_forever())
    try:
        yield storage
    finally:
        sender.stop()
        trail.stopped = True
        webhook_sender.stopped = True
        for task in (mail_sender, purger, trail_writer, webhook_task):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        trail.detach()
        try:
            await trail.flush()  # what the last requests recorded, before the storage closes
        except Exception:
            log.warning("audit events could not be written at shutdown", exc_info=True)
        await shutdown(container)


def _listen(settings: Settings) -> tuple[str, int]:
    return settings.server.host, settings.server.port
