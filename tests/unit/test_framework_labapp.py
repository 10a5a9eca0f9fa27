"""The lab's dynamic site (socketlab.labapp): seed pages, forms, instruments and their caps.

Most tests call the app directly through wsgiref's validator; the rest serve it with the
gateway in-process, which is how /whoami gets the connection details it reports.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from wsgiref.validate import validator

import pytest

from socketlab.labapp import app
from socketlab.labapp.instruments import MAX_BYTES, MAX_DELAY, MAX_STREAM
from tests.support import contracts
from tests.support.inprocess_servers import gateway_server
from tests.support.raw_http import request
from tests.support.wsgi_call import call

PAGES = ("index", "about", "contact", "single", "register", "login")
WHOAMI_KEYS = contracts.WHOAMI_KEYS | {"method", "target", "http_version", "service"}


@pytest.mark.parametrize("page", PAGES)
def test_each_seed_page_answers_at_its_py_url_and_clean_url(page: str) -> None:
    seed = call(app, path=f"/{page}.py")
    clean = call(app, path=f"/{page}")
    assert seed[0] == 200
    assert clean[0] == 200
    assert seed[1]["Content-Type"] == "text/html; charset=utf-8"
    assert b"<!doctype html>" in seed[2]
    assert b"</html>" in seed[2]
    assert f"worker pid {os.getpid()}".encode() in seed[2]


def test_home_is_the_index() -> None:
    assert b"Seed URL" in call(app, path="/")[2]


def test_register_shows_what_it_received_escaped() -> None:
    body = b"firstname=%3Cscript%3Ealert(1)%3C%2Fscript%3E&lastname=O%27Neil&email=a%40b&x=%3Cb%3E"
    status, _, page = call(app, "POST", "/register.py", body, "application/x-www-form-urlencoded")
    assert status == 200
    assert b"<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>" in page
    assert b"<td>O&#x27;Neil</td>" in page
    assert b"<td>a@b</td>" in page
    assert b"<script>" not in page
    assert b"<td>x</td><td>&lt;b&gt;</td>" in page  # other fields, escaped too
    assert f"body of {len(body)} bytes".encode() in page


def test_register_form_posts_to_itself() -> None:
    for path in ("/register", "/register.py"):
        page = call(app, path=path)[2]
        assert f'<form method="post" action="{path}">'.encode() in page


def test_login_never_echoes_the_password() -> None:
    status, _, page = call(
        app,
        "POST",
        "/login",
        b"user=%3Cada%3E&password=hunter2secret",
        "application/x-www-form-urlencoded",
    )
    assert status == 200
    assert b"&lt;ada&gt;" in page
    assert b"hunter2secret" not in page
    assert b"password of 13 characters" in page


def test_headers_get_and_post_echo() -> None:
    headers = json.loads(call(app, path="/headers")[2])["headers"]
    assert "Host" in headers
    got = json.loads(call(app, path="/get", query="a=1&a=2&b=%3C")[2])
    assert got["args"] == {"a": ["1", "2"], "b": "<"}
    form = json.loads(call(app, "POST", "/post", b"k=v", "application/x-www-form-urlencoded")[2])
    assert form["form"] == {"k": "v"}
    assert form["size"] == 3
    doc = json.loads(call(app, "POST", "/post", b'{"x": 1}', "application/json")[2])
    assert doc["json"] == {"x": 1}
    raw = json.loads(call(app, "POST", "/post", b"plain text", "text/plain")[2])
    assert raw["data"] == "plain text"
    assert call(app, path="/post")[0] == 405


@pytest.mark.parametrize("code", [200, 201, 204, 301, 304, 401, 404, 418, 500, 503, 599])
def test_status_answers_with_the_code(code: int) -> None:
    status, headers, body = call(app, path=f"/status/{code}")
    assert status == code
    if code in (204, 304):
        assert body == b""
    if code in (301,):
        assert headers["Location"] == "/get"
    if code == 401:
        assert "WWW-Authenticate" in headers


@pytest.mark.parametrize("code", [100, 199, 600, 999])
def test_status_outside_200_599_is_refused(code: int) -> None:
    assert call(app, path=f"/status/{code}")[0] == 400


def test_delay_waits_and_is_capped() -> None:
    started = time.monotonic()
    status, _, body = call(app, path="/delay/0.2")
    assert status == 200
    assert json.loads(body)["delay"] == 0.2
    assert time.monotonic() - started >= 0.2
    status, _, body = call(app, path=f"/delay/{MAX_DELAY + 1:g}")
    assert status == 400
    assert b"limited to 10 seconds" in body


def test_bytes_are_random_repeatable_with_a_seed_and_capped() -> None:
    status, headers, body = call(app, path="/bytes/1000")
    assert status == 200
    assert len(body) == 1000
    assert headers["Content-Type"] == "application/octet-stream"
    one = call(app, path="/bytes/64", query="seed=7")[2]
    two = call(app, path="/bytes/64", query="seed=7")[2]
    assert one == two
    assert hashlib.sha256(one).hexdigest() == hashlib.sha256(two).hexdigest()
    assert call(app, path=f"/bytes/{MAX_BYTES + 1}")[0] == 400
    assert call(app, path="/bytes/10", query="seed=x")[0] == 400


def test_stream_sends_each_line_as_a_chunk() -> None:
    with gateway_server(app) as srv:
        answer = request(srv.port, b"GET /stream/5 HTTP/1.1\r\nHost: t\r\n\r\n")[0]
    assert answer.header("Transfer-Encoding") == "chunked"
    lines = [json.loads(line) for line in answer.body.splitlines()]
    assert [line["id"] for line in lines] == [0, 1, 2, 3, 4]
    assert call(app, path=f"/stream/{MAX_STREAM + 1}")[0] == 400


def test_whoami_has_threaded_webs_keys_and_the_worker() -> None:
    with gateway_server(app, extra_environ={"socketlab.mode": "prefork"}) as srv:
        first, second = request(
            srv.port, b"GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n" * 2, ["GET", "GET"]
        )
    doc = first.json()
    assert set(doc) >= WHOAMI_KEYS
    assert doc["service"] == "multiprocess-web"
    assert doc["client_ip"] == "127.0.0.1"
    assert doc["server_port"] == srv.port
    assert doc["worker_pid"] == os.getpid()
    assert doc["mode"] == "prefork"
    assert second.json()["request_index"] == 2
    assert first.header("Cache-Control") == "no-store"


def test_whoami_under_another_wsgi_server_uses_environ() -> None:
    doc = json.loads(call(app, path="/whoami")[2])
    assert set(doc) >= WHOAMI_KEYS
    assert doc["request_index"] is None


@pytest.mark.parametrize(
    "path",
    [
        "/",
        *(f"/{p}.py" for p in PAGES),
        "/whoami",
        "/headers",
        "/get?x=1",
        "/status/404",
        "/delay/0",
        "/bytes/16",
        "/stream/3",
        "/nothing.py",
    ],
)
def test_the_whole_site_passes_wsgiref_validate_under_the_gateway(path: str) -> None:
    with gateway_server(validator(app)) as srv:
        answer = request(srv.port, f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())[0]
    assert answer.status in (200, 404)
    assert (answer.status == 404) == (path in ("/status/404", "/nothing.py"))
