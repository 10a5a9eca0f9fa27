"""Fixtures for the tests that run the lab's images in Docker (helpers: support/containers.py).

What these fixtures guarantee, in order:

* Docker is reachable, and what a killed earlier run left behind is removed before the run;
  anything of this run's left is removed after it (see :mod:`tests.support.containers`).
* The images exist: ``socketlab/base`` must be there (``make base``; the tests never build it),
  and each service image is (re)built from ``services/`` on first use, with the network off,
  exactly as ``make images`` does. The layer cache makes that a quick no-op after ``make images``.
  ``SOCKETLAB_SKIP_IMAGE_BUILD=1`` uses the existing images as they are.
* Each test module gets a fresh user-defined bridge network, so Docker's embedded DNS resolves
  service aliases, and Docker picks its subnet, so runs side by side do not collide.
* A module that names its server in ``SERVICE`` and ``PORT`` gets it as ``web`` (healthy, the
  port published on 127.0.0.1), a ``client`` container beside it, and ``http``, a requests
  session for the published port.
"""

from __future__ import annotations

# First, on its own: importing it sets testcontainers' environment, which testcontainers
# reads when it is imported.
from tests.support.containers import (
    BASE_IMAGE,
    PRUNE_FILTERS,
    RUN_ID,
    Images,
    Lab,
    fresh_network,
    remove_labelled,
    run_alive,
)

# isort: split

import contextlib
from collections.abc import Iterator
from pathlib import Path

import docker.errors
import pytest
import requests
from docker.models.containers import Container
from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network

import docker
from docker import DockerClient

# Seconds one integration test may take, its fixtures' setup included: the first use of an
# image builds it (a minute or two on a loaded machine), then containers start and get healthy.
INTEGRATION_TIMEOUT = 600
HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give this folder's tests INTEGRATION_TIMEOUT unless a test names its own timeout."""
    for item in items:
        if item.path.is_relative_to(HERE) and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(INTEGRATION_TIMEOUT))


@pytest.fixture(scope="session")
def docker_client() -> Iterator[DockerClient]:
    """A docker-py client. It negotiates the API version with the engine (1.41 on 20.10)."""
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        pytest.fail(f"Docker is not reachable ({exc}); the integration tests need it", False)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="session", autouse=True)
def _sweep_and_finalize(docker_client: DockerClient) -> Iterator[None]:
    """Before the run: remove what killed runs left. After it: remove anything of ours left."""
    left = remove_labelled(docker_client, run_alive)
    if left:
        print(f"\nremoved leftovers of an earlier, killed test run: {', '.join(left)}")
    yield
    remove_labelled(docker_client, lambda run_id: run_id != RUN_ID)
    with contextlib.suppress(docker.errors.APIError):
        docker_client.images.prune(filters=PRUNE_FILTERS)


@pytest.fixture(scope="session")
def images(docker_client: DockerClient) -> Images:
    """Service images for this session; fails at once, clearly, when the base image is missing."""
    try:
        docker_client.images.get(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        pytest.fail(
            f"the base image {BASE_IMAGE} is missing: run `make base` (it is built from Debian "
            "packages, no registry needed), or `make images` for everything",
            False,
        )
    return Images(docker_client)


@pytest.fixture(scope="session")
def lab(docker_client: DockerClient, images: Images) -> Lab:
    """The :class:`Lab` helper: start services and client containers, read addresses and ports."""
    return Lab(docker_client, images)


@pytest.fixture(scope="module")
def lab_network() -> Iterator[Network]:
    """A fresh user-defined bridge network for one test module (Docker picks the subnet).

    Module-scoped containers that use it are torn down first (pytest finalizes dependents
    before their dependencies), so removing it never meets active endpoints.
    """
    with fresh_network() as network:
        yield network


# --- the server under test, a client beside it, and a session for its published port ---------


@pytest.fixture(scope="module")
def web(
    request: pytest.FixtureRequest, lab: Lab, lab_network: Network
) -> Iterator[DockerContainer]:
    """The module's ``SERVICE`` on its network under that name, healthy, ``PORT`` published.

    Modules whose server needs another command or no published port define their own ``web``.
    """
    service: str = request.module.SERVICE
    port: int = request.module.PORT
    with lab.service(service, lab_network, service, publish=(port,)) as container:
        yield container


@pytest.fixture(scope="module")
def client(lab: Lab, lab_network: Network, web: DockerContainer) -> Iterator[Container]:
    """A second container on the same network as ``web``, to make requests from."""
    with lab.client_container(lab_network) as container:
        yield container


@pytest.fixture
def http() -> Iterator[requests.Session]:
    """A requests session that ignores proxy settings from the environment (loopback only)."""
    with requests.Session() as session:
        session.trust_env = False
        yield session
