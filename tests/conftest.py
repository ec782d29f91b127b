from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from dependency_injector import providers
from hypothesis import settings as hypothesis_settings

from authsvc.config import Settings, deep_merge, load_settings
from authsvc.containers import Container
from authsvc.logs import access_log
from authsvc.web.app import create_app
from authsvc.web.container import create_container
from tests.helpers import FAST_CONFIG, LOG_NOW, TEST_KEY, ManualClock, Stream

pytest_plugins = ["tests.mongodb", "tests.tutorial_app", "tests.smtp"]

# The properties are about answers, not speed: on two shared cores an example can take longer than hypothesis's
# 200 ms default deadline, which then fails a correct test (seen once under load).
hypothesis_settings.register_profile("authsvc", deadline=None)
hypothesis_settings.load_profile("authsvc")


def make_settings(**sections: Any) -> Settings:
    overrides = deep_merge(deep_merge(FAST_CONFIG, {"session": {"keys": [TEST_KEY]}}), sections)
    return load_settings(environ={}, overrides=overrides)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def make_container(clock: ManualClock) -> Callable[..., Container]:
    def make(**sections: Any) -> Container:
        container = create_container(make_settings(**sections))
        container.clock.override(providers.Object(clock))
        return container

    return make


@pytest.fixture
def container(make_container: Callable[..., Container]) -> Container:
    return make_container()


@pytest.fixture
async def client(aiohttp_client: Any, container: Container) -> AsyncIterator[TestClient[Any, Any]]:
    yield await aiohttp_client(create_app(container))


@pytest.fixture
def stderr(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stream]:
    """Where `configure(level, format, stderr)` sends log lines, at time.time() == LOG_NOW; logging restored after."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    stream = Stream()
    monkeypatch.setattr(time, "time", lambda: LOG_NOW)
    try:
        yield stream
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        access_log.bind(None)
