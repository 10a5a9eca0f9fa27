"""A real third-party framework (Flask, pinned in the test dependencies) on our WSGI gateway.

Flask (through Werkzeug) exercises the parts of PEP 3333 a hand-written app rarely touches:
``wsgi.input_terminated`` for chunked uploads, streamed responses, its own error handling and
``wsgi.errors``. The last test loads the Flask app into multiprocess-web by ``module:callable``
from an app search path, exactly as an operator would.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask, Response, request, stream_with_context

from tests.support.inprocess_servers import gateway_server
from tests.support.multiprocess import server_process
from tests.support.raw_http import request as raw_request

FLASK_APP = textwrap.dedent('''
    """A small Flask application, as a learner might write one."""
    import os

    from flask import Flask, jsonify, request

    app = Flask(__name__)


    @app.get("/hello/<name>")
    def hello(name):
        return jsonify(hello=name, pid=os.getpid(), args=request.args.to_dict(flat=False))


    @app.post("/upload")
    def upload():
        data = request.get_data()
        return jsonify(size=len(data), first=data[:10].decode("latin-1"),
                       form=request.form.to_dict())


    @app.get("/crash")
    def crash():
        raise RuntimeError("flask view failed")
''')


def make_app() -> Flask:
    app = Flask("flask_on_socketlab")

    @app.get("/hello/<name>")
    def hello(name: str) -> dict[str, object]:
        return {"hello": name, "args": request.args.to_dict(flat=False)}

    @app.post("/upload")
    def upload() -> dict[str, object]:
        data = request.get_data()
        return {"size": len(data), "form": request.form.to_dict(), "text": data.decode()}

    @app.get("/stream")
    def stream() -> Response:
        def lines() -> Iterator[str]:
            for index in range(3):
                yield f"line {index} of {request.path}\n"

        return Response(stream_with_context(lines()), mimetype="text/plain")

    @app.get("/crash")
    def crash() -> str:
        raise RuntimeError("flask view failed")

    return app


@pytest.fixture(scope="module")
def flask_port() -> Iterator[int]:
    """Flask served by the gateway in this process, for the whole module."""
    with gateway_server(make_app()) as srv:
        yield srv.port


def test_flask_routes_and_query_strings(flask_port: int) -> None:
    answer = raw_request(
        flask_port, b"GET /hello/w%C3%B6rld?x=1&x=2 HTTP/1.1\r\nHost: lab\r\n\r\n"
    )[0]
    assert answer.status == 200
    assert answer.json() == {"hello": "wörld", "args": {"x": ["1", "2"]}}


def test_flask_reads_form_and_chunked_bodies(flask_port: int) -> None:
    form = raw_request(
        flask_port,
        b"POST /upload HTTP/1.1\r\nHost: lab\r\nContent-Length: 13\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n\r\na=1&b=%3Cc%3E",
        ["POST"],
    )[0]
    assert form.json()["form"] == {"a": "1", "b": "<c>"}
    chunked = raw_request(
        flask_port,
        b"POST /upload HTTP/1.1\r\nHost: lab\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Type: text/plain\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        ["POST"],
    )[0]
    assert chunked.json() == {"size": 11, "form": {}, "text": "hello world"}


def test_flask_streams_through_chunked_encoding(flask_port: int) -> None:
    answer = raw_request(flask_port, b"GET /stream HTTP/1.1\r\nHost: lab\r\n\r\n")[0]
    assert answer.header("Transfer-Encoding") == "chunked"
    assert answer.body == b"line 0 of /stream\nline 1 of /stream\nline 2 of /stream\n"


def test_flask_handles_its_own_errors(flask_port: int) -> None:
    missing = raw_request(flask_port, b"GET /nope HTTP/1.1\r\nHost: lab\r\n\r\n")[0]
    crash = raw_request(flask_port, b"GET /crash HTTP/1.1\r\nHost: lab\r\n\r\n")[0]
    assert missing.status == 404
    assert crash.status == 500  # Flask's own 500 page, rendered by Flask
    assert b"flask view failed" not in crash.body


def test_flask_app_loads_into_multiprocess_web_by_name(tmp_path: Path) -> None:
    apps = tmp_path / "apps"
    apps.mkdir()
    (apps / "flaskapp.py").write_text(FLASK_APP)
    for mode in ("prefork", "fork"):
        workdir = tmp_path / mode
        workdir.mkdir()
        with server_process(
            workdir, mode=mode, workers=2, app="flaskapp:app", app_path=[str(apps)], static_root=""
        ) as srv:
            hello = srv.get("/hello/lab?k=v")
            assert hello.status == 200
            doc = hello.json()
            assert doc["hello"] == "lab"
            assert doc["args"] == {"k": ["v"]}
            assert doc["pid"] == hello.pid  # served in a worker, named in X-Worker-Pid
            upload = raw_request(
                srv.port,
                b"POST /upload HTTP/1.1\r\nHost: lab\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n3\r\nq=1\r\n0\r\n\r\n",
                ["POST"],
            )[0]
            assert json.loads(upload.body)["form"] == {"q": "1"}
            assert srv.get("/crash").status == 500
            assert srv.get("/healthz").status == 200  # the server's own, whatever the app
            assert "flask view failed" in srv.log()  # Flask logged it (via wsgi.errors)
