"""The mini framework's App, routing, Request and Response, called as a WSGI application."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest

from socketlab.framework import (
    MAX_BODY,
    MAX_FIELDS,
    App,
    Request,
    Response,
    Router,
    json_response,
    redirect,
    status_line,
)
from socketlab.http import errors
from tests.support.wsgi_call import call


@pytest.fixture
def app(tmp_path: Path) -> App:
    (tmp_path / "hello.html").write_text("<p>Hello {{ name }}</p>")
    app = App(template_folder=tmp_path)

    @app.route("/", "/index.py")
    def index(request: Request) -> str:
        return "<h1>home</h1>"

    @app.route("/hello/<name>")
    def hello(request: Request, name: str) -> Response:
        return app.render("hello.html", name=name)

    @app.route("/n/<int:n>/<float:f>")
    def numbers(request: Request, n: int, f: float) -> dict[str, Any]:
        return {"n": n, "f": f, "types": [type(n).__name__, type(f).__name__]}

    @app.route("/form", methods=("POST",))
    def form(request: Request) -> list[Any]:
        return [list(pair) for pair in request.form()]

    @app.route("/json", methods=("POST", "PUT"))
    def json_view(request: Request) -> Response:
        return json_response({"got": request.json()}, status=201)

    @app.route("/teapot")
    def teapot(request: Request) -> Response:
        raise errors.NotFound("<gone>")

    @app.route("/go")
    def go(request: Request) -> Response:
        return redirect("/hello/there")

    @app.route("/bad")
    def bad(request: Request) -> int:
        return 42

    return app


def test_routes_by_decorator_with_several_urls(app: App) -> None:
    assert call(app, path="/")[2] == b"<h1>home</h1>"
    status, headers, body = call(app, path="/index.py")
    assert status == 200
    assert body == b"<h1>home</h1>"
    assert headers["Content-Type"] == "text/html; charset=utf-8"


def test_typed_parameters_are_converted_and_bounded(app: App) -> None:
    status, _, body = call(app, path="/n/42/1.5")
    assert status == 200
    assert json.loads(body) == {"n": 42, "f": 1.5, "types": ["int", "float"]}
    assert call(app, path="/n/x/1")[0] == 404
    assert call(app, path="/n/1234567890/1")[0] == 404  # more than 9 digits: no match


def test_templates_escape_route_parameters(app: App) -> None:
    status, _, body = call(app, path="/hello/<b>%26")
    assert status == 200
    assert body == b"<p>Hello &lt;b&gt;%26</p>"


def test_unknown_path_is_404_and_wrong_method_is_405_with_allow(app: App) -> None:
    status, headers, body = call(app, path="/nowhere")
    assert status == 404
    assert b"no page at /nowhere" in body
    status, headers, _ = call(app, method="DELETE", path="/json")
    assert status == 405
    assert headers["Allow"] == "POST, PUT"
    assert call(app, method="HEAD", path="/")[0] == 200  # HEAD comes with GET


def test_error_details_are_escaped(app: App) -> None:
    status, _, body = call(app, path="/teapot")
    assert status == 404
    assert b"&lt;gone&gt;" in body
    assert b"<gone>" not in body


def test_form_and_json_bodies(app: App) -> None:
    status, _, body = call(
        app, "POST", "/form", b"a=1&b=%3Cx%3E&a=2", "application/x-www-form-urlencoded"
    )
    assert json.loads(body) == [["a", "1"], ["b", "<x>"], ["a", "2"]]
    status, _, body = call(app, "POST", "/json", b'{"k": [1, 2]}', "application/json")
    assert status == 201
    assert json.loads(body) == {"got": {"k": [1, 2]}}
    assert call(app, "POST", "/json", b"{nope", "application/json")[0] == 400
    assert call(app, "POST", "/form", b"x=1", "text/plain")[0] == 415


def test_body_and_field_limits(app: App) -> None:
    big = b"a=" + b"x" * MAX_BODY
    assert call(app, "POST", "/form", big, "application/x-www-form-urlencoded")[0] == 413
    many = "&".join(f"f{i}=1" for i in range(MAX_FIELDS + 1)).encode()
    assert call(app, "POST", "/form", many, "application/x-www-form-urlencoded")[0] == 400


def test_redirect_is_303_with_location(app: App) -> None:
    status, headers, _ = call(app, path="/go")
    assert status == 303
    assert headers["Location"] == "/hello/there"


def test_view_returning_nonsense_is_the_servers_500(app: App) -> None:
    with pytest.raises(TypeError, match="a view returned int"):
        call(app, path="/bad", validate=False)


def test_chunked_request_body_is_read_to_its_end() -> None:
    app = App()

    @app.route("/echo", methods=("POST",))
    def echo(request: Request) -> Response:
        return Response(request.body(), content_type="application/octet-stream")

    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/echo",
        "wsgi.input": io.BytesIO(b"no length given"),
        "wsgi.input_terminated": True,
    }
    setup_testing_defaults(environ)
    out: list[bytes] = list(app(environ, lambda status, headers, exc_info=None: None))
    assert out == [b"no length given"]
    environ["wsgi.input_terminated"] = False  # PEP 3333: without a length, read nothing
    environ["wsgi.input"] = io.BytesIO(b"ignored")
    assert list(app(environ, lambda status, headers, exc_info=None: None)) == [b""]


def test_request_helpers() -> None:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/caf\xc3\xa9",
        "QUERY_STRING": "a=1&a=2&b=",
        "HTTP_X_THING": "v",
        "HTTP_HOST": "lab:8888",
        "CONTENT_TYPE": "Text/Plain; charset=x",
    }
    setup_testing_defaults(environ)
    request = Request(environ)
    assert request.path == "/café"
    assert request.args == [("a", "1"), ("a", "2"), ("b", "")]
    assert request.headers["X-Thing"] == "v"
    assert request.content_type == "text/plain"
    assert request.url == "http://lab:8888/caf\xc3\xa9?a=1&a=2&b="


def test_router_rejects_bad_patterns() -> None:
    router = Router()
    with pytest.raises(ValueError, match="must start with /"):
        router.add("nope", lambda r: None, ("GET",))
    with pytest.raises(ValueError, match="unknown type 'uuid'"):
        router.add("/x/<uuid:id>", lambda r: None, ("GET",))


def test_status_line_and_response_bodies() -> None:
    assert status_line(404) == "404 Not Found"
    assert status_line(299) == "299 Unknown"
    response = Response(iter([b"a", b"b"]), 200, content_type="text/plain")
    assert list(response(lambda status, headers: None)) == [b"a", b"b"]
