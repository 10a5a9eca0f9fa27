"""The generated document root, the exercise texts' sections, and the command's usage errors."""

from __future__ import annotations

import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from socketlab.grader import docroot, sandbox
from socketlab.grader.kinds import KINDS

REPO = Path(__file__).resolve().parents[2]
SECTION = re.compile(r"^### (\S+)\s*$", re.MULTILINE)


def test_generated_site_is_random_and_matches_its_map(tmp_path: Path) -> None:
    one = docroot.generate(tmp_path / "one")
    two = docroot.generate(tmp_path / "two")
    root = tmp_path / "one" / docroot.ROOT_DIR
    assert (root / "index.html").read_bytes() == one.index.data
    for file in (one.page, one.page2, one.image, one.stylesheet):
        assert (root / file.path.lstrip("/")).read_bytes() == file.data
    assert one.secret_name is not None
    assert one.secret is not None
    assert (tmp_path / "one" / one.secret_name).read_bytes() == one.secret
    assert not (root / one.secret_name).exists()  # above the root, not in it
    assert not (root / one.missing.lstrip("/")).exists()
    # nothing can be hard-coded: names and bytes differ from one run to the next
    assert one.page.path != two.page.path
    assert one.image.data != two.image.data
    assert one.index.data != two.index.data
    assert one.page.path.encode() in one.index.data
    assert one.page2.path.count("/") == 2  # in a subdirectory
    assert one.image.path.encode() in one.index.data
    assert len(one.page.data) > 1024  # more than one recv(1024)


def test_the_image_is_a_valid_png_with_every_kind_of_byte(tmp_path: Path) -> None:
    image = docroot.generate(tmp_path).image.data
    assert image.startswith(b"\x89PNG\r\n\x1a\n")
    length = struct.unpack(">I", image[8:12])[0]
    width, height = struct.unpack(">II", image[16:24])
    assert (length, width, height) == (13, docroot.IMAGE_SIDE, docroot.IMAGE_SIDE)
    idat = image.index(b"IDAT")
    size = struct.unpack(">I", image[idat - 4 : idat])[0]
    rows = zlib.decompress(image[idat + 4 : idat + 4 + size])
    assert len(rows) == height * (1 + width * 3)
    assert b"\r\n" in image or b"\x00" in image
    assert max(image) > 127


def test_site_map_round_trips_through_json(tmp_path: Path) -> None:
    site = docroot.generate(tmp_path)
    assert docroot.SiteMap.from_json(site.to_json()) == site


def test_scan_maps_the_labs_own_site() -> None:
    site = docroot.scan(REPO / "services" / "www")
    assert site.index.data == (REPO / "services" / "www" / "index.html").read_bytes()
    assert site.image.content_type == "image/png"
    assert site.stylesheet.path.endswith(".css")
    assert site.secret is None


def test_scan_refuses_a_directory_without_index(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"index\.html"):
        docroot.scan(tmp_path)


def test_every_check_has_its_section_and_every_section_a_check() -> None:
    for kind in KINDS.values():
        text = (REPO / kind.suite.doc).read_text()
        sections = SECTION.findall(text.split("## The checks", 1)[1])
        assert sections == kind.suite.ids(), f"{kind.suite.doc} and {kind.name} differ"
        for check in kind.suite:
            assert check.help == f"{kind.suite.doc}#{check.id}"


def test_every_text_names_its_starter_and_make_grade_line() -> None:
    for kind in KINDS.values():
        text = (REPO / kind.suite.doc).read_text()
        starter = f"docs/labs/starters/{kind.name}"
        assert f"make grade KIND={kind.name} SUBMISSION={starter}" in text
        assert (REPO / starter / kind.program).is_file()
        assert f"starters/{kind.name}/{kind.program}" in text
        labs_index = (REPO / "docs" / "labs" / "README.md").read_text()
        assert Path(kind.suite.doc).name in labs_index


def grade(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "socketlab.grader", *args],
        capture_output=True, text=True, timeout=60, cwd=REPO,
        env={"PYTHONPATH": str(REPO / "services"), "PATH": "/usr/bin:/bin"},
        check=False,
    )  # fmt: skip


def test_list_names_every_kind_and_check() -> None:
    done = grade("--list")
    assert done.returncode == 0
    for kind in KINDS.values():
        assert kind.name in done.stdout
        for check_id in kind.suite.ids():
            assert f" {check_id} " in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "--kind is required"),
        (("--kind", "ftp", "--target", "x:1"), "unknown kind 'ftp'"),
        (("--kind", "tcp-echo"), "exactly one of"),
        (("--kind", "tcp-echo", "--submission", "/nonexistent/dir"), "no such directory"),
        (("--kind", "tcp-echo", "--target", "nohost"), "not HOST:PORT"),
        (("--kind", "tcp-echo", "--target", "h:99999"), "1 to 65535"),
        (("--kind", "http-client", "--target", "h:80"), "--target is for servers"),
        (("--kind", "tcp-echo", "--submission", ".", "--in-process"), "--target only"),
    ],
)
def test_bad_usage_exits_2_with_a_clear_message(args: tuple[str, ...], message: str) -> None:
    done = grade(*args)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_a_submission_without_a_program_is_bad_usage(tmp_path: Path) -> None:
    with pytest.raises(sandbox.UsageError, match=r"no Dockerfile and no server\.py"):
        sandbox.build(KINDS["tcp-echo"], tmp_path, "unused", tmp_path / "build.log")


def test_generated_dockerfile_runs_the_program_as_lab() -> None:
    text = sandbox.generated_dockerfile(KINDS["http-client"], "socketlab/base:latest")
    assert "FROM socketlab/base:latest" in text
    assert "USER lab" in text
    assert 'CMD ["python3", "client.py"]' in text
