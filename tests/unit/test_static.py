"""Path resolution under the document root: nothing outside it can ever be reached."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from socketlab.http import errors
from socketlab.static import StaticFiles, content_type, decode_path


@pytest.mark.parametrize(
    ("raw", "segments"),
    [
        ("/", []),
        ("/index.html", ["index.html"]),
        ("/a//b/./c", ["a", "b", "c"]),
        ("/caf%C3%A9.txt", ["café.txt"]),
        ("/with%20space", ["with space"]),
    ],
)
def test_decode_path(raw: str, segments: list[str]) -> None:
    assert decode_path(raw) == segments


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("/../etc/passwd", errors.NotFound),
        ("/a/../../etc/passwd", errors.NotFound),
        ("/%2e%2e/etc/passwd", errors.NotFound),
        ("/%2E%2E%2Fetc%2Fpasswd", errors.NotFound),
        ("/a%2fb", errors.NotFound),
        ("/.git/config", errors.NotFound),
        ("/%00", errors.BadRequest),
        ("/a%zz", errors.BadRequest),
        ("/a%2", errors.BadRequest),
        ("/%ff%fe", errors.BadRequest),
        ("/a\\..\\b", errors.BadRequest),
        ("/a%5c..%5cb", errors.BadRequest),
        ("noslash", errors.BadRequest),
    ],
)
def test_decode_path_refuses(raw: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        decode_path(raw)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "docs").mkdir(parents=True)
    (root / "index.html").write_text("home")
    (root / "docs" / "index.html").write_text("docs")
    (root / "empty").mkdir()
    (tmp_path / "secret.txt").write_text("outside")
    os.symlink(tmp_path / "secret.txt", root / "escape.txt")
    os.symlink(root / "index.html", root / "inside.html")
    os.symlink(tmp_path, root / "updir")
    return root


def test_resolve_files_directories_and_redirects(site: Path) -> None:
    static = StaticFiles(site)
    path, _, redirect = static.resolve("/")
    assert (path, redirect) == (str(site / "index.html"), False)
    path, _, redirect = static.resolve("/docs/")
    assert path == str(site / "docs" / "index.html")
    _, _, redirect = static.resolve("/docs")
    assert redirect is True
    path, _, _ = static.resolve("/inside.html")  # a symlink that stays inside is fine
    assert path == str(site / "index.html")


@pytest.mark.parametrize(
    "raw", ["/escape.txt", "/updir/secret.txt", "/missing", "/empty/", "/index.html/x"]
)
def test_resolve_refuses(site: Path, raw: str) -> None:
    with pytest.raises(errors.NotFound):
        StaticFiles(site).resolve(raw)


def test_root_must_exist(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        StaticFiles(tmp_path / "nope")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.html", "text/html; charset=utf-8"),
        ("a.CSS", "text/css; charset=utf-8"),
        ("a.js", "text/javascript; charset=utf-8"),
        ("a.png", "image/png"),
        ("favicon.ico", "image/x-icon"),
        ("blob", "application/octet-stream"),
    ],
)
def test_content_type(name: str, expected: str) -> None:
    assert content_type(name) == expected


def test_index_html_symlink_leaving_the_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (tmp_path / "secret.txt").write_text("outside")
    os.symlink(tmp_path / "secret.txt", root / "sub" / "index.html")
    with pytest.raises(errors.NotFound):
        StaticFiles(root).resolve("/sub/")


def test_changed_file_is_served_fresh(tmp_path: Path) -> None:
    """The cache is keyed on size and mtime: an edited file is never answered stale."""
    (tmp_path / "a.txt").write_text("one")
    static = StaticFiles(tmp_path)
    path, st, _ = static.resolve("/a.txt")
    assert static._entry(path, st).body == b"one"
    (tmp_path / "a.txt").write_text("three")
    path, st, _ = static.resolve("/a.txt")
    assert static._entry(path, st).body == b"three"
