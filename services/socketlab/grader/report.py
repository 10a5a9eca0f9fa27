"""The grade in four forms: report.json, junit.xml, Gradescope's results.json, a terminal table.

report.json is the source; the other three are derived from it, so they cannot disagree.
"""

from __future__ import annotations

import json
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Final

from .checks import Result, Status, must_passed, score

CHECK_KEYS: Final = (
    "id",
    "title",
    "level",
    "status",
    "points",
    "rationale",
    "expected",
    "actual",
    "help",
)
MARK: Final = {"passed": "PASS", "failed": "FAIL", "warning": "WARN", "skipped": "SKIP"}


def build(kind: str, results: list[Result], **about: Any) -> dict[str, Any]:
    """report.json: kind, score, max_score and checks (each with the contract's keys)."""
    got, most = score(results)
    checks = []
    for r in results:
        entry = {key: getattr(r, key) for key in CHECK_KEYS}
        entry["max_points"] = r.max_points
        entry["seconds"] = r.seconds
        if r.cause:
            entry["cause"] = r.cause
        checks.append(entry)
    return {
        "kind": kind,
        "score": got,
        "max_score": most,
        "passed": must_passed(results),
        **about,
        "checks": checks,
    }


def results_of(report: dict[str, Any]) -> list[Result]:
    return [Result.from_dict(c) for c in report["checks"]]


def gradescope(report: dict[str, Any]) -> dict[str, Any]:
    """Gradescope's autograder results.json: a test per check, the same points."""
    tests = []
    for number, c in enumerate(report["checks"], 1):
        lines = [f"{c['level']} {c['status']}: {c['actual']}"]
        if c["status"] != Status.PASSED:
            lines += [f"expected: {c['expected']}", f"why: {c['rationale']}", f"read: {c['help']}"]
        tests.append(
            {
                "name": f"{c['id']}: {c['title']}",
                "number": str(number),
                "score": c["points"],
                "max_score": c["max_points"],
                "status": "passed" if c["status"] == Status.PASSED else "failed",
                "output": "\n".join(lines),
                "tags": [report["kind"], c["level"]],
                "visibility": "visible",
            }
        )
    return {
        "score": report["score"],
        "output": f"{report['kind']}: {report['score']}/{report['max_score']}",
        "visibility": "visible",
        "stdout_visibility": "visible",
        "tests": tests,
    }


def junit(report: dict[str, Any]) -> str:
    """JUnit XML as CI systems read it: a testcase per check; a warning is a pass with output."""
    checks = report["checks"]
    suite = ET.Element(
        "testsuite",
        name=f"socketlab.grader.{report['kind']}",
        tests=str(len(checks)),
        failures=str(sum(c["status"] == Status.FAILED for c in checks)),
        skipped=str(sum(c["status"] == Status.SKIPPED for c in checks)),
        errors="0",
        time=f"{sum(c['seconds'] for c in checks):.3f}",
    )
    for c in checks:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"grader.{report['kind']}",
            name=c["id"],
            time=f"{c['seconds']:.3f}",
        )
        detail = f"expected: {c['expected']}\nactual: {c['actual']}\nread: {c['help']}"
        if c["status"] == Status.FAILED:
            ET.SubElement(case, "failure", message=c["actual"][:200]).text = detail
        elif c["status"] == Status.SKIPPED:
            ET.SubElement(case, "skipped", message=c["actual"][:200])
        elif c["status"] == Status.WARNING:
            ET.SubElement(case, "system-out").text = f"warning (SHOULD): {detail}"
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def table(report: dict[str, Any], width: int = 100) -> str:
    """The terminal report: one line per check, then what to fix, first failure first."""
    checks = report["checks"]
    idw = max(len(c["id"]) for c in checks)
    out = [f"grade {report['kind']}" + (f" {report['target']}" if report.get("target") else "")]
    out.append(f"  {'':4}  {'check':<{idw}}  {'level':<6} {'points':>6}  title")
    for c in checks:
        pts = f"{c['points']}/{c['max_points']}"
        out.append(
            f"  {MARK[c['status']]}  {c['id']:<{idw}}  {c['level']:<6} {pts:>6}  {c['title']}"
        )
    failing = [c for c in checks if c["status"] in (Status.FAILED, Status.WARNING)]
    skipped = [c for c in checks if c["status"] == Status.SKIPPED]
    verdict = "every MUST check passed" if report["passed"] else "some MUST checks failed"
    out.append(f"score {report['score']}/{report['max_score']}: {verdict}")
    for c in failing:
        out.append("")
        out.append(f"{MARK[c['status']]} {c['id']} ({c['level']}): {c['title']}")
        for label, text in (
            ("expected", c["expected"]),
            ("actual", c["actual"]),
            ("why", c["rationale"]),
        ):
            out += textwrap.wrap(
                text,
                width,
                initial_indent=f"  {label + ':':<9} ",
                subsequent_indent=" " * 12,
                break_on_hyphens=False,
            )
        out.append(f"  {'read:':<9} {c['help']}")
    causes: dict[str, list[str]] = {}
    for c in skipped:
        causes.setdefault(c.get("cause") or "", []).append(c["id"])
    for cause, ids in causes.items():
        why = f"because {cause!r} did not pass" if cause else "not run"
        out.append("")
        out += textwrap.wrap(
            f"SKIP {len(ids)} check{'s' * (len(ids) > 1)} {why}: {', '.join(ids)}",
            width,
            subsequent_indent="     ",
            break_on_hyphens=False,
        )
    return "\n".join(out)


def write(out: Path, report: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "junit.xml").write_text(junit(report))
    (out / "results.json").write_text(json.dumps(gradescope(report), indent=2) + "\n")
    (out / "report.txt").write_text(table(report) + "\n")
