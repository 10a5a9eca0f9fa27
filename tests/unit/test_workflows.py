"""The GitHub workflows cannot run here, so they are linted: GitHub's workflow schema (vendored
by check-jsonschema, no download), the make targets and scripts they call, and the grade
summary they write, rendered from a sample grade folder."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = [
    REPO / ".github" / "workflows" / "test.yml",
    REPO / "docs" / "ci" / "grade-submission.yml",
]
SUMMARY = REPO / "scripts" / "grade-summary.py"
LINT_TIMEOUT = 120.0


def check_jsonschema(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
         *map(str, paths)],
        capture_output=True, text=True, timeout=LINT_TIMEOUT, check=False,
    )  # fmt: skip


def test_workflows_match_githubs_schema() -> None:
    result = check_jsonschema(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_does_fail_on_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    text = WORKFLOWS[0].read_text().replace("    steps:\n", "    step:\n", 1)
    assert text != WORKFLOWS[0].read_text()
    broken.write_text(text)
    result = check_jsonschema(broken)
    assert result.returncode == 1
    assert "'step' was unexpected" in result.stdout


def makefile_targets() -> set[str]:
    text = (REPO / "Makefile").read_text()
    return set(re.findall(r"^([a-zA-Z0-9][a-zA-Z0-9_-]*)\s*:(?!=)", text, re.MULTILINE))


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_every_make_target_and_script_a_workflow_calls_exists(workflow: Path) -> None:
    text = workflow.read_text()
    called = set(re.findall(r"\bmake ([a-z][a-z0-9-]*)", text))
    assert called, "the workflow calls no make target"
    missing = called - makefile_targets()
    assert not missing, f"{workflow.name} calls make targets the Makefile lacks: {missing}"
    for script in re.findall(r"\b(scripts/[\w.-]+)", text):
        assert (REPO / script).is_file(), script


def test_the_test_workflow_runs_make_test_on_a_registry_base() -> None:
    text = WORKFLOWS[0].read_text()
    assert "make test" in text
    assert "make base BASE_SOURCE=registry" in text
    assert 'SOCKETLAB_REGISTRY: "1"' in text


def test_the_course_workflow_grades_uploads_and_summarises() -> None:
    text = WORKFLOWS[1].read_text()
    assert 'make grade KIND="$KIND" SUBMISSION="$SUBMISSION"' in text
    assert 'grades/"$KIND"-*' in text
    assert "/junit.xml" in text
    assert "/report.json" in text
    assert "actions/upload-artifact@" in text
    assert '>> "$GITHUB_STEP_SUMMARY"' in text


# --- the job summary ------------------------------------------------------------------------------

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="0" failures="1" skipped="1" tests="4">
<testcase classname="grader.checks" name="test_listens_on_8080" time="0.1"/>
<testcase classname="grader.checks" name="test_answers_404" time="0.2">
  <failure message="expected 404, got 200 | see the hint">assert 200 == 404
  long traceback</failure>
</testcase>
<testcase classname="grader.checks" name="test_keep_alive" time="0.0">
  <skipped message="depends on test_answers_404"/>
</testcase>
<testcase classname="grader.checks" name="test_head" time="0.1"/>
</testsuite></testsuites>
"""


def summarise(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SUMMARY), str(folder)], capture_output=True,
                          text=True, timeout=LINT_TIMEOUT, check=False)  # fmt: skip


def test_grade_summary_is_a_markdown_table_of_the_checks(tmp_path: Path) -> None:
    folder = tmp_path / "grades" / "http-static-20261201T2100"
    folder.mkdir(parents=True)
    (folder / "junit.xml").write_text(JUNIT)
    (folder / "report.json").write_text('{"kind": "http-static", "score": 2, "checks": []}')
    result = summarise(folder)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "## Grade: http-static-20261201T2100"
    assert "2 of 4 checks passed, 1 failed, 1 skipped" in lines
    assert "kind: http-static; score: 2" in lines
    assert "| checks::test_listens_on_8080 | ✅ passed |  |" in lines
    assert (
        "| checks::test_answers_404 | ❌ failed | expected 404, got 200 \\| see the hint |" in lines
    )
    assert "| checks::test_keep_alive | ⏭ skipped | depends on test_answers_404 |" in lines


def test_grade_summary_without_junit_is_exit_2(tmp_path: Path) -> None:
    result = summarise(tmp_path)
    assert result.returncode == 2
    assert "junit.xml" in result.stderr
