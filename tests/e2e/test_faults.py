"""authsvc under faults, as an operator would try it before production: real processes on one FerretDB, a bounded
mixed load (sign-ups, logins, protected requests, logouts, password changes) through a small gateway, and the faults
of issue 29.

The gateway here does what nginx or Traefik does: it balances over the replicas that its health check (/readyz every
HEALTH_INTERVAL) finds ready (all of them when none is: during a database outage they still answer 503), retries a
connection that is refused (nothing was sent), and closes idle keep-alive connections after IDLE_KEEPALIVE, shorter
than the drain (deploy/README.md). Every answer and every connection error is recorded with its latency; the
assertions are the issue's: nothing acknowledged is lost, nothing alive after an acknowledged revocation, no old
password working after an acknowledged change, no error status but 503, each 503 within the outage bound, no request
reset by a SIGTERM, every queued mail delivered (at least once). The figures are printed (-s).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pymongo
import pytest

from authsvc.deadline import outage_bound
from tests.driver import PASSWORD, new_name
from tests.helpers import FAST_CONFIG, AuthsvcProcess
from tests.mongodb import FerretDB, mongo_sections
from tests.smtp import SmtpServer, smtp_sections

pytestmark = [pytest.mark.mongodb, pytest.mark.e2e]

SELECTION_TIMEOUT_MS = 1000
BOUND = outage_bound(SELECTION_TIMEOUT_MS)  # 1.5 s: what docs/scaling.md promises for this setting
CLIENT_SLACK = 0.25  # the load generator's own scheduling on two shared cores, on top of the server's bound
DRAIN = 2.0
SHUTDOWN_TIMEOUT = 5.0
HEALTH_INTERVAL = 0.25
IDLE_KEEPALIVE = 0.5  # aiohttp closes idle connections within twice this: under the drain
WORKERS = 6
REVOCATION_LAG = 1.0  # mongodb.revocation_lag_ms, the default
MAIL_WAIT = 60.0  # past the faults: a mail claimed by a sender that died mid-send waits out its lease (about 62 s)


@dataclass
class Outcome:
    op: str
    replica: int
    started: float
    latency: float
    status: int | None = None
    error: str | None = None


@dataclass
class Record:
    outcomes: list[Outcome] = field(default_factory=list)
    signed_up: list[str] = field(default_factory=list)  # acknowledged (201)
    users: list[str] = field(default_factory=list)  # acknowledged, for logins
    cookies: list[str] = field(default_factory=list)
    revoked: list[tuple[str, float]] = field(default_factory=list)  # (cookie, acknowledged at)
    changed: list[tuple[str, str]] = field(default_factory=list)  # (name, new password): acknowledged (200)
    unsure: list[tuple[str, str]] = field(default_factory=list)  # (name, new password): 503 or cut off, either holds
    refused: int = 0  # connections refused before anything was sent: retried on another replica
    events: dict[str, float] = field(default_factory=dict)  # fault name -> time

    def count(self, predicate: Callable[[Outcome], bool]) -> int:
        return sum(1 for outcome in self.outcomes if predicate(outcome))


class Gateway:
    def __init__(self, replicas: list[AuthsvcProcess], record: Record) -> None:
        self.replicas = replicas
        self.record = record
        self.health = ["ready"] * len(replicas)
        self.sessions = [
            aiohttp.ClientSession(
                replica.url,
                connector=aiohttp.TCPConnector(limit=16, keepalive_timeout=IDLE_KEEPALIVE),
                cookie_jar=aiohttp.DummyCookieJar(),
                timeout=aiohttp.ClientTimeout(total=20),
            )
            for replica in replicas
        ]
        self.turn = itertools.count()

    async def close(self) -> None:
        for session in self.sessions:
            await session.close()

    async def check_health(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            for index, session in enumerate(self.sessions):
                try:
                    async with session.get("/readyz", timeout=aiohttp.ClientTimeout(total=BOUND + 1)) as response:
                        body = await response.text()
                        self.health[index] = (
                            "ready" if response.status == 200 else "draining" if "draining" in body else "unready"
                        )
                except (aiohttp.ClientError, TimeoutError):
                    self.health[index] = "down"
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), HEALTH_INTERVAL)

    def candidates(self) -> list[int]:
        ready = [i for i, state in enumerate(self.health) if state == "ready"]
        others = [i for i, state in enumerate(self.health) if state == "unready"]
        pool = ready or others or list(range(len(self.replicas)))
        start = next(self.turn)
        return [pool[(start + k) % len(pool)] for k in range(len(pool))] + [
            i for i in range(len(self.replicas)) if i not in pool
        ]

    async def send(
        self, op: str, method: str, path: str, cookie: str | None = None, **kwargs: Any
    ) -> tuple[Outcome, aiohttp.ClientResponse | None]:
        headers = {"Cookie": f"sid={cookie}"} if cookie else {}
        for attempt in range(20):
            index = self.candidates()[attempt % len(self.replicas)]
            started = time.monotonic()
            try:
                async with self.sessions[index].request(method, path, headers=headers, **kwargs) as response:
                    await response.read()
                outcome = Outcome(op, index, started, time.monotonic() - started, status=response.status)
                self.record.outcomes.append(outcome)
                return outcome, response
            except aiohttp.ClientConnectorError:  # refused: nothing was sent, so any request may go elsewhere
                self.record.refused += 1
                await asyncio.sleep(0.02)
            except (aiohttp.ClientError, TimeoutError) as exc:
                outcome = Outcome(op, index, started, time.monotonic() - started, error=type(exc).__name__)
                self.record.outcomes.append(outcome)
                return outcome, None
        outcome = Outcome(op, -1, time.monotonic(), 0.0, error="every replica refused")
        self.record.outcomes.append(outcome)
        return outcome, None


async def worker(gateway: Gateway, record: Record, until: float, seed: int) -> None:
    rng = random.Random(seed)  # the mix, not a result: every outcome is checked whatever it is
    while time.monotonic() < until:
        roll = rng.random()
        if roll < 0.25 or not record.users:
            name = new_name("fault")
            body: dict[str, str] = {"username": name, "password": PASSWORD}
            if rng.random() < 0.3:
                body["email"] = f"{name}@example.com"
            outcome, _ = await gateway.send("signup", "POST", "/users/signup", json=body)
            if outcome.status == 201:
                record.signed_up.append(name)
                record.users.append(name)
        elif roll < 0.5:
            body = {"username": rng.choice(record.users), "password": PASSWORD}
            outcome, response = await gateway.send("login", "POST", "/users/login", json=body)
            if outcome.status == 200 and response is not None:
                record.cookies.append(response.cookies["sid"].value)
        elif roll < 0.545:
            await change_password(gateway, record, rng)
        elif roll < 0.85 and record.cookies:
            await gateway.send("protected", "GET", "/users/protected", cookie=rng.choice(record.cookies))
        elif record.cookies:
            cookie = record.cookies.pop(rng.randrange(len(record.cookies)))
            outcome, _ = await gateway.send("logout", "POST", "/users/logout", cookie=cookie)
            if outcome.status == 200:
                record.revoked.append((cookie, time.monotonic()))
            else:
                record.cookies.append(cookie)  # unknown: it may still be live, and it is no revocation


async def change_password(gateway: Gateway, record: Record, rng: random.Random) -> None:
    """Log in as a user still on PASSWORD and change it; the name leaves the pool whatever the answer says, unless
    the change surely did not happen (no session, or a refusal before any write)."""
    name = record.users.pop(rng.randrange(len(record.users)))
    outcome, response = await gateway.send(
        "login", "POST", "/users/login", json={"username": name, "password": PASSWORD}
    )
    if outcome.status != 200 or response is None:
        record.users.append(name)
        return
    new = f"{PASSWORD} {rng.getrandbits(48):012x}"
    body = {"currentPassword": PASSWORD, "newPassword": new}
    cookie = response.cookies["sid"].value
    outcome, _ = await gateway.send("change", "POST", "/users/me/password", cookie=cookie, json=body)
    if outcome.status == 200:
        record.changed.append((name, new))
    elif outcome.status == 503 or outcome.error is not None:  # unknown: the new hash may have landed
        record.unsure.append((name, new))
    else:
        record.users.append(name)


@pytest.fixture
def ferretdb(tmp_path: Path, ferretdb_binary: Path) -> Iterator[FerretDB]:
    server = FerretDB(ferretdb_binary, tmp_path / "ferretdb").start()
    yield server
    server.stop()


def replica_config(ferretdb: FerretDB, smtp: SmtpServer, database: str) -> dict[str, Any]:
    mail = smtp_sections(smtp, send_interval=0.2)
    return {
        **FAST_CONFIG,
        **mongo_sections(
            ferretdb.url,
            database,
            server_selection_timeout_ms=SELECTION_TIMEOUT_MS,
            connect_timeout_ms=SELECTION_TIMEOUT_MS,
            socket_timeout_ms=2 * SELECTION_TIMEOUT_MS,
        ),
        "mail": mail["mail"],
        "server": {**mail["server"], "drain_seconds": DRAIN, "shutdown_timeout": SHUTDOWN_TIMEOUT},
        # The checks after the load try an old password on every changed account from 127.0.0.1: more distinct
        # failing names than one address's free allowance.
        "throttle": {"signup_burst": 100_000, "signup_refill_seconds": 0.01, "address_free_names": 1_000_000},
    }


async def later(seconds: float, action: Callable[[], Awaitable[None]]) -> None:
    await asyncio.sleep(seconds)
    await action()


async def login_status(session: aiohttp.ClientSession, name: str, password: str) -> int:
    """A login's status once it is an answer about the password: a 503 (the database busy or away) is retried, as a
    client does after its Retry-After (shortened here)."""
    for _ in range(10):
        async with session.post("/users/login", json={"username": name, "password": password}) as response:
            if response.status != 503:
                return response.status
        await asyncio.sleep(0.5)
    return 503


async def old_and_new(gateway: Gateway, name: str, new: str, few: asyncio.Semaphore) -> list[tuple[int, int]]:
    """What each replica answers to a login with the old password and to one with the new."""
    async with few:  # a few accounts at a time: all at once would queue logins past their storage deadline (503)
        return [
            (await login_status(session, name, PASSWORD), await login_status(session, name, new))
            for session in gateway.sessions
        ]


def mail_id(message: Any) -> str:
    """The outbox id a delivered mail carries: the last part of its Message-ID's left side (make_msgid's idstring)."""
    return str(message["Message-ID"]).strip("<>").split("@")[0].rsplit(".", 1)[-1]


async def delivery(smtp: SmtpServer, outbox: Any) -> tuple[set[str], Counter[str], float]:
    """Wait (MAIL_WAIT at most) until every mail in the outbox has reached the SMTP server at least once; returns the
    ids queued, the ids delivered with how many times each, and how long it took."""
    began = time.monotonic()
    while True:
        queued = await asyncio.to_thread(lambda: {doc["_id"] for doc in outbox.find({}, {"_id": 1})})
        sent = Counter(mail_id(message) for message in smtp.messages)
        if queued <= set(sent) or time.monotonic() - began > MAIL_WAIT:
            return queued, sent, time.monotonic() - began
        await asyncio.sleep(0.25)


def rss_kib(process: AuthsvcProcess) -> int:
    assert process.process is not None
    status = Path(f"/proc/{process.process.pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))


async def test_two_replicas_under_faults_lose_nothing_and_answer_503_within_the_bound(
    tmp_path: Path, ferretdb: FerretDB, smtp_server: SmtpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    database = "faults"
    config = replica_config(ferretdb, smtp_server, database)
    replicas = [AuthsvcProcess(tmp_path, config) for _ in range(2)]
    record = Record()
    for replica in replicas:
        replica.start()
    gateway = Gateway(replicas, record)
    stop_health = asyncio.Event()
    began, began_wall = time.monotonic(), time.time()
    rss: list[int] = []
    mongo: pymongo.MongoClient[dict[str, Any]] | None = None
    mail: asyncio.Task[tuple[set[str], Counter[str], float]] | None = None

    async def fault(name: str, action: Callable[[], None]) -> None:
        record.events[name] = time.monotonic()
        await asyncio.to_thread(action)
        record.events[name + " done"] = time.monotonic()

    def kill_and_restart() -> None:
        assert replicas[1].process is not None
        replicas[1].process.kill()
        replicas[1].process.wait()
        replicas[1].start()

    def stop_database() -> None:
        ferretdb.stop()

    def start_database() -> None:
        ferretdb.start()

    def terminate_and_restart() -> None:
        assert replicas[0].process is not None
        rss.append(rss_kib(replicas[0]))
        replicas[0].process.send_signal(signal.SIGTERM)
        replicas[0].process.wait(timeout=DRAIN + SHUTDOWN_TIMEOUT + 10)
        record.events["sigterm exit"] = time.monotonic()
        replicas[0].start()

    try:
        health = asyncio.create_task(gateway.check_health(stop_health))
        until = began + 34
        faults = [
            later(3, lambda: fault("kill -9", kill_and_restart)),
            later(8, lambda: fault("database stopped", stop_database)),
            later(18, lambda: fault("database started", start_database)),
            later(20, lambda: fault("smtp stopped", smtp_server.stop)),
            later(23, lambda: fault("sigterm", terminate_and_restart)),
            later(28, lambda: fault("smtp started", smtp_server.start)),
        ]
        await asyncio.gather(*(worker(gateway, record, until, seed) for seed in range(WORKERS)), *faults)
        rss.append(rss_kib(replicas[1]))

        # Every mail the app queued reaches the SMTP server, at least once, once SMTP and the database are back:
        # waited for while the replicas still run, alongside the checks below.
        sent_by_the_end = {mail_id(message) for message in smtp_server.messages}
        mongo = pymongo.MongoClient(ferretdb.url, serverSelectionTimeoutMS=5000)
        mail = asyncio.create_task(delivery(smtp_server, mongo[database]["outbox"]))

        # Every acknowledged revocation, REVOCATION_LAG later: refused by both replicas.
        await asyncio.sleep(REVOCATION_LAG)
        revocations_began = time.monotonic()
        alive = 0
        for cookie, _ in record.revoked:
            for index, session in enumerate(gateway.sessions):
                async with session.get("/users/protected", headers={"Cookie": f"sid={cookie}"}) as response:
                    alive += response.status == 200
                    assert response.status in (401, 200), f"replica {index}: {response.status}"

        # Every acknowledged password change: the old password refused and the new one accepted by both replicas.
        # A change answered 503 (or cut off) may or may not have landed: one of the two passwords, the same on both.
        checks_began = time.monotonic()
        revocations_took = checks_began - revocations_began
        tried = record.changed + record.unsure
        few = asyncio.Semaphore(8)
        answers = await asyncio.gather(*(old_and_new(gateway, name, new, few) for name, new in tried))
        acknowledged, unknown = answers[: len(record.changed)], answers[len(record.changed) :]
        old_working = sum(old == 200 for replicas_saw in acknowledged for old, _ in replicas_saw)
        unsure_landed = sum(set(replicas_saw) == {(401, 200)} for replicas_saw in unknown)
        # (name, (old, new) as each replica answered): an acknowledged change that did not hold on both replicas, or
        # an unknown one that left both passwords working, or neither, or the replicas disagreeing.
        wrong = [
            (name, saw) for (name, _), saw in zip(record.changed, acknowledged, strict=True) if set(saw) != {(401, 200)}
        ]
        wrong += [
            (name, saw)
            for (name, _), saw in zip(record.unsure, unknown, strict=True)
            if set(saw) not in ({(401, 200)}, {(200, 401)})
        ]
        checks_took = time.monotonic() - checks_began

        queued, sent, mail_waited = await mail
        undelivered = [
            {key: doc.get(key) for key in ("_id", "kind", "attempts", "lastError", "nextAttemptAt")}
            for doc in mongo[database]["outbox"].find({"_id": {"$in": sorted(queued - set(sent))}})
        ]
        marked_pending = mongo[database]["outbox"].count_documents({"deliveredAt": None})
        # Delivered after the load: after a failed attempt (SMTP stopped), or never tried before, when a claim was cut
        # off (its sender killed, or the database gone) and the mail waited out the claim's lease.
        late_mails = list(mongo[database]["outbox"].find({"_id": {"$in": sorted(queued - sent_by_the_end)}}))
        retried = sum(doc["attempts"] > 0 for doc in late_mails)
        leased = [round(doc["createdAt"] - began_wall, 1) for doc in late_mails if doc["attempts"] == 0]
        stop_health.set()
        await health
    finally:
        stop_health.set()
        if mail is not None:
            mail.cancel()
        if mongo is not None:
            mongo.close()
        await gateway.close()
        for replica in replicas:
            replica.stop()

    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(ferretdb.url, serverSelectionTimeoutMS=5000)
    try:
        names = [doc["username"] for doc in client[database]["users"].find({}, {"username": 1})]
        stored = set(names)
    finally:
        client.close()

    statuses = Counter(o.status for o in record.outcomes if o.status is not None)
    unavailable = [o for o in record.outcomes if o.status == 503]
    slowest = max((o.latency for o in unavailable), default=0.0)
    kill = record.events["kill -9"]
    term, term_exit = record.events["sigterm"], record.events["sigterm exit"]
    errors = [o for o in record.outcomes if o.error is not None]
    # kill -9 loses what was in flight at the replica, and what the gateway sent on its dead connections before
    # they were known dead: nothing a process can drain.
    restarted = record.events["kill -9 done"]
    killed_in_flight = [
        o for o in errors if o.replica == 1 and kill <= o.started + o.latency and o.started <= restarted
    ]
    by_sigterm = [o for o in errors if o.replica == 0 and term <= o.started + o.latency and o.started <= term_exit]
    drained = [o for o in record.outcomes if o.replica == 0 and o.status and term <= o.started + o.latency <= term_exit]
    lost = [name for name in record.signed_up if name not in stored]
    duplicates = len(names) - len(stored)  # a retried or raced insert stored twice
    duplicates_mailed = sum(count - 1 for count in sent.values())
    with capsys.disabled():
        print(
            f"\nfaults over {until - began:.0f} s, {len(record.outcomes)} answers or errors: "
            f"statuses {dict(statuses)}; "
            f"503s {len(unavailable)}, slowest {slowest:.3f} s (bound {BOUND} s); connection errors {len(errors)} "
            f"({len(killed_in_flight)} at kill -9, {len(by_sigterm)} at SIGTERM, which answered {len(drained)} "
            f"meanwhile); refused and retried {record.refused}; "
            f"sign-ups acknowledged {len(record.signed_up)}, lost {len(lost)}, duplicate users {duplicates}; "
            f"revocations acknowledged {len(record.revoked)}, alive after {REVOCATION_LAG:.0f} s on either replica "
            f"{alive} (checked in {revocations_took:.1f} s); "
            f"password changes acknowledged {len(record.changed)}, old passwords working after {old_working} "
            f"(checked in {checks_took:.1f} s), unknown outcomes {len(record.unsure)} ({unsure_landed} landed); "
            f"mails queued {len(queued)}, delivered {len(queued & set(sent))} ({sum(sent.values())} sent, "
            f"{duplicates_mailed} duplicates), the last {mail_waited:.1f} s after the load ({len(late_mails)} "
            f"after the load: {retried} retried after a failed attempt, {len(leased)} held by a claim's lease, "
            f"queued at {leased} s), "
            f"{marked_pending} still marked pending; "
            f"replica RSS {rss} KiB; "
            f"events {[(name, round(at - began, 1)) for name, at in record.events.items()]}"
        )
    assert lost == []
    assert duplicates == 0
    assert alive == 0
    assert old_working == 0
    assert wrong == []
    assert undelivered == [] and queued <= set(sent)
    assert set(sent) <= queued  # nothing sent that was never queued
    assert set(statuses) <= {200, 201, 401, 409, 503}
    late = [(o.op, o.replica, round(o.started - began, 2), round(o.latency, 3)) for o in unavailable]
    assert all(o.latency <= BOUND + CLIENT_SLACK for o in unavailable), sorted(late, key=lambda x: x[-1])[-5:]
    assert by_sigterm == []
    assert [o for o in errors if o not in killed_in_flight] == []
    assert statuses[201] > 0 and statuses[200] > 0 and len(unavailable) > 0
    assert record.changed and queued  # the checks above are not vacuous
