"""Exercise 3 (docs/labs/03-bind-listen-accept.md): scripts/bind_listen_accept.py, line by line."""

from __future__ import annotations

import pytest

from tests.support.running_lab import RunningLab

pytestmark = pytest.mark.labs


@pytest.fixture(scope="module")
def steps(lab: RunningLab) -> dict[str, list[str]]:
    """The script's output in the browser container, grouped by its ``[step]`` tags."""
    out = lab.script("browser", "bind_listen_accept.py")
    grouped: dict[str, list[str]] = {}
    for line in out.splitlines():
        tag, _, rest = line.partition("] ")
        grouped.setdefault(tag.lstrip("["), []).append(rest)
    return grouped


def ss_fields(line: str) -> list[list[str]]:
    """The `ss` rows at the end of a line: ``... ss NAME: a b c d | a b c d``."""
    rows = line.split(": ", 1)[1].split(" | ")
    return [row.split() for row in rows]


def test_bind_alone_accepts_nothing(steps: dict[str, list[str]]) -> None:
    bound, connect = steps["bind"]
    assert bound.endswith("ss listening: (nothing)"), bound
    assert connect.endswith(": refused"), connect


def test_listen_lets_the_kernel_queue_connections(steps: dict[str, list[str]]) -> None:
    listening, queued = steps["listen"]
    assert ss_fields(listening) == [["0", "8", "127.0.0.1:7100", "0.0.0.0:*"]], listening
    assert queued.startswith("3 clients connected before any accept()")
    assert ss_fields(queued.split("; ", 1)[1]) == [["3", "8", "127.0.0.1:7100", "0.0.0.0:*"]]


def test_accept_returns_a_new_socket_per_connection(steps: dict[str, list[str]]) -> None:
    new_socket, listening, established = steps["accept"]
    assert new_socket.startswith("new socket ('127.0.0.1', 7100) <-> ('127.0.0.1', ")
    assert ss_fields(listening) == [["2", "8", "127.0.0.1:7100", "0.0.0.0:*"]], listening
    rows = ss_fields(established)
    assert len(rows) == 3, established
    assert {row[2] for row in rows} == {"127.0.0.1:7100"}
    assert len({row[3] for row in rows}) == 3, "three peers, three client ports"


def test_a_port_in_use_cannot_be_bound_twice(steps: dict[str, list[str]]) -> None:
    assert steps["bind-again"] == ["another socket binds port 7100: EADDRINUSE"]


def test_reuseaddr_binds_despite_time_wait(steps: dict[str, list[str]]) -> None:
    time_wait, plain, reuse = steps["closed"]
    assert any(row[2] == "127.0.0.1:7100" for row in ss_fields(time_wait)), time_wait
    assert plain == "bind without SO_REUSEADDR: EADDRINUSE"
    assert reuse == "bind with SO_REUSEADDR: bound"
