"""Command line: serve, gen-key, check-config, routes, create-user,
users list|show|set-groups|disable|enable|delete|invite, revoke-sessions, mfa-reset, check-policy."""

from __future__ import annotations

import argparse
import asyncio
import errno
import getpass
import logging
import os
import re
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Awaitable, Callable, Sequence
from importlib.metadata import version
from typing import TYPE_CHECKING

from aiohttp import web

from authsvc.auth.audit import load_audit_key
from authsvc.auth.keys import generate_key, load_session_keys
from authsvc.config import ConfigError, Settings, load_settings
from authsvc.errors import Problem
from authsvc.logs import configure_logging
from authsvc.users.models import User

if TYPE_CHECKING:
    from authsvc.containers import Container


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, dict[str, object]] = {}
    if getattr(args, "host", None):
        overrides.setdefault("server", {})["host"] = args.host
    if getattr(args, "port", None) is not None:
        overrides.setdefault("server", {})["port"] = args.port
    return load_settings(args.config, env=args.env, overrides=overrides)


def serve(args: argparse.Namespace) -> int:
    from authsvc.web import serving
    from authsvc.web.app import create_app
    from authsvc.web.container import create_container

    settings = _worker_settings(args)
    configure_logging(settings.logging.level, settings.server.log_format)
    # aiohttp-session keys each request with a plain string; aiohttp 3.14 would warn on every worker.
    warnings.filterwarnings("ignore", "It is recommended to use web.RequestKey", web.NotAppKeyWarning)
    workers = worker_count(args.workers if args.workers is not None else settings.server.workers)
    if workers > 1:
        return _serve_workers(args, settings, workers)
    try:
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:
        loop = None
    container = create_container(settings)
    container.session_keys()  # fail before binding the port when a key is unusable
    container.audit_pseudonyms()
    app = create_app(container, reuse_port=args.reuse_port, reload_settings=lambda: _worker_settings(args))
    try:
        serving.run(
            app,
            host=settings.server.host,
            port=settings.server.port,
            shutdown_timeout=settings.server.shutdown_timeout,
            drain_seconds=settings.server.drain_seconds,
            reuse_port=args.reuse_port,
            on_listening=lambda: _announce(settings),
            loop=loop,
        )
    except OSError as exc:
        if exc.errno not in (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES):
            raise
        # One line, no traceback: the address (the main port's, or a listener's named in the error) and the way out.
        bound = re.search(r"\('([^']*)', (\d+)", str(exc))
        where = f"{bound[1]}:{bound[2]}" if bound else f"{settings.server.host}:{settings.server.port}"
        why = os.strerror(exc.errno) if exc.errno else str(exc)
        print(
            f"authsvc: cannot listen on {where}: {why.lower()} (pick another: --port, make run PORT=...)",
            file=sys.stderr,
        )
        return 1
    return 0


def _url_host(host: str) -> str:
    browsable = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    return f"[{browsable}]" if ":" in browsable else browsable


def _announce(settings: Settings) -> None:
    host = f"[{settings.server.host}]" if ":" in settings.server.host else settings.server.host
    own = f"http://{_url_host(settings.server.host)}:{settings.server.port}"
    logging.getLogger("authsvc").info(
        "authsvc listening on http://%s:%s (%s backend, %s); sign in at %s/login",
        host,
        settings.server.port,
        settings.storage.backend,
        settings.env,
        (settings.server.public_url or own).rstrip("/"),
    )


def worker_count(workers: int | str) -> int:
    """server.workers or --workers: a number, or auto = the CPUs this process may run on (its affinity, which
    taskset and a container's cpuset narrow), at least 1."""
    if workers == "auto":
        return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    return int(workers)


def _workers_argument(value: str) -> int | str:
    if value == "auto":
        return value
    try:
        count = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError("a number of processes, or auto") from None
    if count < 1:
        raise argparse.ArgumentTypeError("at least 1")
    return count


def _worker_settings(args: argparse.Namespace) -> Settings:
    """The settings, with worker i of --workers serving /metrics on server.metrics_port + i: one scrape each."""
    settings = _settings(args)
    index, metrics_port = getattr(args, "worker_index", 0), settings.server.metrics_port
    if index and metrics_port:
        server = settings.server.model_copy(update={"metrics_port": metrics_port + index})
        settings = settings.model_copy(update={"server": server})
    return settings


def _serve_workers(args: argparse.Namespace, settings: Settings, count: int) -> int:
    """count single-worker processes sharing the ports (SO_REUSEPORT); SIGTERM is passed on to each."""
    if settings.storage.backend == "memory":
        print("authsvc: --workers needs a shared backend (storage.backend: mongodb)", file=sys.stderr)
        return 2
    command = [sys.executable, "-m", "authsvc", "serve", "--workers", "1", "--reuse-port"]
    for flag in ("config", "env", "host", "port"):
        if (value := getattr(args, flag)) is not None:
            command += [f"--{flag}", str(value)]
    env = dict(os.environ)
    if not settings.session.keys and not settings.session.key_file:
        env["AUTHSVC_SESSION_KEY"] = generate_key()  # one throw-away key for every worker
    workers = [
        subprocess.Popen([*command, "--worker-index", str(index)], env=env)  # noqa: S603 (our own argv)
        for index in range(count)
    ]

    def stop(signum: int, frame: object) -> None:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while all(worker.poll() is None for worker in workers):
        time.sleep(0.2)
    stop(signal.SIGTERM, None)  # one worker ended: end them all, the supervisor restarts the container
    return max(abs(worker.wait()) for worker in workers)


def gen_key(args: argparse.Namespace) -> int:
    print(generate_key())
    return 0


def check_config(args: argparse.Namespace) -> int:
    settings = _settings(args)
    # The keys serve reads before it binds the port: a key that is not a Fernet key fails here too.
    load_session_keys(settings.session.keys, settings.session.key_file, settings.env)
    load_audit_key(settings.logging.audit_key, settings.env)
    print(f"configuration OK (env={settings.env}, storage={settings.storage.backend})")
    return 0


def routes(args: argparse.Namespace) -> int:
    """The app's own route table: with --public, the paths a gateway must send to authsvc (one a line)."""
    from authsvc.web.app import create_app, public_paths
    from authsvc.web.container import create_container

    app = create_app(create_container(_settings(args)))
    if args.public:
        print("\n".join(public_paths(app)))
        return 0
    for route in app.router.routes():
        if route.resource is not None:
            print(f"{route.method} {route.resource.canonical}")
    return 0


def _with_container(settings: Settings, work: Callable[[Container], Awaitable[str]]) -> str:
    """Run one piece of work against the configured storage, opened and closed around it."""
    from authsvc.containers import create_container, running

    async def run() -> str:
        container = create_container(settings)
        async with running(container):
            return await work(container)

    return asyncio.run(run())


def _persistent_settings(args: argparse.Namespace) -> Settings | None:
    settings = _settings(args)
    configure_logging("WARNING", settings.server.log_format)
    if settings.storage.backend == "memory":
        print(f"{args.command} needs a persistent backend (the memory backend forgets at exit)", file=sys.stderr)
        return None
    return settings


def create_user(args: argparse.Namespace) -> int:
    if (settings := _persistent_settings(args)) is None:
        return 2
    password = getpass.getpass("Password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")

    async def signup(container: Container) -> str:
        users = container.users_service()
        return str((await users.signup(args.username, password, by_administrator=True)).id)

    print(_with_container(settings, signup))
    return 0


def revoke_sessions(args: argparse.Namespace) -> int:
    if (settings := _persistent_settings(args)) is None:
        return 2

    async def revoke(container: Container) -> str:
        auth = container.auth_service()
        count = await auth.end_sessions_of(args.username)
        return "no such user" if count is None else f"{count} session(s) ended"

    print(_with_container(settings, revoke))
    return 0


def mfa_reset(args: argparse.Namespace) -> int:
    if (settings := _persistent_settings(args)) is None:
        return 2

    async def reset(container: Container) -> str:
        done = await container.mfa_service().reset(args.username)
        if done is None:
            return "no such user"
        _, removed = done
        if not removed:
            return "no second factor; every session ended"
        # MfaService.reset told the owner at the verified address, as of any factor change (the mail is in the outbox).
        return "second factors removed; every session ended"

    print(_with_container(settings, reset))
    return 0


def _user_lines(user: User) -> str:
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    return "\n".join(
        (
            f"id: {user.id}",
            f"username: {user.username}",
            f"groups: {' '.join(user.groups) if user.groups else '(none)'}",
            f"created: {time.strftime(stamp, time.gmtime(user.created_at))}",
            f"updated: {time.strftime(stamp, time.gmtime(user.updated_at))}",
        )
    )


def users_set_groups(args: argparse.Namespace) -> int:
    if (settings := _persistent_settings(args)) is None:
        return 2

    async def set_groups(container: Container) -> str:
        user = await container.users_service().set_groups(args.username, args.groups)
        return "no such user" if user is None else _user_lines(user)

    output = _with_container(settings, set_groups)
    print(output)
    return 1 if output == "no such user" else 0


def check_policy(args: argparse.Namespace) -> int:
    """Each rule with match or miss per criterion for one request, and the decision, as the gateway check makes it."""
    from authsvc.access.policy import AccessPolicy, Subject, Target

    settings = _settings(args)
    configure_logging("WARNING", settings.server.log_format)
    target = Target.from_url(args.url, args.method, args.ip)
    if target is None:
        print("authsvc: --url must be an absolute http(s) URL", file=sys.stderr)
        return 2
    subject = None
    if args.user is not None:
        groups = args.groups.split(",") if args.groups is not None else None
        if groups is None:
            if settings.storage.backend == "memory":
                print(
                    "authsvc: --user needs a persistent backend to read the groups (or give --groups)", file=sys.stderr
                )
                return 2

            async def find(container: Container) -> str:
                user = await container.users_service().find(args.user)
                return "no such user" if user is None else "groups:" + ",".join(user.groups)

            found = _with_container(settings, find)
            if not found.startswith("groups:"):
                print(f"authsvc: no such user: {args.user}", file=sys.stderr)
                return 1
            groups = found.removeprefix("groups:").split(",")
        subject = Subject(args.user, frozenset(group for group in groups if group))
    policy = AccessPolicy(settings.access_control)
    who = (
        "anonymous"
        if subject is None
        else f"user {subject.username} (groups: {', '.join(sorted(subject.groups)) or 'none'})"
    )
    print(f"{target.method} {target.domain} {target.resource} from {target.ip or 'unknown'} as {who}")
    for rule, criteria in policy.explain(target, subject):
        shown = " ".join(
            f"{name}={'match' if matched else 'open' if matched is None else 'miss'}"
            for name, matched in criteria.items()
        )
        matched = all(value is not False for value in criteria.values())
        print(f"  rule {rule.index} ({rule.policy.value}): {shown} -> {'MATCH' if matched else 'miss'}")
    settled, decision = policy.before_session(target)
    if settled is None and subject is not None:
        settled, decision = policy.with_session(target, decision, subject, args.two_factors)
    answer = settled.value if settled is not None else "sign_in"
    where = "default_policy" if decision.rule is None else f"rule {decision.rule}"
    print(f"decision: {answer} ({decision.policy.value}, {where})")
    return 0


def users_command(args: argparse.Namespace) -> int:
    """`authsvc users VERB ...`: the admin API's verbs, through the same AdminService, acting as "cli"."""
    if (settings := _persistent_settings(args)) is None:
        return 2

    async def run(container: Container) -> str:
        admin = container.admin_service()
        if args.verb == "list":
            page = await admin.list_users(
                prefix=args.prefix,
                email=args.email,
                state=args.state,
                group=args.group,
                cursor=args.cursor,
                limit=args.limit,
            )
            lines = [f"{user.id}\t{user.username}\t{_state(user.disabled)}" for user in page.users]
            return "\n".join([*lines, *([f"next page: --cursor {page.next_cursor}"] if page.next_cursor else [])])
        if args.verb == "invite":
            return (await admin.invite(CLI_ACTOR, args.username, args.email)).id
        user = await admin.named(args.username)
        if args.verb == "show":
            account = await admin.account(user.id)
            return "\n".join(
                [
                    f"id: {user.id}",
                    f"username: {user.username}",
                    f"state: {_state(user.disabled)}",
                    f"groups: {' '.join(user.groups) if user.groups else '(none)'}",
                    f"email: {account.email or '-'}{' (verified)' if account.email_verified else ''}",
                    f"second factors: {', '.join(account.second_factors) or '-'}",
                    f"live sessions: {account.sessions}",
                ]
            )
        if args.verb == "disable":
            await admin.disable(CLI_ACTOR, user.id)
            return f"{user.username} disabled; every session ended"
        if args.verb == "enable":
            await admin.enable(CLI_ACTOR, user.id)
            return f"{user.username} enabled"
        await admin.delete(CLI_ACTOR, user.id)
        return f"{user.username} deleted"

    print(_with_container(settings, run))
    return 0


CLI_ACTOR = "cli"


def _state(disabled: bool) -> str:
    return "disabled" if disabled else "active"


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="authsvc", description="Session-based login service.")
    root.add_argument("--version", action="version", version=f"authsvc {version('authsvc')}")
    commands = root.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--config", metavar="FILE", help="a YAML file merged over config.yaml")
        sub.add_argument("--env", help="environment: loads config.<env>.yaml too (default: $AUTHSVC_ENV)")
        return sub

    serve_cmd = command("serve", "Run the HTTP service.")
    serve_cmd.add_argument("--host", help="address to bind (default: server.host)")
    serve_cmd.add_argument("--port", type=int, help="port to bind (default: server.port)")
    serve_cmd.add_argument(
        "--workers",
        type=_workers_argument,
        help="worker processes sharing the ports, or auto: one per CPU (default: server.workers)",
    )
    serve_cmd.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)
    serve_cmd.add_argument("--worker-index", type=int, default=0, help=argparse.SUPPRESS)
    serve_cmd.set_defaults(func=serve)
    commands.add_parser(
        "gen-key", help="Print a fresh session key.", description="Print a fresh Fernet session key."
    ).set_defaults(func=gen_key)
    command("check-config", "Validate the configuration without starting.").set_defaults(func=check_config)
    create = command("create-user", "Register a user; the password is read from stdin or prompted.")
    create.add_argument("username")
    create.set_defaults(func=create_user)
    revoke = command("revoke-sessions", "End every session of a user (an administrator's logout-everywhere).")
    revoke.add_argument("username")
    revoke.set_defaults(func=revoke_sessions)
    policy = command("check-policy", "Show how access_control decides one request: each rule, then the decision.")
    policy.add_argument("--url", required=True, help="the original URL, e.g. https://app.example.com/admin?x=1")
    policy.add_argument("--method", default="GET", help="the original method (default: GET)")
    policy.add_argument("--user", help="the signed-in user (default: anonymous); groups are read from storage")
    policy.add_argument("--groups", help="comma-separated groups for --user instead of reading them from storage")
    policy.add_argument("--ip", help="the client address")
    policy.add_argument("--two-factors", action="store_true", help="the session was proven with two factors")
    policy.set_defaults(func=check_policy)
    routes_cmd = command("routes", "Print the HTTP routes (method and path).")
    routes_cmd.add_argument(
        "--public", action="store_true", help="only the paths a gateway must route to authsvc, one a line"
    )
    routes_cmd.set_defaults(func=routes)
    reset = command("mfa-reset", "Remove every second factor of a user and end their sessions (a lost phone).")
    reset.add_argument("username")
    reset.set_defaults(func=mfa_reset)
    users = commands.add_parser("users", help="Find and manage users (the admin API's verbs).")
    verbs = users.add_subparsers(dest="verb", required=True)

    def verb(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = verbs.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--config", metavar="FILE", help="a YAML file merged over config.yaml")
        sub.add_argument("--env", help="environment: loads config.<env>.yaml too (default: $AUTHSVC_ENV)")
        sub.set_defaults(func=users_command, command=f"users {name}")
        return sub

    listing = verb("list", "One page of users in name order: id, name, state.")
    listing.add_argument("--prefix", help="names starting with this")
    listing.add_argument("--email", help="the user with this address")
    listing.add_argument("--state", choices=["active", "disabled"])
    listing.add_argument("--group", help="the members of this group")
    listing.add_argument("--limit", type=int, help="users per page (default 50, at most admin.max_page_size)")
    listing.add_argument("--cursor", help="the next page's cursor, as the previous page printed it")
    for name, help_text in (
        ("show", "A user's state, address, second factors and live sessions."),
        ("disable", "Refuse every login of a user and end their sessions."),
        ("enable", "Let a disabled user log in again."),
        ("delete", "Delete a user and everything of theirs."),
    ):
        verb(name, help_text).add_argument("username")
    set_groups = verb(
        "set-groups", "Replace a user's groups (none: no groups); the access rules see them on the next check."
    )
    set_groups.add_argument("username")
    set_groups.add_argument("groups", nargs="*", metavar="GROUP")
    set_groups.set_defaults(func=users_set_groups)
    invite = verb("invite", "Create a user and mail them a link to choose their password; prints the id.")
    invite.add_argument("username")
    invite.add_argument("email")
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"authsvc: {exc}", file=sys.stderr)
        return 2
    except Problem as problem:
        details = "; ".join(e["detail"] for e in problem.errors or [])
        print(f"authsvc: {problem.detail or problem.title}{': ' + details if details else ''}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
