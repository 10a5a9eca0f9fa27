"""Exercise 5 (docs/labs/05-http-messages.md): requests and responses are text."""

from __future__ import annotations

import json

import pytest

from tests.support.running_lab import RunningLab

pytestmark = pytest.mark.labs

TYPED = (
    "printf 'GET /whoami HTTP/1.1\\r\\nHost: threaded-web\\r\\nConnection: close\\r\\n\\r\\n'"
    " | nc threaded-web 8080"
)


def test_typed_request_gets_status_line_headers_and_body(lab: RunningLab) -> None:
    raw = lab.exec("browser", "sh", "-c", TYPED).stdout
    head, blank, body = raw.partition("\r\n\r\n")
    assert blank, raw
    lines = head.split("\r\n")
    assert lines[0] == "HTTP/1.1 200 OK"
    headers = dict(line.split(": ", 1) for line in lines[1:])
    assert headers["Content-Type"] == "application/json"
    assert int(headers["Content-Length"]) == len(body.encode())
    doc = json.loads(body)
    assert doc["headers"]["Host"] == "threaded-web"
    assert doc["headers"]["Connection"] == "close"


def test_curl_verbose_shows_both_messages(lab: RunningLab) -> None:
    verbose = lab.exec("browser", "curl", "-v", "http://threaded-web:8080/").stderr
    lines = [line.rstrip("\r") for line in verbose.splitlines()]
    assert "> GET / HTTP/1.1" in lines
    assert "> Host: threaded-web:8080" in lines
    assert "< HTTP/1.1 200 OK" in lines
    assert "< Content-Type: text/html; charset=utf-8" in lines


def test_status_codes_and_head(lab: RunningLab) -> None:
    missing = lab.exec("browser", "curl", "-si", "http://threaded-web:8080/no-such-page").stdout
    assert missing.startswith("HTTP/1.1 404 Not Found\r\n"), missing[:200]
    bad = lab.exec("browser", "sh", "-c", "printf 'HELLO\\r\\n\\r\\n' | nc threaded-web 8080")
    assert bad.stdout.startswith("HTTP/1.1 400 Bad Request\r\n"), bad.stdout[:200]
    head = lab.exec("browser", "curl", "-sI", "http://threaded-web:8080/").stdout
    get = lab.exec("browser", "curl", "-si", "http://threaded-web:8080/").stdout
    head_headers, _, head_body = head.partition("\r\n\r\n")
    get_headers, _, get_body = get.partition("\r\n\r\n")
    assert head_body == ""
    assert get_body

    def length(headers: str) -> str:
        return next(h for h in headers.split("\r\n") if h.startswith("Content-Length:"))

    assert length(head_headers) == length(get_headers) == f"Content-Length: {len(get_body)}"


def test_post_carries_a_form_body(lab: RunningLab) -> None:
    out = lab.exec(
        "browser",
        "curl",
        "-s",
        "-d",
        "username=ada&pass=secret",
        "http://multiprocess-web:8888/post",
    ).stdout
    doc = json.loads(out)
    assert doc["form"] == {"username": "ada", "pass": "secret"}
    assert doc["content_type"] == "application/x-www-form-urlencoded"
    assert doc["size"] == 24
