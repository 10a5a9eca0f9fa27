"""The HTTP Archive 1.2 writer: structure, timings, addresses, failures."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from socketlab.browser import Browser, Deadlines, Options, har
from socketlab.browser.records import PageLoad
from tests.support.inprocess_servers import threaded_web
from tests.support.scripted_server import closed_port

OPTIONS = Options(deadlines=Deadlines(connect=2.0, read=5.0, total=20.0), probe_whoami=True)


@pytest.fixture(scope="module")
def pages() -> Iterator[list[PageLoad]]:
    """Two pages from threaded-web and one whose server refuses the connection."""
    with threaded_web() as base, Browser(OPTIONS) as browser:
        loaded = [browser.load(base + "/"), browser.load(base + "/tcp.html?from=har")]
        loaded.append(browser.load(f"http://127.0.0.1:{closed_port()}/"))
        yield loaded


@pytest.fixture(scope="module")
def archive(pages: list[PageLoad], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("har") / "run.har"
    har.write(path, pages)
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    assert not list(path.parent.glob(".har-*")), "the temporary file was left behind"
    return data


def test_log_header(archive: dict[str, Any]) -> None:
    log = archive["log"]
    assert log["version"] == "1.2"
    assert log["creator"]["name"] == "socketlab-browser"
    assert set(log) >= {"version", "creator", "pages", "entries"}


def test_pages(archive: dict[str, Any], pages: list[PageLoad]) -> None:
    har_pages = archive["log"]["pages"]
    assert [p["id"] for p in har_pages] == [p.id for p in pages]
    assert len({p["id"] for p in har_pages}) == len(har_pages)
    first = har_pages[0]
    assert first["title"] == "socketlab: see what your sockets do"
    assert first["startedDateTime"].endswith("+00:00")
    assert "T" in first["startedDateTime"]
    assert 0 <= first["pageTimings"]["onContentLoad"] <= first["pageTimings"]["onLoad"]


REQUIRED_ENTRY = {"pageref", "startedDateTime", "time", "request", "response", "cache", "timings"}
REQUIRED_REQUEST = {
    "method",
    "url",
    "httpVersion",
    "cookies",
    "headers",
    "queryString",
    "headersSize",
    "bodySize",
}
REQUIRED_RESPONSE = {
    "status",
    "statusText",
    "httpVersion",
    "cookies",
    "headers",
    "content",
    "redirectURL",
    "headersSize",
    "bodySize",
}


def test_entries(archive: dict[str, Any], pages: list[PageLoad]) -> None:
    entries = archive["log"]["entries"]
    assert len(entries) == sum(len(p.entries) for p in pages)
    page_ids = {p.id for p in pages}
    for entry in entries:
        assert set(entry) >= REQUIRED_ENTRY
        assert set(entry["request"]) >= REQUIRED_REQUEST
        assert set(entry["response"]) >= REQUIRED_RESPONSE
        assert entry["pageref"] in page_ids
        timings = entry["timings"]
        for phase in ("send", "wait", "receive"):
            assert timings[phase] >= 0
        for phase in ("blocked", "dns", "connect"):
            assert timings[phase] == -1 or timings[phase] >= 0
        total = sum(v for k, v in timings.items() if k != "ssl" and v >= 0)
        assert entry["time"] == pytest.approx(total, abs=0.01)
        assert {"name", "value"} == set(entry["request"]["headers"][0])


def test_connection_and_addresses(archive: dict[str, Any], pages: list[PageLoad]) -> None:
    ok = [e for e in archive["log"]["entries"] if e["response"]["status"]]
    assert ok
    for entry in ok:
        assert entry["serverIPAddress"] == "127.0.0.1"
        assert entry["connection"].isdigit()
        assert isinstance(entry["_localPort"], int)
    first_page = [e for e in ok if e["pageref"] == pages[0].id]
    assert len({e["connection"] for e in first_page}) < len(first_page)
    # A new connection shows its connect time; a reused one none.
    assert any(e["timings"]["connect"] >= 0 for e in first_page)
    assert any(e["timings"]["connect"] == -1 for e in first_page)


def test_content_query_and_sizes(archive: dict[str, Any]) -> None:
    entries = archive["log"]["entries"]
    css = next(e for e in entries if e["request"]["url"].endswith("/css/site.css"))
    assert css["response"]["content"]["mimeType"].startswith("text/css")
    assert css["response"]["content"]["size"] == len(css["response"]["content"]["text"])
    assert css["response"]["headersSize"] > 0
    assert css["response"]["bodySize"] == css["response"]["content"]["size"]
    png = next(e for e in entries if e["request"]["url"].endswith(".png"))
    assert "text" not in png["response"]["content"]
    tcp = next(e for e in entries if "tcp.html" in e["request"]["url"])
    assert tcp["request"]["queryString"] == [{"name": "from", "value": "har"}]


def test_failed_entry(archive: dict[str, Any], pages: list[PageLoad]) -> None:
    failed = [e for e in archive["log"]["entries"] if e["pageref"] == pages[2].id]
    assert len(failed) == 1
    entry = failed[0]
    assert entry["response"]["status"] == 0
    assert entry["response"]["_error"].startswith("refused: connection refused by 127.0.0.1:")
    assert "serverIPAddress" not in entry


def test_post_data_and_cookies() -> None:
    from tests.support.scripted_server import Answer, http_response, scripted

    def script(_: object) -> Answer:
        return Answer(http_response(200, b"ok", [("Set-Cookie", "s=1; Path=/; HttpOnly")]))

    with scripted(script) as server, Browser(Options(subresources=False)) as browser:
        browser.load(server.base + "/")
        page = browser.load(
            server.base + "/f", method="POST", form={"username": "a b", "pass": "x"}
        )
    data = har.build([page])
    request = data["log"]["entries"][0]["request"]
    assert request["postData"] == {
        "mimeType": "application/x-www-form-urlencoded",
        "text": "username=a+b&pass=x",
    }
    assert request["bodySize"] == len("username=a+b&pass=x")
    assert request["cookies"] == [{"name": "s", "value": "1"}]
    cookies = data["log"]["entries"][0]["response"]["cookies"]
    assert cookies[0]["name"] == "s"
    assert cookies[0]["httpOnly"] is True


def test_write_is_atomic_and_replaces(tmp_path: Path, pages: list[PageLoad]) -> None:
    """The new archive is a new file renamed over the old one, never the old file rewritten in
    place: a reader that opened the old archive (here: a second link to it) still has it whole,
    and the name points at a different inode holding the whole new archive."""
    path = tmp_path / "a.har"
    path.write_text("old")
    reader = tmp_path / "reader"
    os.link(path, reader)  # the old file, as an open reader would keep seeing it
    before = path.stat().st_ino
    har.write(path, pages[:1])
    assert json.loads(path.read_text())["log"]["pages"][0]["id"] == pages[0].id
    assert path.stat().st_ino != before, "the old file was rewritten in place"
    assert reader.read_text() == "old", "the old file was changed under its reader"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.har", "reader"]


def test_a_write_that_fails_half_way_leaves_the_old_archive(
    tmp_path: Path, pages: list[PageLoad], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Half an archive is written, then the writer fails: the old archive is still there,
    whole, and the half-written temporary file is gone."""
    path = tmp_path / "a.har"
    path.write_text("old")

    def half_then_fail(document: object, handle: IO[str], **_: object) -> None:
        handle.write('{"log": {"pages": [')
        handle.flush()
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("socketlab.browser.har.json.dump", half_then_fail)
    with pytest.raises(OSError, match="No space left"):
        har.write(path, pages[:1])
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.har"]
