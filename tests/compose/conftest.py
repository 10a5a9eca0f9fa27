"""Fixtures of the compose tests: the session's images, and labs that are always taken down."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.compose_lab import BUILD_TIMEOUT, IMAGE_PREFIX, PLUGIN, Lab, run

HERE = Path(__file__).parent
# Seconds one compose test may take (pytest-timeout; the project's default is 120): building
# the images (BUILD_TIMEOUT, the first test only), then up to two labs started, checked and
# taken down, each step bounded by the timeouts in tests/support/compose_lab.py.
COMPOSE_TIMEOUT = 900


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give this folder's tests COMPOSE_TIMEOUT unless a test names its own timeout."""
    for item in items:
        if item.path.is_relative_to(HERE) and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(COMPOSE_TIMEOUT))


@pytest.fixture(scope="session")
def images() -> None:
    """<IMAGE_PREFIX>/<service>:latest built from this tree (a layer-cached rebuild is quick)."""
    if shutil.which("docker") is None:
        pytest.fail("docker is not installed: the compose tests need the engine")
    if not PLUGIN.exists():
        pytest.fail(f"{PLUGIN} is missing: run `make compose-v2` (make test-compose does)")
    run(["make", "--no-print-directory", f"IMAGE_PREFIX={IMAGE_PREFIX}", "images"],
        timeout=BUILD_TIMEOUT)  # fmt: skip


@pytest.fixture
def labs() -> Iterator[list[Lab]]:
    """Labs a test starts; each is taken down afterwards (a failed test leaves nothing)."""
    started: list[Lab] = []
    yield started
    problems = []
    for lab in started:
        try:
            lab.down()
        except AssertionError as exc:
            problems.append(str(exc))
    assert not problems, problems
