"""The document root the grader gives an http-static submission, and the map of what is in it.

Every name and every byte is random (``secrets``), so an answer cannot be written into the
program: an ``index.html``, a page, a PNG image (real pixels, so every byte value occurs, CR, LF
and NUL included), a stylesheet, and, one level *above* the root, a secret file that no request
may ever read (the traversal check). For a server the grader did not start (``--target``) the
map is read from the directory it serves instead (:func:`scan`), with no secret.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import struct
import zlib
from pathlib import Path
from typing import Any, Final

ROOT_DIR: Final = "root"  # the served directory, inside the site directory
IMAGE_SIDE: Final = 48  # 48 x 48 random RGB pixels: about 7 KiB that no compression shrinks
PAGE_PARAGRAPHS: Final = 40  # a page of about 3 KiB: more than one recv(1024)
IMAGE_SUFFIXES: Final = (".png", ".jpg", ".jpeg", ".gif", ".ico", ".webp")


@dataclasses.dataclass
class SiteFile:
    path: str  # the URL path, "/img/x.png"
    data: bytes
    content_type: str  # what a right server may say (the part before any ";")


@dataclasses.dataclass
class SiteMap:
    index: SiteFile
    page: SiteFile
    page2: SiteFile  # a second page, in a subdirectory
    image: SiteFile
    stylesheet: SiteFile
    missing: str  # a path with no file behind it
    secret_name: str | None = None  # a file one level above the root
    secret: bytes | None = None

    def to_json(self) -> str:
        def file(f: SiteFile) -> dict[str, Any]:
            return {"path": f.path, "data": f.data.hex(), "content_type": f.content_type}

        return json.dumps(
            {
                "index": file(self.index),
                "page": file(self.page),
                "page2": file(self.page2),
                "image": file(self.image),
                "stylesheet": file(self.stylesheet),
                "missing": self.missing,
                "secret_name": self.secret_name,
                "secret": self.secret.hex() if self.secret is not None else None,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> SiteMap:
        raw = json.loads(text)

        def file(d: dict[str, str]) -> SiteFile:
            return SiteFile(d["path"], bytes.fromhex(d["data"]), d["content_type"])

        return cls(
            index=file(raw["index"]),
            page=file(raw["page"]),
            page2=file(raw["page2"]),
            image=file(raw["image"]),
            stylesheet=file(raw["stylesheet"]),
            missing=raw["missing"],
            secret_name=raw["secret_name"],
            secret=bytes.fromhex(raw["secret"]) if raw["secret"] is not None else None,
        )


def png(width: int, height: int, pixels: bytes) -> bytes:
    """A valid PNG (8-bit RGB) of ``pixels``, with the standard library's zlib."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(b"\x00" + pixels[y * width * 3 : (y + 1) * width * 3] for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


def _word() -> str:
    return secrets.token_hex(4)


def generate(site: Path) -> SiteMap:
    """Write a fresh random site under ``site`` (``site/root`` is served) and return its map."""
    root = site / ROOT_DIR
    (root / "img").mkdir(parents=True)
    (root / "css").mkdir()
    folder = _word()
    (root / folder).mkdir()
    page_name, image_name, css_name = f"{_word()}.html", f"img/{_word()}.png", f"css/{_word()}.css"
    page2_name = f"{folder}/{_word()}.html"
    token = secrets.token_hex(16)
    stylesheet = (
        f"/* {token} */\nbody {{ font-family: sans-serif; color: #{secrets.token_hex(3)}; }}\n"
        f"h1.t{_word()} {{ margin: {secrets.randbelow(40)}px; }}\n"
    ).encode()
    paragraphs = "\n".join(
        f"<p>paragraph {n}: {secrets.token_urlsafe(48)}</p>" for n in range(PAGE_PARAGRAPHS)
    )
    page = (
        f'<!doctype html>\n<html><head><meta charset="utf-8"><title>{token}</title>'
        f'<link rel="stylesheet" href="/{css_name}"></head>\n<body>\n<h1>page {token}</h1>\n'
        f"{paragraphs}\n<p>non-ASCII: \u00e9\u00e8 \u4f60\u597d \u2713</p>\n</body></html>\n"
    ).encode()
    page2 = (
        f"<!doctype html>\n<html><head><title>{_word()}</title></head><body>"
        f'<p><a href="/">{token}</a> {secrets.token_urlsafe(300)}</p></body></html>\n'
    ).encode()
    index = (
        f'<!doctype html>\n<html><head><meta charset="utf-8"><title>index {token}</title>'
        f'<link rel="stylesheet" href="/{css_name}"></head>\n<body><h1>index {token}</h1>\n'
        f'<p><a href="/{page_name}">a page</a> <a href="/{page2_name}">another</a>\n'
        f'<img src="/{image_name}" alt="random"></p>\n'
        f"</body></html>\n"
    ).encode()
    image = png(IMAGE_SIDE, IMAGE_SIDE, os.urandom(IMAGE_SIDE * IMAGE_SIDE * 3))
    secret_name = f"secret-{_word()}.txt"
    secret = f"secret {secrets.token_hex(16)}: no request may read this file\n".encode()
    for name, data in (
        ("index.html", index),
        (page_name, page),
        (page2_name, page2),
        (image_name, image),
        (css_name, stylesheet),
    ):
        (root / name).write_bytes(data)
    (site / secret_name).write_bytes(secret)
    for path in [site, *site.rglob("*")]:  # readable by the unprivileged submission
        path.chmod(0o755 if path.is_dir() else 0o644)
    return SiteMap(
        index=SiteFile("/", index, "text/html"),
        page=SiteFile(f"/{page_name}", page, "text/html"),
        page2=SiteFile(f"/{page2_name}", page2, "text/html"),
        image=SiteFile(f"/{image_name}", image, "image/png"),
        stylesheet=SiteFile(f"/{css_name}", stylesheet, "text/css"),
        missing=f"/{_word()}-missing.html",
        secret_name=secret_name,
        secret=secret,
    )


def scan(root: Path) -> SiteMap:
    """The map of a directory someone else serves: its index.html, a page, an image, a CSS."""
    index = root / "index.html"
    if not index.is_file():
        raise ValueError(f"{root}: no index.html to compare GET / with")
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
    pages = [p for p in files if p.suffix == ".html" and p != index]
    images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    sheets = [p for p in files if p.suffix == ".css"]
    if not (pages and images and sheets):
        raise ValueError(
            f"{root}: needs another .html page, an image and a .css file besides index.html"
        )

    def entry(path: Path, content_type: str) -> SiteFile:
        return SiteFile("/" + path.relative_to(root).as_posix(), path.read_bytes(), content_type)

    pages.sort(key=lambda p: p.stat().st_size, reverse=True)
    image = max(images, key=lambda p: p.stat().st_size)
    kind = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".ico": "image/x-icon"}.get(
        image.suffix.lower(), "image/" + image.suffix.lower().lstrip(".")
    )
    return SiteMap(
        index=SiteFile("/", index.read_bytes(), "text/html"),
        page=entry(pages[0], "text/html"),
        page2=entry(pages[1], "text/html"),
        image=entry(image, kind),
        stylesheet=entry(sheets[0], "text/css"),
        missing=f"/{_word()}-missing.html",
    )
