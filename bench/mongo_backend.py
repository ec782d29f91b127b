"""The MongoDB backend on the FerretDB test server: verify vs the memory backend and the ceiling (PyMongo vs Motor,
the per-replica cache off and on), logins, growth (1,000 vs 100,000 users and live sessions, seeded straight into
the database), and `serve --workers 2` against one worker."""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pymongo
from bson import ObjectId

from authsvc.users.passwords import _hash_sync
from bench import client
from bench.common import Options, Target, interleave, ratios, rounded, say, summarize
from bench.memory_backend import LOGIN_USERS, login_lua, login_runs, login_summary
from bench.procs import Authsvc, FerretDB, authsvc_overrides, servers, start_ceiling

DRIVERS = ("pymongo", "motor")
# (driver, cache on): the cache with its defaults (mongodb.cache_size 100000, revocations polled every 200 ms)
INSTANCES = (("pymongo", False), ("pymongo", True), ("motor", True))
SEED_BATCH = 5_000
CACHE_OFF = 0
PATIENT_DRIVER = {"server_selection_timeout_ms": 30_000, "connect_timeout_ms": 30_000, "socket_timeout_ms": 60_000}


def mongo_settings(url: str, database: str, driver: str, cache: bool = True) -> dict[str, Any]:
    settings = {"url": url, "database": database, "driver": driver}
    return settings if cache else {**settings, "cache_size": CACHE_OFF}


def admin_client(url: str) -> pymongo.MongoClient[dict[str, Any]]:
    # The heartbeat waits connectTimeoutMS: behind the serialized server's multi-second scans, be patient.
    return pymongo.MongoClient(
        url, serverSelectionTimeoutMS=30_000, connectTimeoutMS=60_000, socketTimeoutMS=120_000, tz_aware=True
    )


def seed(url: str, database: str, count: int, cost: int = 4, first: int = 0) -> dict[str, Any]:
    """`count` users and one live session each, in the documents authsvc/storage/mongo/ writes.

    Users: _id ObjectId, username, usernameKey, password ($bcrypt-sha256$ hash), createdAt, updatedAt, __v (the
    Mongoose shape plus the key authsvc adds; without it the first sign-up back-fills 100,000 documents).
    Sessions: _id sha256(session id), userId, createdAt, lastSeenAt, expiresAt, absoluteExpiresAt, ip, userAgent.
    """
    started = time.monotonic()
    password_hash = _hash_sync(secrets.token_urlsafe(16), cost)  # nobody logs in as a seeded user
    now = datetime.now(UTC)
    with admin_client(url) as admin:
        db = admin[database]
        for offset in range(0, count, SEED_BATCH):
            size = min(SEED_BATCH, count - offset)
            ids = [ObjectId() for _ in range(size)]
            db["users"].insert_many(
                [
                    {
                        "_id": user_id,
                        "username": f"seed{first + offset + i}",
                        "usernameKey": f"seed{first + offset + i}",  # already normal: no back-fill at sign-up
                        "password": password_hash,
                        "createdAt": now,
                        "updatedAt": now,
                        "__v": 0,
                    }
                    for i, user_id in enumerate(ids)
                ],
                ordered=False,
            )
            db["sessions"].insert_many(
                [
                    {
                        "_id": hashlib.sha256(secrets.token_urlsafe(32).encode()).hexdigest(),
                        "userId": str(user_id),
                        "createdAt": now,
                        "lastSeenAt": now,
                        "expiresAt": now + timedelta(hours=1),
                        "absoluteExpiresAt": now + timedelta(hours=12),
                        "ip": "127.0.0.1",
                        "userAgent": "bench-seed",
                    }
                    for user_id in ids
                ],
                ordered=False,
            )
        counts = {name: db[name].estimated_document_count() for name in ("users", "sessions")}
        indexes = {name: sorted(db[name].index_information()) for name in ("users", "sessions")}
    return {"seconds": round(time.monotonic() - started, 1), "documents": counts, "indexes": indexes}


def database_server(options: Options, stack: contextlib.ExitStack) -> tuple[str, list[int], str]:
    """The MongoDB-wire server: --mongodb-url when given (a real MongoDB), else a FerretDB test server of our own."""
    if options.mongodb_url:
        return options.mongodb_url, [], "MongoDB at --mongodb-url"
    ferret = stack.enter_context(FerretDB(options.load_cpus, serialize=options.ferretdb_serialize).start())
    serialize = "serialized" if options.ferretdb_serialize else "not serialized"
    return (
        ferret.url,
        [ferret.pid],
        f"FerretDB 1.24 SQLite test server (tools/ferretdb, {serialize}, on core {options.load_cpus})",
    )


def verify_and_logins(options: Options) -> dict[str, Any]:
    """The memory backend, PyMongo and Motor with the cache, PyMongo without, in the same run, against the ceiling."""
    database = f"authsvc_bench_{secrets.token_hex(4)}"
    out: dict[str, Any] = {}
    with servers() as stack:
        url, db_pids, out["database_server"] = database_server(options, stack)
        ceiling = stack.enter_context(start_ceiling(options.server_cpus))
        memory = stack.enter_context(Authsvc("authsvc-memory", authsvc_overrides(), options.server_cpus).start())
        key = None
        instances: dict[str, Authsvc] = {}
        for driver, cache in INSTANCES:
            name = f"{driver}_{'cache' if cache else 'nocache'}"
            settings = authsvc_overrides(mongodb=mongo_settings(url, database, driver, cache))
            server = stack.enter_context(Authsvc(f"authsvc-mongo-{name}", settings, options.server_cpus, key))
            server.start()
            key = server.session_key  # one key for all: they behave as replicas of one deployment
            instances[name] = server
        first = next(iter(instances.values()))
        client.signup_many(first.base_url, LOGIN_USERS, concurrency=2)
        cookie = {"Cookie": client.login(first.base_url, client.USER_PREFIX + "0").cookie_header}
        memory_cookie = {"Cookie": client.signup_and_login(memory.base_url).cookie_header}
        targets = [
            Target("ceiling", ceiling.base_url + "/", ceiling.pid),
            Target("verify_memory", memory.base_url + "/auth/verify", memory.pid, headers=memory_cookie),
        ]
        targets += [
            Target(f"verify_{name}", server.base_url + "/auth/verify", server.pid, headers=cookie)
            for name, server in instances.items()
        ]
        results = interleave(targets, options, other_pids=db_pids)
        verify = {name: summarize(runs) for name, runs in results.items()}
        for name, runs in results.items():
            if name != "ceiling":
                verify[name]["vs_ceiling"] = ratios(runs, results["ceiling"])
            if name.startswith("verify_") and name != "verify_memory":
                verify[name]["vs_memory"] = ratios(runs, results["verify_memory"])
        out["verify"] = verify
        out["verify_target_rps_ratio_min"] = 0.5
        out["verify_vs_memory_target_rps_ratio_min"] = 0.8
        lua = login_lua()
        login_targets = [
            Target(
                f"login_{driver}",
                instances[f"{driver}_cache"].base_url + "/users/login",
                instances[f"{driver}_cache"].pid,
                lua=lua,
                connections=4,
                timeout_s=60,
                duration=options.login_duration,
            )
            for driver in DRIVERS
        ]
        base_urls = {f"login_{d}": instances[f"{d}_cache"].base_url for d in DRIVERS}
        login_results = login_runs(login_targets, options, base_urls)
        out["logins_cost12"] = {name: login_summary(runs) for name, runs in login_results.items()}
    return out


def workers(options: Options) -> dict[str, Any]:
    """`authsvc serve --workers 2` against one worker, both on both cores (unpinned), the cache on, in one run.

    wrk keeps its core (load_cpus), so two workers share two cores with it and FerretDB; the server's CPU figure
    is the parent's only (the workers are its children) and is left out.
    """
    database = f"authsvc_workers_{secrets.token_hex(4)}"
    out: dict[str, Any] = {}
    with servers() as stack:
        url, db_pids, out["database_server"] = database_server(options, stack)
        settings = authsvc_overrides(mongodb=mongo_settings(url, database, "pymongo"))
        one = stack.enter_context(Authsvc("authsvc-workers-1", settings, None).start())
        two = stack.enter_context(Authsvc("authsvc-workers-2", settings, None, one.session_key, workers=2).start())
        client.signup_many(one.base_url, LOGIN_USERS, concurrency=2)
        cookie = {"Cookie": client.login(one.base_url, client.USER_PREFIX + "0").cookie_header}
        targets = [
            Target(f"verify_workers{n}", server.base_url + "/auth/verify", server.pid, headers=cookie)
            for n, server in ((1, one), (2, two))
        ]
        results = interleave(targets, options, other_pids=db_pids)
        out["verify"] = {name: summarize(runs) for name, runs in results.items()}
        out["verify"]["verify_workers2"]["vs_workers1"] = ratios(results["verify_workers2"], results["verify_workers1"])
    return out


def query_timings(url: str, database: str, username: str, repeat: int = 3) -> dict[str, float]:
    """Milliseconds of the queries behind verify and login, for the user signed up last (the end of a scan)."""
    timings: dict[str, float] = {}
    with admin_client(url) as admin:
        db = admin[database]
        user = db["users"].find_one({"username": username})
        session = db["sessions"].find_one({"userId": str(user["_id"])}) if user else None
        if user is None or session is None:
            return timings
        now = datetime.now(UTC)
        queries: dict[str, Callable[[], object]] = {
            "users_by_id": lambda: db["users"].find_one({"_id": user["_id"]}),
            "users_by_username": lambda: db["users"].find_one({"username": username}),
            "sessions_by_id": lambda: db["sessions"].find_one({"_id": session["_id"]}),
            "sessions_by_id_and_expiry": lambda: db["sessions"].find_one(
                {"_id": session["_id"], "expiresAt": {"$gt": now}}
            ),
        }
        for name, query in queries.items():
            spent = []
            for _ in range(repeat):
                started = time.perf_counter()
                query()
                spent.append(time.perf_counter() - started)
            timings[name + "_ms"] = round(sorted(spent)[len(spent) // 2] * 1000, 2)
    return timings


def growth(options: Options) -> dict[str, Any]:
    """Verify and login latency (one client at a time) with N users and N live sessions, per N in growth_sizes."""
    out: dict[str, Any] = {"sizes": list(options.growth_sizes), "by_size": {}, "driver": "pymongo", "cache": "on"}
    with servers() as stack:
        url, db_pids, out["database_server"] = database_server(options, stack)
        key = None
        targets: list[Target] = []
        databases = {}
        for size in options.growth_sizes:
            database = f"authsvc_growth_{size}_{secrets.token_hex(3)}"
            databases[size] = database
            # At 100,000 the test server scans for 2-3 s per query while serialized: the driver's default 2 s would
            # take its own heartbeat for an outage and cancel the requests in flight.
            mongodb = mongo_settings(url, database, "pymongo") | PATIENT_DRIVER
            for cost in (12, 4):
                server = stack.enter_context(
                    Authsvc(
                        f"authsvc-growth-{size}-cost{cost}",
                        authsvc_overrides(bcrypt_cost=cost, mongodb=mongodb),
                        options.server_cpus,
                        key,
                    )
                )
                server.start()  # creates the indexes before the documents arrive, as in production
                key = server.session_key
                if cost == 12:
                    say(f"seeding {size:,} users and sessions")
                    seeded = seed(url, database, size)
                    say(f"seeded in {seeded['seconds']} s: {seeded['documents']}")
                    out["by_size"][str(size)] = {"seed": seeded}
                    client.signup_many(server.base_url, LOGIN_USERS, concurrency=2)
                    login = client.login(server.base_url, client.USER_PREFIX + "0")
                    targets.append(
                        Target(
                            f"verify_{size}",
                            server.base_url + "/auth/verify",
                            server.pid,
                            headers={"Cookie": login.cookie_header},
                            connections=1,
                            timeout_s=60,
                        )
                    )
                targets.append(
                    Target(
                        f"login_cost{cost}_{size}",
                        server.base_url + "/users/login",
                        server.pid,
                        lua=login_lua(),
                        connections=1,
                        timeout_s=60,
                        duration=options.login_duration if cost == 12 else options.duration,
                    )
                )
        for size, database in databases.items():
            timings = query_timings(url, database, client.USER_PREFIX + "0")
            out["by_size"][str(size)]["query_ms"] = timings
            say(f"{size:,}: direct query timings {timings}")
        # Every kind's sizes side by side: verify_1000, verify_100000, login_cost12_1000, ...
        targets.sort(key=lambda t: t.name.rsplit("_", 1)[0])
        results = interleave(targets, options, other_pids=db_pids)
    small, large = (str(n) for n in (min(options.growth_sizes), max(options.growth_sizes)))
    summaries = {name: summarize(runs) for name, runs in results.items()}
    for name, summary in summaries.items():
        kind, size_text = name.rsplit("_", 1)
        out["by_size"][size_text][kind] = summary
    comparison = {}
    for kind in ("verify", "login_cost12", "login_cost4"):
        a, b = summaries[f"{kind}_{small}"], summaries[f"{kind}_{large}"]
        comparison[kind] = {
            "p50_ratio": rounded((b["p50_ms"] or 0) / a["p50_ms"]) if a["p50_ms"] else None,
            "p99_ratio": rounded((b["p99_ms"] or 0) / a["p99_ms"]) if a["p99_ms"] else None,
            "rps_ratio": rounded((b["rps"] or 0) / a["rps"]) if a["rps"] else None,
        }
    out["large_vs_small"] = comparison
    out["target_latency_ratio_max"] = 1.2
    return out


def ferretdb_probe(options: Options) -> dict[str, Any]:
    """How many simple find_one a second the test server answers (the floor under every Mongo figure)."""
    with servers() as stack:
        ferret = stack.enter_context(FerretDB(options.load_cpus, serialize=options.ferretdb_serialize).start())
        with admin_client(ferret.url) as admin:
            collection = admin["probe"]["docs"]
            collection.insert_one({"_id": "x", "v": 1})
            count, started = 0, time.monotonic()
            while time.monotonic() - started < (1.0 if options.quick else 3.0):
                collection.find_one({"_id": "x"})
                count += 1
            elapsed = time.monotonic() - started
    return {"sequential_find_one_per_s": round(count / elapsed), "mean_ms": round(elapsed / count * 1000, 3)}
