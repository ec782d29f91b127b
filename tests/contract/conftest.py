"""Every contract test runs once per backend: memory, mongodb+pymongo, mongodb+motor.

`make_container` (and so `container`) is overridden here: the containers it builds stand on the test's backend, and
what they opened (the MongoDB client) is closed after the test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from dependency_injector import providers

from authsvc.containers import Container, running, shutdown
from authsvc.storage.ports import Storage
from authsvc.web.container import create_container
from tests.conftest import make_settings
from tests.helpers import ManualClock
from tests.mongodb import mongo_sections

BACKENDS = [
    pytest.param("memory", id="memory"),
    pytest.param("mongodb+pymongo", id="mongodb+pymongo", marks=pytest.mark.mongodb),
    pytest.param("mongodb+motor", id="mongodb+motor", marks=pytest.mark.mongodb),
]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The config sections that select this test's backend (a database of its own for MongoDB)."""
    name: str = request.param
    if name == "memory":
        return {"storage": {"backend": "memory"}}
    driver = name.removeprefix("mongodb+")
    return mongo_sections(request.getfixturevalue("mongodb_url"), request.getfixturevalue("mongodb_database"), driver)


@pytest.fixture
async def make_container(clock: ManualClock, backend: dict[str, Any]) -> AsyncIterator[Callable[..., Container]]:
    made: list[Container] = []

    def make(**sections: Any) -> Container:
        for name, values in backend.items():
            sections[name] = {**values, **sections.get(name, {})}
        container = create_container(make_settings(**sections))
        container.clock.override(providers.Object(clock))
        made.append(container)
        return container

    yield make
    for container in made:
        await shutdown(container)


@pytest.fixture
async def storage(container: Container) -> AsyncIterator[Storage]:
    """The container's storage, opened as the app opens it, closed afterwards."""
    async with running(container) as opened:
        yield opened
