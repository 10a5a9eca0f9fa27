"""Run the exercises of docs/labs/ against the running lab (``make up``), as a learner would.

These tests are the promises of the exercise texts: each observation a text promises carries a
marker ``<!-- check: test_name -->`` naming the test here that asserts it (tests/unit/
test_labs_markers.py keeps the two in step). How they reach the lab is tests/support/running_lab.py.

Run them with ``make check-labs``; they never start or stop the lab themselves.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.running_lab import RunningLab, find_lab

HERE = Path(__file__).parent
# Seconds one labs test may take: several commands in the lab, each bounded by COMMAND_TIMEOUT.
LABS_TIMEOUT = 300


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give this folder's tests LABS_TIMEOUT unless a test names its own timeout."""
    for item in items:
        if item.path.is_relative_to(HERE) and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(LABS_TIMEOUT))


@pytest.fixture(scope="session")
def lab() -> RunningLab:
    """The running lab; fails (not skips) when a service is missing: run ``make up`` first."""
    return find_lab()
