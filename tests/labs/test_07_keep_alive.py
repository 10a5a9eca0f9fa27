"""Exercise 7 (docs/labs/07-keep-alive.md): one connection, many requests; TIME-WAIT."""

from __future__ import annotations

import json

import pytest
from conftest import LAB_PREFIX, RunningLab

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


def test_the_side_that_closed_first_keeps_time_wait(lab: RunningLab) -> None:
    result = lab.exec("browser", "curl", "-s", "-H", "Connection: close", URL, URL)
    ports = {doc["client_port"] for doc in documents(result.stdout)}
    on_server = time_wait_pairs(lab, "threaded-web")
    on_client = {(peer, local) for local, peer in time_wait_pairs(lab, "browser")}
    for port in ports:
        pair = (f"{LAB_PREFIX}.10:8080", f"{LAB_PREFIX}.40:{port}")
        assert pair in on_server | on_client, (pair, on_server, on_client)
