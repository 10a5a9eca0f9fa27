"""Range requests, preconditions and Cache-Control rules, live, on both web servers.

threaded-web runs in this process; multiprocess-web runs as its own process with the same files
under ``static_root``. Both answer from the one static module, so every check runs on both, for
a small file (sent from the in-memory cache) and a large one (sent with sendfile(2)).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from socketlab import settings
from socketlab.http.connection import ConnectionConfig
from socketlab.http.writer import http_date
from socketlab.listener import open_listener
from socketlab.static import StaticFiles, parse_cache_rules
from socketlab.threaded_web import SETTINGS, LabSite, ThreadedServer
from tests.support.multiprocess import server_process
from tests.support.raw_http import RawResponse, request

SMALL_SIZE = 10_000  # cached, sent with the head in one send
BIG_SIZE = 1024 * 1024 + 123  # over static.SMALL_FILE: streamed with sendfile
OLD = 1_600_000_000  # files' mtime: long past, so Last-Modified is a strong validator
RULES = ["*.css=max-age=3600", "/media/*=public, max-age=86400"]
CURL_TIMEOUT = 30.0


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("ranges") / "www"
    (base / "media").mkdir(parents=True)
    (base / "small.bin").write_bytes(os.urandom(SMALL_SIZE))
    (base / "media" / "clip.mp4").write_bytes(os.urandom(BIG_SIZE))
    (base / "site.css").write_text("body { color: black }\n")
    (base / "empty.txt").write_bytes(b"")
    for path in base.rglob("*"):
        os.utime(path, (OLD, OLD))
    return base


@pytest.fixture(scope="module", params=["threaded-web", "multiprocess-web"])
def port(
    request: pytest.FixtureRequest, root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[int]:
    """The port of a server answering for ``root`` with the Cache-Control RULES."""
    if request.param == "threaded-web":
        server = ThreadedServer(
            open_listener("127.0.0.1", 0),
            LabSite(StaticFiles(root, parse_cache_rules(RULES))),
            ConnectionConfig(),
        )
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield int(server.address[1])
        finally:
            server.stop()
            thread.join(10)
    else:
        workdir = tmp_path_factory.mktemp("mpw")
        with server_process(workdir, static_root=str(root), cache_control=RULES) as proc:
            yield proc.port


def ask(port: int, target: str, *fields: str, method: str = "GET") -> RawResponse:
    head = "".join(f"{field}\r\n" for field in fields)
    raw = f"{method} {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{head}\r\n".encode()
    return request(port, raw, methods=(method,))[0]


def content(root: Path, name: str) -> bytes:
    return (root / name).read_bytes()


FILES = ["small.bin", "media/clip.mp4"]


@pytest.mark.parametrize("name", FILES)
def test_a_plain_get_says_ranges_are_accepted(port: int, root: Path, name: str) -> None:
    answer = ask(port, "/" + name)
    assert answer.status == 200
    assert answer.header("Accept-Ranges") == "bytes"
    assert answer.header("Content-Range") is None
    assert answer.body == content(root, name)


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize(
    ("spec", "first", "last"),
    [("bytes=0-99", 0, 99), ("bytes=500-", 500, None), ("bytes=-500", -500, None)],
)
def test_one_range_is_206_with_content_range(
    port: int, root: Path, name: str, spec: str, first: int, last: int | None
) -> None:
    data = content(root, name)
    size = len(data)
    start = first % size
    end = size - 1 if last is None else last
    answer = ask(port, "/" + name, f"Range: {spec}")
    assert answer.status == 206
    assert answer.header("Content-Range") == f"bytes {start}-{end}/{size}"
    assert answer.header("Content-Length") == str(end - start + 1)
    assert answer.header("ETag") is not None
    assert answer.body == data[start : end + 1]


@pytest.mark.parametrize("name", FILES)
def test_a_range_past_the_end_is_416(port: int, root: Path, name: str) -> None:
    size = len(content(root, name))
    answer = ask(port, "/" + name, f"Range: bytes={size}-")
    assert answer.status == 416
    assert answer.header("Content-Range") == f"bytes */{size}"


def test_several_ranges_get_the_whole_file(port: int, root: Path) -> None:
    answer = ask(port, "/small.bin", "Range: bytes=0-9,100-109")
    assert (answer.status, answer.body) == (200, content(root, "small.bin"))


def test_if_range_with_the_etag_or_the_date(port: int, root: Path) -> None:
    data = content(root, "media/clip.mp4")
    etag = ask(port, "/media/clip.mp4").header("ETag")
    assert etag is not None
    fresh = ask(port, "/media/clip.mp4", "Range: bytes=1000-", f"If-Range: {etag}")
    assert (fresh.status, fresh.body) == (206, data[1000:])
    stale = ask(port, "/media/clip.mp4", "Range: bytes=1000-", 'If-Range: "old-version"')
    assert (stale.status, stale.body) == (200, data)
    dated = ask(port, "/media/clip.mp4", "Range: bytes=0-9", f"If-Range: {http_date(OLD)}")
    assert (dated.status, dated.body) == (206, data[:10])
    older = ask(port, "/media/clip.mp4", "Range: bytes=0-9", f"If-Range: {http_date(OLD - 60)}")
    assert (older.status, older.body) == (200, data)


def test_head_ignores_range_and_matches_a_plain_get(port: int) -> None:
    head = ask(port, "/media/clip.mp4", "Range: bytes=0-9", method="HEAD")
    get = ask(port, "/media/clip.mp4")
    assert head.status == 200
    assert head.body == b""
    for field in ("Content-Length", "Content-Type", "ETag", "Last-Modified", "Accept-Ranges"):
        assert head.header(field) == get.header(field), field


def test_not_modified_wins_over_range_and_failed_if_match_is_412(port: int) -> None:
    etag = ask(port, "/small.bin").header("ETag")
    assert etag is not None
    answer = ask(port, "/small.bin", f"If-None-Match: {etag}", "Range: bytes=0-9")
    assert (answer.status, answer.body) == (304, b"")
    assert ask(port, "/small.bin", 'If-Match: "other"').status == 412
    assert ask(port, "/small.bin", f"If-Match: {etag}", "Range: bytes=0-0").status == 206
    since = f"If-Unmodified-Since: {http_date(OLD - 60)}"
    assert ask(port, "/small.bin", since).status == 412


def test_an_empty_file_has_no_range_to_give(port: int) -> None:
    assert ask(port, "/empty.txt", "Range: bytes=0-").status == 416
    answer = ask(port, "/empty.txt", "Range: bytes=-5")
    assert (answer.status, answer.body) == (200, b"")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("site.css", "max-age=3600"),
        ("media/clip.mp4", "public, max-age=86400"),
        ("small.bin", None),
    ],
)
def test_cache_control_per_path_pattern(port: int, name: str, expected: str | None) -> None:
    assert ask(port, "/" + name).header("Cache-Control") == expected
    if expected is not None:
        etag = ask(port, "/" + name).header("ETag")
        assert ask(port, "/" + name, f"If-None-Match: {etag}").header("Cache-Control") == expected
        assert ask(port, "/" + name, "Range: bytes=0-0").header("Cache-Control") == expected


@pytest.mark.skipif(
    shutil.which("curl") is None, reason="curl is not installed (apt-get install curl)"
)
@pytest.mark.parametrize("cut", [1, SMALL_SIZE // 3, BIG_SIZE // 2, BIG_SIZE])
def test_curl_resumes_a_download(port: int, root: Path, tmp_path: Path, cut: int) -> None:
    """``curl -C -`` sends Range: bytes=<what it has>- and appends the 206 body; a download that
    is already complete gets 416 with ``Content-Range: bytes */<size>``, which curl takes as
    done (exit 0, file untouched: the reason no ``--fail`` here)."""
    data = content(root, "media/clip.mp4")
    out = tmp_path / "clip.mp4"
    out.write_bytes(data[:cut])
    result = subprocess.run(
        ["curl", "--silent", "--show-error", "-C", "-", "-o", str(out),
         "--write-out", "%{http_code}", f"http://127.0.0.1:{port}/media/clip.mp4"],
        capture_output=True, text=True, timeout=CURL_TIMEOUT, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == ("416" if cut == BIG_SIZE else "206")
    assert out.read_bytes() == data


# --- the cache_control setting --------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["*.css", "=max-age=1", "*.css=", "*.css=max-age=1\x01"])
def test_bad_cache_rules_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match=r"PATTERN=VALUE|not a valid field value"):
        parse_cache_rules([bad])


def test_cache_control_from_the_environment_is_split_at_semicolons() -> None:
    environ = {"SOCKETLAB_CACHE_CONTROL": "*.css=public, max-age=60; /img/*=no-cache"}
    values = settings.resolve(SETTINGS, environ=environ)
    assert values["cache_control"] == ["*.css=public, max-age=60", "/img/*=no-cache"]
    with pytest.raises(settings.SettingsError, match="'cache_control' expects PATTERN=VALUE"):
        settings.resolve(SETTINGS, environ={"SOCKETLAB_CACHE_CONTROL": "nothing"})
