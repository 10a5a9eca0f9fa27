"""Exercise 7 (docs/labs/07-keep-alive.md): one connection, many requests; TIME-WAIT."""

from __future__ import annotations

import json

import pytest

from tests.support.running_lab import LAB_PREFIX, RunningLab
from tests.support.waiting import wait_until

pytestmark = pytest.mark.labs

URL = "http://threaded-web:8080/whoami"


def documents(out: str) -> list[dict[str, object]]:
    """The JSON documents curl printed one after another."""
    decoder, docs, at = json.JSONDecoder(), [], 0
    while at < len(out):
        if out[at].isspace():
            at += 1
            continue
        doc, at = decoder.raw_decode(out, at)
        docs.append(doc)
    return docs


def test_curl_reuses_one_connection_for_two_requests(lab: RunningLab) -> None:
    result = lab.exec("browser", "curl", "-sv", URL, URL)
    assert "Re-using existing connection" in result.stderr
    first, second = documents(result.stdout)
    assert first["client_port"] == second["client_port"]
    assert (first["request_index"], second["request_index"]) == (1, 2)


def test_connection_close_means_a_connection_per_request(lab: RunningLab) -> None:
    result = lab.exec("browser", "curl", "-s", "-H", "Connection: close", URL, URL)
    first, second = documents(result.stdout)
    assert first["client_port"] != second["client_port"]
    assert (first["request_index"], second["request_index"]) == (1, 1)


def time_wait_pairs(lab: RunningLab, service: str) -> set[tuple[str, str]]:
    listing = lab.exec(service, "ss", "-Htan", "state", "time-wait").stdout
    return {(row[-2], row[-1]) for row in map(str.split, listing.splitlines())}


# Runs in the browser container: one request to threaded-web, and a close in the order asked.
# "server": the request says Connection: close, so threaded-web closes as soon as its answer is
# out; the script reads to that EOF and closes its own end only half a second later.
# "client": a kept-alive request; the script reads the whole answer and closes at once, while
# threaded-web waits for a next request. Prints the client port it used.
CLOSE_IN_ORDER = """
import json, re, socket, sys, time
first = sys.argv[1]
sock = socket.create_connection(("threaded-web", 8080), timeout=10)
port = sock.getsockname()[1]
close = "Connection: close\\r\\n" if first == "server" else ""
sock.sendall(f"GET /whoami HTTP/1.1\\r\\nHost: threaded-web\\r\\n{close}\\r\\n".encode())
data = b""
if first == "server":
    while chunk := sock.recv(65536):
        data += chunk
    time.sleep(0.5)
else:
    while b"\\r\\n\\r\\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\\r\\n\\r\\n")
    length = int(re.search(rb"(?i)content-length: *(\\d+)", head).group(1))
    while len(body) < length:
        body += sock.recv(65536)
sock.close()
print(json.dumps({"port": port, "status": int(data.split()[1])}))
"""
SERVER = f"{LAB_PREFIX}.10:8080"
# Seconds for the second side's FIN to arrive and the first side to reach TIME-WAIT.
CLOSE_WAIT = 10.0


@pytest.mark.parametrize(
    ("first", "other"), [("threaded-web", "browser"), ("browser", "threaded-web")]
)
def test_the_side_that_closed_first_keeps_time_wait(
    lab: RunningLab, first: str, other: str
) -> None:
    """Whichever side closes first holds the connection in TIME-WAIT; the other side, which
    closed second, does not hold it at all."""
    mode = "server" if first == "threaded-web" else "client"
    done = json.loads(lab.exec("browser", "python3", "-c", CLOSE_IN_ORDER, mode).stdout)
    assert done["status"] == 200, done
    client = f"{LAB_PREFIX}.40:{done['port']}"
    # ss lists local address, then peer: each side sees the pair from its own end.
    pairs = {"threaded-web": (SERVER, client), "browser": (client, SERVER)}
    wait_until(
        lambda: pairs[first] in time_wait_pairs(lab, first),
        CLOSE_WAIT,
        lambda: f"{first} closed first but holds no TIME-WAIT for {pairs[first]}",
    )
    assert pairs[other] not in time_wait_pairs(lab, other), f"{other} closed second"
