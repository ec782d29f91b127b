"""The NestJS tutorial's own libraries (node bcrypt 5, the mongodb driver) through tests/node/tutorial_users.js.

`make node-packages` installs them from tests/node/package-lock.json; without them these tests skip with one line,
and under CI=true they fail.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from typing import Any, cast

import pytest

from tests.helpers import ROOT

NODE_DIR = ROOT / "tests" / "node"
SCRIPT = NODE_DIR / "tutorial_users.js"


class TutorialLibraries:
    """What the tutorial's app does to users, done by its libraries: hash, compare, write and log in."""

    async def hash(self, password: str) -> str:
        """UsersController's bcrypt.hash(password, 10)."""
        return cast(str, await self._run("hash", {"password": password}))

    async def compare(self, password: str, stored: str) -> bool:
        """AuthService.validateUser's bcrypt.compare."""
        return cast(bool, await self._run("compare", {"password": password, "hash": stored}))

    async def write(self, url: str, database: str, users: dict[str, str]) -> dict[str, dict[str, str]]:
        """Sign these users up as the tutorial's app does; typed name -> {userId, username as stored}."""
        request = {
            "url": url,
            "database": database,
            "users": [{"username": n, "password": p} for n, p in users.items()],
        }
        written = await self._run("write", request)
        return dict(zip(users, written, strict=True))

    async def login(self, url: str, database: str, username: str, password: str) -> dict[str, str] | None:
        """The tutorial app's login check: {userId, username} or None (its 401)."""
        request = {"url": url, "database": database, "username": username, "password": password}
        return cast(dict[str, str] | None, await self._run("login", request))

    async def _run(self, command: str, request: dict[str, Any]) -> Any:
        process = await asyncio.create_subprocess_exec(
            "node",
            str(SCRIPT),
            command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await process.communicate(json.dumps(request).encode("utf-8"))
        if process.returncode != 0:
            raise AssertionError(f"tutorial_users.js {command} failed: {err.decode(errors='replace').strip()}")
        return json.loads(out)


@pytest.fixture(scope="session")
def tutorial() -> TutorialLibraries:
    missing = [name for name in ("bcrypt", "mongodb") if not (NODE_DIR / "node_modules" / name).is_dir()]
    if shutil.which("node") is None or missing:
        message = "the tutorial's libraries are not installed: run `make node-packages` (needs node and npm)"
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return TutorialLibraries()
