"""Shared by the unit tests: a service's main() configures process-wide logging, so undo it."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from socketlab import ledger


@pytest.fixture(autouse=True)
def _ledger_as_it_was() -> Iterator[None]:
    """After each test, the ``ledger`` logger as a fresh process has it.

    A main() run in-process (the browser's CLI tests) points the root logger at that test's
    captured stdout and sets the ledger's own level to INFO; the ledger lines of later tests'
    servers would then be written to a closed stream ("--- Logging error ---"); with --json,
    they would go to stderr, not to the logger.
    """
    yield
    ledger._stderr = None  # the browser's --json main() writes the lines to stderr itself
    ledger.LOGGER.setLevel(logging.NOTSET)
    ledger.LOGGER.handlers[:] = []
    ledger.LOGGER.propagate = True
    ledger.LOGGER.disabled = False
