"""coroutine-web across real containers: who is calling, and slow requests on one thread.

The server in its image on a fresh network, a client container beside it. /whoami from the
client must name the client container's address and port; two slow requests sent at once must
be answered by the one thread of the one process, both waiting at the same time (their
start and finish timestamps overlap), not one after the other.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from docker.models.containers import Container
from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network

from tests.support.containers import Lab

pytestmark = pytest.mark.integration

PORT = 8081
DELAY = 1.0

WHOAMI = """
import http.client, json, sys
conn = http.client.HTTPConnection(sys.argv[1], int(sys.argv[2]), timeout=10)
conn.connect()
local = conn.sock.getsockname()
conn.request("GET", "/whoami")
answer = json.loads(conn.getresponse().read())
conn.close()
print(json.dumps({"local": list(local), "answer": answer}))
"""

# Two /delay requests at once, each on its own connection; then /whoami's view of the thread.
TWO_DELAYS = """
import concurrent.futures, http.client, json, sys
host, port, delay = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def fetch(_):
    conn = http.client.HTTPConnection(host, port, timeout=30)
    conn.request("GET", "/delay/" + delay)
    response = conn.getresponse()
    body = json.loads(response.read())
    conn.request("GET", "/whoami")
    who = json.loads(conn.getresponse().read())
    conn.close()
    return {"status": response.status, "delay": body, "thread": who["thread"],
            "task": who["task"], "pid": who["pid"]}
with concurrent.futures.ThreadPoolExecutor(2) as pool:
    print(json.dumps(list(pool.map(fetch, range(2)))))
"""


@pytest.fixture(scope="module")
def co_web(lab: Lab, lab_network: Network) -> Iterator[DockerContainer]:
    """coroutine-web with its image's defaults (the lab's ASGI app)."""
    with lab.service("coroutine-web", lab_network, publish=(PORT,)) as container:
        yield container


@pytest.fixture(scope="module")
def client(lab: Lab, lab_network: Network) -> Iterator[Container]:
    with lab.client_container(lab_network, "client-co") as container:
        yield container


def test_whoami_names_the_client_container(
    lab: Lab, lab_network: Network, co_web: DockerContainer, client: Container
) -> None:
    with lab.logs_on_failure(co_web, client):
        seen = lab.python(client, WHOAMI, "coroutine-web", str(PORT))
        doc = seen["answer"]
        assert doc["client_ip"] == lab.ip(client, lab_network) == seen["local"][0]
        assert doc["client_port"] == seen["local"][1]
        assert doc["server_ip"] == lab.ip(co_web, lab_network)
        assert (doc["server_port"], doc["service"], doc["pid"]) == (PORT, "coroutine-web", 1)
        assert doc["thread"] == "MainThread"
        assert doc["task"].startswith("conn-")


def test_two_slow_requests_are_answered_by_one_thread_at_the_same_time(
    lab: Lab, co_web: DockerContainer, client: Container
) -> None:
    """Both /delay answers come from PID 1's one thread, on two tasks, and each started before
    the other finished: the waits overlapped (timestamps, not a timing bound)."""
    with lab.logs_on_failure(co_web, client):
        answers = lab.python(client, TWO_DELAYS, "coroutine-web", str(PORT), str(DELAY))
        assert [a["status"] for a in answers] == [200, 200]
        assert {a["pid"] for a in answers} == {1}
        assert {a["thread"] for a in answers} == {"MainThread"}
        assert len({a["task"] for a in answers}) == 2
        first, second = sorted((a["delay"] for a in answers), key=lambda d: d["started"])
        assert second["started"] < first["finished"], "the second waited for the first"
        threads = lab.exec(co_web.get_wrapped_container(), ["ls", "/proc/1/task"]).stdout
        assert len(threads.split()) == 1, f"threads of PID 1: {threads!r}"
