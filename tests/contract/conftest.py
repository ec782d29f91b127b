"""Every contract test runs on memory and on mongodb+pymongo; a driver-contract subset runs on mongodb+motor too.

Motor stays selectable (`mongodb.driver: motor`) until its support ends (2027-05-14), but the two drivers share one
code path (authsvc/storage/mongo/client.py): only the client's class, its `close` and how each driver runs an
operation (Motor in a thread, PyMongo on the loop) differ. So Motor runs what reaches the driver directly: the storage
ports' contracts (each collection method the adapters call, its answer's shape, its errors and cursors), the outbox
queue, the MongoDB-only behaviour (indexes, documents, error mapping, deadlines as driver timeouts, an unreachable
server) and the replica cache and revocations log (background polls, cancelled on close). Services, HTTP flows and
mail flows reach the driver only through those ports, so they run on PyMongo alone. A module opts in with
`pytestmark = pytest.mark.driver_contract`, a test with `@pytest.mark.driver_contract`.

The backend comes in one of two ways, parametrized here by the marker: `backend` (memory and MongoDB, the config
sections a test's containers stand on) or, in a MongoDB-only module, `mongodb_driver` (the driver's name).
`make_container` (and so `container`) is overridden here: the containers it builds stand on the test's backend, and
what they opened (the MongoDB client) is closed after the test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import pytest
from dependency_injector import providers

from authsvc.containers import Container, running, shutdown
from authsvc.storage.ports import Storage
from authsvc.web.container import create_container
from tests.conftest import make_settings
from tests.helpers import ManualClock
from tests.mongodb import drivers_for, mongo_sections


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    own = {name for mark in metafunc.definition.iter_markers("parametrize") for name in _argnames(mark.args[0])}
    mongodb = [
        pytest.param(f"mongodb+{driver}", id=f"mongodb+{driver}", marks=pytest.mark.mongodb)
        for driver in drivers_for(metafunc)
    ]
    if "mongodb_driver" in metafunc.fixturenames:  # a MongoDB-only module: its own `backend` uses this
        metafunc.parametrize("mongodb_driver", mongodb, indirect=True)
    elif "backend" in metafunc.fixturenames and "backend" not in own:  # a test's own list of backends wins
        metafunc.parametrize("backend", [pytest.param("memory", id="memory"), *mongodb], indirect=True)


def _argnames(names: str | Sequence[str]) -> list[str]:
    return [name.strip() for name in names.split(",")] if isinstance(names, str) else list(names)


@pytest.fixture
def mongodb_driver(request: pytest.FixtureRequest) -> str:
    """The MongoDB driver this test runs on: pymongo, or motor for the driver-contract subset."""
    name: str = request.param
    return name.removeprefix("mongodb+")


@pytest.fixture
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
