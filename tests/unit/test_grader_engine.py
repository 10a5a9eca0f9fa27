"""The grader's check engine and its reports: dependencies, levels, time limits, formats."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from socketlab.grader import report
from socketlab.grader.checks import Failed, Level, NoAnswer, Result, Suite, must_passed


def make_suite(behaviour: dict[str, str]) -> Suite[None]:
    """a -> b -> c, and d (SHOULD) after a; each does what ``behaviour`` says."""
    suite: Suite[None] = Suite("demo", "docs/labs/demo.md")

    def body(name: str) -> Callable[[None], str]:
        def run(_: None) -> str:
            what = behaviour.get(name, "pass")
            if what == "fail":
                raise Failed(f"{name} saw the wrong thing", f"{name} expected this")
            if what == "hang":
                time.sleep(30)
            if what == "bug":
                raise KeyError("oops")
            if what == "reset":
                raise ConnectionResetError
            return f"{name} fine"

        return run

    suite.check("a", "A", rationale="r", expected="e")(body("a"))
    suite.check("b", "B", rationale="r", expected="e", requires=("a",), time_limit=0.5)(body("b"))
    suite.check("c", "C", rationale="r", expected="e", requires=("b",), points=3)(body("c"))
    suite.check("d", "D", rationale="r", expected="e", requires=("a",), level=Level.SHOULD)(
        body("d")
    )
    return suite


def by_id(results: list[Result]) -> dict[str, Result]:
    return {r.id: r for r in results}


def test_all_pass_scores_full_marks() -> None:
    results = make_suite({}).run(None)
    assert [r.status for r in results] == ["passed"] * 4
    assert [r.points for r in results] == [1, 1, 3, 1]
    assert must_passed(results)
    assert by_id(results)["c"].help == "docs/labs/demo.md#c"


def test_a_failed_prerequisite_skips_its_dependents_naming_it() -> None:
    results = by_id(make_suite({"a": "fail"}).run(None))
    assert results["a"].status == "failed"
    assert results["a"].expected == "a expected this"
    assert results["a"].actual == "a saw the wrong thing"
    for dependent in ("b", "d"):
        assert results[dependent].status == "skipped"
        assert "'a'" in results[dependent].actual
    # c depends on b, which was skipped: it names both, and a as the cause
    assert results["c"].status == "skipped"
    assert results["c"].actual == "skipped: it needs 'b', skipped because 'a' failed"
    assert sum(r.points for r in results.values()) == 0


def test_a_failing_should_is_a_warning_and_keeps_the_must_verdict() -> None:
    results = make_suite({"d": "fail"}).run(None)
    assert by_id(results)["d"].status == "warning"
    assert by_id(results)["d"].points == 0
    assert must_passed(results)


def test_a_hanging_check_fails_with_no_answer_within_its_limit() -> None:
    started = time.monotonic()
    results = by_id(make_suite({"b": "hang"}).run(None))
    assert time.monotonic() - started < 10
    assert results["b"].status == "failed"
    assert "no answer within 0.5 s" in results["b"].actual
    assert results["c"].status == "skipped"


def test_socket_errors_and_grader_bugs_are_failures_not_crashes() -> None:
    results = by_id(make_suite({"a": "reset"}).run(None))
    assert results["a"].actual == "socket error: connection reset by the peer"
    results = by_id(make_suite({"a": "bug"}).run(None))
    assert results["a"].status == "failed"
    assert "grader error" in results["a"].actual
    assert "KeyError" in results["a"].actual


def test_no_answer_says_how_long() -> None:
    assert "no answer within 5 s" in NoAnswer(5.0, "the echo").actual


def test_ids_are_unique_and_prerequisites_registered_first() -> None:
    suite: Suite[None] = Suite("x", "doc")
    suite.check("one", "t", rationale="r", expected="e")(lambda _: None)
    with pytest.raises(ValueError, match="twice"):
        suite.check("one", "t", rationale="r", expected="e")(lambda _: None)
    with pytest.raises(ValueError, match="not registered"):
        suite.check("two", "t", rationale="r", expected="e", requires=("three",))


def sample_report() -> dict[str, object]:
    results = make_suite({"b": "fail", "d": "fail"}).run(None)
    return report.build("demo", results, target="somewhere:1")


def test_report_json_has_the_contract_keys() -> None:
    graded = sample_report()
    assert graded["kind"] == "demo"
    assert (graded["score"], graded["max_score"]) == (1, 6)
    checks = graded["checks"]
    assert isinstance(checks, list)
    for check in checks:
        for key in report.CHECK_KEYS:
            assert key in check
        assert check["level"] in ("MUST", "SHOULD")
        assert check["status"] in ("passed", "failed", "warning", "skipped")
    assert [c["status"] for c in checks] == ["passed", "failed", "skipped", "warning"]
    assert json.loads(json.dumps(graded)) == graded


def test_junit_xml_parses_and_counts() -> None:
    root = ET.fromstring(report.junit(sample_report()))  # noqa: S314 - our own output
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("4", "1", "1")
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert set(cases) == {"a", "b", "c", "d"}
    failure = cases["b"].find("failure")
    assert failure is not None
    assert "expected: b expected this" in (failure.text or "")
    assert cases["c"].find("skipped") is not None
    assert "warning" in (cases["d"].findtext("system-out") or "")


def test_results_json_follows_gradescope() -> None:
    graded = report.gradescope(sample_report())
    assert graded["score"] == 1
    assert isinstance(graded["tests"], list)
    assert len(graded["tests"]) == 4
    for test in graded["tests"]:
        assert set(test) >= {"name", "score", "max_score", "status", "output"}
        assert test["status"] in ("passed", "failed")  # Gradescope knows only these two
        assert isinstance(test["score"], int)
        assert isinstance(test["max_score"], int)
    assert sum(t["score"] for t in graded["tests"]) == graded["score"]
    assert "read: docs/labs/demo.md#b" in graded["tests"][1]["output"]


def test_table_shows_expected_actual_and_where_to_read() -> None:
    text = report.table(sample_report())
    for line in ("FAIL  b", "SKIP  c", "WARN  d"):
        assert line in text
    assert "expected: b expected this" in text
    assert "actual:   b saw the wrong thing" in text
    assert "read:     docs/labs/demo.md#b" in text
    assert "score 1/6: some MUST checks failed" in text


def test_write_puts_the_three_formats_in_the_directory(tmp_path: Path) -> None:
    graded = sample_report()
    report.write(tmp_path / "out", graded)
    assert json.loads((tmp_path / "out" / "report.json").read_text()) == graded
    ET.parse(tmp_path / "out" / "junit.xml")  # noqa: S314 - our own output
    assert json.loads((tmp_path / "out" / "results.json").read_text())["score"] == 1
    assert report.results_of(graded)[1].status == "failed"
