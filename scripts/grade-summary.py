#!/usr/bin/env python3
"""Print a grade folder as Markdown: a line with the totals, then one table row per check.

    scripts/grade-summary.py grades/<kind>-<time>/  >> "$GITHUB_STEP_SUMMARY"

The folder is what ``make grade KIND=... SUBMISSION=...`` writes: ``junit.xml`` (JUnit XML as
pytest writes it: one ``testcase`` per check, with a ``failure``, ``error`` or ``skipped``
child when it did not pass) and ``report.json``. The table is made from junit.xml, whose format
is fixed; from report.json only its top-level numbers and strings are shown (the score, the
kind), so the summary keeps working while the report grows fields. Standard library only: it
runs on a bare CI runner. Exit status 2 when the folder has no readable junit.xml.
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

MESSAGE_CHARS = 200  # a table cell, not a log: the full text is in the uploaded junit.xml
SYMBOLS = {
    "passed": "✅ passed",
    "failed": "❌ failed",
    "error": "❌ error",
    "skipped": "⏭ skipped",
}


def cell(text: str) -> str:
    """Text made safe for one Markdown table cell (one line, no column breaks)."""
    flat = " ".join(text.split())
    if len(flat) > MESSAGE_CHARS:
        flat = flat[: MESSAGE_CHARS - 1] + "…"
    return flat.replace("|", "\\|")


def rows(junit: Path) -> list[tuple[str, str, str]]:
    """(check, outcome, message) for every testcase in the file."""
    root = ET.parse(junit).getroot()  # noqa: S314 -- our own grader's file, not untrusted input
    out = []
    for case in root.iter("testcase"):
        name = case.get("name", "?")
        classname = case.get("classname", "")
        check = f"{classname.rsplit('.', 1)[-1]}::{name}" if classname else name
        outcome, message = "passed", ""
        for kind in ("failure", "error", "skipped"):
            child = case.find(kind)
            if child is not None:
                outcome = "failed" if kind == "failure" else kind
                message = child.get("message") or (child.text or "")
                break
        out.append((check, outcome, message))
    return out


def render(folder: Path) -> str:
    junit = folder / "junit.xml"
    table = rows(junit)
    counts = {kind: sum(1 for _, o, _ in table if o == kind) for kind in SYMBOLS}
    lines = [f"## Grade: {folder.name}", ""]
    lines.append(
        f"{counts['passed']} of {len(table)} checks passed"
        + "".join(f", {n} {kind}" for kind, n in counts.items() if n and kind != "passed")
    )
    report = folder / "report.json"
    if report.exists():
        try:
            doc = json.loads(report.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            lines.append(f"(report.json unreadable: {exc})")
        else:
            if isinstance(doc, dict):
                shown = (int, float, str)
                facts = [f"{k}: {v}" for k, v in doc.items() if type(v) in shown]
                if facts:
                    lines.append("")
                    lines.append(cell("; ".join(facts)))
    lines += ["", "| check | result | why |", "| --- | --- | --- |"]
    lines += [f"| {cell(c)} | {SYMBOLS[o]} | {cell(m)} |" for c, o, m in table]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: grade-summary.py GRADE_FOLDER", file=sys.stderr)
        return 2
    folder = Path(argv[1])
    try:
        sys.stdout.write(render(folder))
    except (OSError, ET.ParseError) as exc:
        print(f"grade-summary: {folder / 'junit.xml'}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
