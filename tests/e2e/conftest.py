from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.helpers import TUTORIAL_FLOW_CONFIG, AuthsvcProcess


@pytest.fixture(scope="module")
def authsvc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthsvcProcess]:
    process = AuthsvcProcess(Path(tmp_path_factory.mktemp("authsvc")), TUTORIAL_FLOW_CONFIG).start()
    yield process
    process.stop()


@pytest.fixture
async def http(authsvc: AuthsvcProcess) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(authsvc.url, cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session
