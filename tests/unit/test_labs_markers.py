"""The exercises and their tests stay in step (no Docker needed).

Every observation an exercise in docs/labs/ promises carries a marker
``<!-- check: test_name -->``; each marker must name a test in tests/labs/, and each test there
must be named by a marker, exactly once. So a promise cannot lose its test, and a test cannot
outlive its promise. The scripts the texts feed to ``python3 -`` must exist too.
"""

from __future__ import annotations

import ast
import re
from collections import Counter

from tests.support.paths import REPO

REPO_ROOT = REPO
LABS_DOCS = REPO_ROOT / "docs" / "labs"
LABS_TESTS = REPO_ROOT / "tests" / "labs"
MARKER = re.compile(r"<!--\s*check:\s*(\S+?)\s*-->")
SCRIPT = re.compile(r"python3 - < (docs/labs/scripts/\S+\.py)")


def markers() -> Counter[str]:
    found: Counter[str] = Counter()
    for page in sorted(LABS_DOCS.glob("[0-9][0-9]-*.md")):  # the exercises; README.md only explains
        found.update(MARKER.findall(page.read_text()))
    return found


def lab_tests() -> Counter[str]:
    found: Counter[str] = Counter()
    for module in sorted(LABS_TESTS.glob("test_*.py")):
        tree = ast.parse(module.read_text(), filename=str(module))
        found.update(
            node.name
            for node in tree.body
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
        )
    return found


def test_there_are_exercises_and_tests() -> None:
    assert len(list(LABS_DOCS.glob("[0-9][0-9]-*.md"))) >= 8
    assert markers()
    assert lab_tests()


def test_every_marker_names_a_labs_test() -> None:
    missing = sorted(set(markers()) - set(lab_tests()))
    assert not missing, f"markers in docs/labs/ naming no test in tests/labs/: {missing}"


def test_every_labs_test_has_a_marker() -> None:
    unmarked = sorted(set(lab_tests()) - set(markers()))
    assert not unmarked, f"tests in tests/labs/ that no exercise promises: {unmarked}"


def test_markers_and_test_names_are_unique() -> None:
    assert [name for name, n in markers().items() if n > 1] == []
    assert [name for name, n in lab_tests().items() if n > 1] == []


def test_scripts_named_by_the_exercises_exist() -> None:
    named = {m for page in LABS_DOCS.glob("*.md") for m in SCRIPT.findall(page.read_text())}
    assert named, "the exercises feed scripts to python3 -"
    assert sorted(p for p in named if not (REPO_ROOT / p).is_file()) == []
