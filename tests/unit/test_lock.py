"""requirements-test.lock is in step with pyproject.toml's pins (``make lock`` rewrites it)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LOCK = REPO / "requirements-test.lock"


def canonical(name: str) -> str:
    """PEP 503 normalisation: ``Flask``, ``flask`` and ``flask_`` name one project."""
    return re.sub(r"[-_.]+", "-", name).lower()


def locked() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            spec = line.split()[0]
            name, _, version = spec.partition("==")
            pins[canonical(name)] = version
    return pins


def test_every_direct_pin_is_locked_at_its_version() -> None:
    groups = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    lock = locked()
    for requirement in groups["dependency-groups"]["test"]:
        name, _, version = requirement.partition("==")
        assert version, f"{requirement!r}: pin test dependencies exactly (==)"
        name = name.split("[")[0]
        assert lock.get(canonical(name)) == version, (
            f"{name}=={version} is not in {LOCK.name} at that version: run make lock"
        )


def test_every_locked_line_has_a_hash_and_the_file_says_its_interpreter() -> None:
    lines = LOCK.read_text(encoding="utf-8").splitlines()
    assert re.fullmatch(r"# interpreter: cp3\d+-\S+", lines[0]), lines[0]
    for line in lines[1:]:
        if line and not line.startswith("#"):
            assert re.search(r"==\S+ (--hash=sha256:[0-9a-f]{64} ?)+$", line), line
