"""Learner-style programs get exactly the verdicts their defects deserve, check by check.

The programs (tests/grader_submissions/, in the style of the lessons socketlab grows out of)
and the unfinished starters of docs/labs/starters/ are built and caged by the grader as a
learner's would be. A grader that passes a wrong program, or fails a right one, fails here.
"""

from __future__ import annotations

import pytest

from tests.support.containers import Images
from tests.support.grading import STARTERS, SUBMISSIONS, Graded, grade_all, only_failing

pytestmark = pytest.mark.integration

PROGRAMS = {
    "seed-web-recv-once": "http-static",
    "seed-web-one-at-a-time": "http-static",
    "seed-web-fixed-port": "http-static",
    "good-echo": "tcp-echo",
    "echo-one-at-a-time": "tcp-echo",
    "echo-recv-once": "tcp-echo",
    "chat-relay-to-all": "udp-chat",
    "good-browser": "http-client",
    "seed-browser": "http-client",
}
STARTER_KINDS = ("tcp-echo", "http-static", "udp-chat", "http-client")
HTTP_STATIC_AFTER_GET_ROOT = [
    "status-line",
    "framing",
    "content-type",
    "binary-file",
    "not-found",
    "split-head",
    "large-head",
    "concurrent",
    "bad-request",
    "traversal",
    "head",
    "keep-alive",
    "if-modified-since",
]


@pytest.fixture(scope="module")
def graded(images: Images) -> dict[str, Graded]:
    """Every grading of this module, done at once: name -> what the grader said."""
    checker = images.tag("grader")
    jobs = []
    for name, kind in PROGRAMS.items():
        startup = ["--startup", "4"] if name == "seed-web-fixed-port" else []
        jobs.append((name, ["--kind", kind, "--submission", str(SUBMISSIONS / name),
                            "--checker-image", checker, *startup]))  # fmt: skip
    for kind in STARTER_KINDS:
        jobs.append((f"starter {kind}", ["--kind", kind, "--submission", str(STARTERS / kind),
                                         "--checker-image", checker]))  # fmt: skip
    return grade_all(jobs)


def test_seed_web_server_fails_where_the_lessons_server_is_wrong(
    graded: dict[str, Graded],
) -> None:
    only_failing(
        graded["seed-web-recv-once"],
        content_type="failed",  # no Content-Type at all
        split_head="failed",  # one recv(1024) answered half a head
        large_head="failed",
        bad_request="failed",  # garbage got the 404 of its `except Exception`
        traversal="failed",  # open("static" + path) read the file above the root
        head="warning",
        keep_alive="warning",  # closes after every answer
        if_modified_since="warning",
    )
    report = graded["seed-web-recv-once"].report
    assert report is not None
    checks = {c["id"]: c for c in report["checks"]}
    assert "the file outside the root" in checks["traversal"]["actual"]
    assert checks["traversal"]["help"] == "docs/labs/14-write-your-own-web-server.md#traversal"


def test_one_client_at_a_time_fails_concurrent_only(graded: dict[str, Graded]) -> None:
    only_failing(
        graded["seed-web-one-at-a-time"],
        concurrent="failed",
        head="warning",
        keep_alive="warning",
        if_modified_since="warning",
    )


def test_a_fixed_port_fails_connect_and_skips_everything_else(graded: dict[str, Graded]) -> None:
    result = graded["seed-web-fixed-port"]
    only_failing(
        result,
        connect="failed",
        get_root="skipped",
        **{check.replace("-", "_"): "skipped" for check in HTTP_STATIC_AFTER_GET_ROOT},
    )
    assert result.report is not None
    for check in result.report["checks"][1:]:
        assert "'connect' failed" in check["actual"] or "'connect', which failed" in check["actual"]


def test_echo_servers(graded: dict[str, Graded]) -> None:
    only_failing(graded["good-echo"])
    only_failing(graded["echo-one-at-a-time"], many_clients="failed")
    only_failing(graded["echo-recv-once"], split_message="failed", large_message="failed")


def test_chat_that_relays_to_the_sender(graded: dict[str, Graded]) -> None:
    only_failing(
        graded["chat-relay-to-all"],
        relay="failed",  # the sender got its own MSG back
        seq="skipped",
        leave="skipped",
        bad_input="skipped",
        no_amplification="failed",  # "ERR 401 you must JOIN..." to a 3-byte WHO
        tell="skipped",
        idle_drop="skipped",
    )


def test_browsers(graded: dict[str, Graded]) -> None:
    only_failing(graded["good-browser"])
    only_failing(
        graded["seed-browser"],
        host_header="failed",  # Host:grader, without the port
        reads_content_length="failed",  # one recv got the head and 700 bytes
        reads_chunked="failed",
        fetches_image="skipped",
        fetches_favicon="failed",
        saves_page="failed",  # the head was saved with the body
        keep_alive="skipped",
    )


def test_unfinished_starters_fail_gracefully_with_hints(graded: dict[str, Graded]) -> None:
    only_failing(graded["starter tcp-echo"], echo="failed",
                 **dict.fromkeys(["split_message", "large_message", "many_clients", "client_close"],
                                 "skipped"))  # fmt: skip
    only_failing(
        graded["starter http-static"],
        get_root="failed",
        **{check.replace("-", "_"): "skipped" for check in HTTP_STATIC_AFTER_GET_ROOT},
    )
    chat = graded["starter udp-chat"].verdicts()
    assert chat["join"] == "failed"
    assert set(list(chat.values())[1:]) == {"skipped"}
    only_failing(
        graded["starter http-client"],
        host_header="failed",
        reads_content_length="failed",
        reads_chunked="failed",
        fetches_image="skipped",
        fetches_favicon="failed",
        saves_page="failed",
        keep_alive="skipped",
    )
    for kind in STARTER_KINDS:
        result = graded[f"starter {kind}"]
        assert "Traceback" not in result.output, result.explain()
        assert "read:     docs/labs/" in result.output, result.explain()
