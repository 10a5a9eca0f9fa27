"""Scripted visits: a TOML file names the pages to load, forms to post and what to expect.

A scenario (``configs/browser/*.toml``)::

    name = "threaded-web"
    base = "http://threaded-web:8080/"   # relative page URLs are joined to it (--base overrides)
    probe_whoami = true                  # ask /whoami on every connection after each page

    [[pages]]
    url = "/"
    expect_status = 200                  # or a list: [200, 304]
    expect_text = ["socketlab"]          # each must appear in the page's visible text

    [[pages]]
    url = "/register.py"
    method = "POST"                      # GET (default), HEAD or POST
    form = { username = "visitor", pass = "lab" }   # urlencoded body, as an HTML form sends it
    query = { from = "browser" }         # appended to the URL's query string

The file is data, parsed with :mod:`tomllib` and checked key by key: an unknown key, a wrong
type or a missing ``url`` is a :class:`ScenarioError` naming the file, the page and the key,
and the command exits with status 2.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlencode

from ..structs import record
from . import urls
from .browser import Browser
from .errors import InvalidURL
from .records import Expectation, PageLoad
from .urls import URL

if TYPE_CHECKING:
    from .threads import StopFlag

MAX_PAGES: Final = 100
"""Pages in one scenario: a visit is a handful of pages; more is a mistake, not a visit."""

MAX_FILES: Final = 50
"""Scenario files taken from one directory."""

METHODS: Final = ("GET", "HEAD", "POST")
_TOP_KEYS: Final = {"name", "description", "base", "probe_whoami", "pages"}
_PAGE_KEYS: Final = {"name", "url", "method", "query", "form", "expect_status", "expect_text"}


class ScenarioError(Exception):
    """A scenario file cannot be used; the message names the file and the key."""


@record(frozen=True)
class Step:
    """One page of a visit."""

    url: str
    method: str = "GET"
    name: str = ""
    query: tuple[tuple[str, str], ...] = ()
    form: tuple[tuple[str, str], ...] | None = None
    expect_status: tuple[int, ...] = ()
    expect_text: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return self.name or f"{self.method} {self.url}"


@record(frozen=True)
class Scenario:
    name: str
    path: str
    base: str
    steps: tuple[Step, ...]
    probe_whoami: bool = False


def _strings(value: Any, where: str, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ScenarioError(f"{where}: '{key}' expects a string or a list of strings")


def _table(value: Any, where: str, key: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        raise ScenarioError(f"{where}: '{key}' expects a table of name = \"value\"")
    out = []
    for name, item in value.items():
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            raise ScenarioError(f"{where}: '{key}.{name}' expects a string or a number")
        out.append((str(name), str(item)))
    return tuple(out)


def _step(raw: Any, where: str) -> Step:
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: expected a table ([[pages]])")
    unknown = sorted(set(raw) - _PAGE_KEYS)
    if unknown:
        raise ScenarioError(
            f"{where}: unknown key '{unknown[0]}' (known keys: {', '.join(sorted(_PAGE_KEYS))})"
        )
    url = raw.get("url")
    if not isinstance(url, str) or not url:
        raise ScenarioError(f"{where}: 'url' expects a URL or a path such as \"/\"")
    try:
        urls.check_text(url)
    except InvalidURL as exc:
        raise ScenarioError(f"{where}: 'url' {exc}") from None
    method = raw.get("method", "GET")
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise ScenarioError(f"{where}: 'method' expects one of {', '.join(METHODS)}")
    method = method.upper()
    name = raw.get("name", "")
    if not isinstance(name, str):
        raise ScenarioError(f"{where}: 'name' expects a string")
    form = _table(raw["form"], where, "form") if "form" in raw else None
    if form is not None and method != "POST":
        raise ScenarioError(f"{where}: 'form' needs method = \"POST\"")
    status = raw.get("expect_status", [])
    statuses = (status,) if isinstance(status, int) and not isinstance(status, bool) else status
    if not isinstance(statuses, (list, tuple)) or not all(
        isinstance(s, int) and not isinstance(s, bool) and 100 <= s <= 599 for s in statuses
    ):
        raise ScenarioError(
            f"{where}: 'expect_status' expects a status code from 100 to 599 or a list of them"
        )
    return Step(
        url=url,
        method=method,
        name=name,
        query=_table(raw["query"], where, "query") if "query" in raw else (),
        form=form,
        expect_status=tuple(statuses),
        expect_text=_strings(raw["expect_text"], where, "expect_text")
        if "expect_text" in raw
        else (),
    )


def parse(data: dict[str, Any], path: str) -> Scenario:
    """Check a parsed TOML document and build the scenario."""
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise ScenarioError(
            f"{path}: unknown key '{unknown[0]}' (known keys: {', '.join(sorted(_TOP_KEYS))})"
        )
    base = data.get("base", "")
    if not isinstance(base, str):
        raise ScenarioError(f"{path}: 'base' expects an http:// URL")
    if base:
        try:
            urls.parse(base)
        except InvalidURL as exc:
            raise ScenarioError(f"{path}: 'base' {exc}") from None
    probe = data.get("probe_whoami", False)
    if not isinstance(probe, bool):
        raise ScenarioError(f"{path}: 'probe_whoami' expects true or false")
    name = data.get("name", Path(path).stem)
    if not isinstance(name, str):
        raise ScenarioError(f"{path}: 'name' expects a string")
    pages = data.get("pages")
    if not isinstance(pages, list) or not pages:
        raise ScenarioError(f"{path}: 'pages' expects at least one [[pages]] table")
    if len(pages) > MAX_PAGES:
        raise ScenarioError(f"{path}: more than {MAX_PAGES} pages")
    steps = tuple(_step(raw, f"{path}: page {i}") for i, raw in enumerate(pages, 1))
    return Scenario(name=name, path=path, base=base, steps=steps, probe_whoami=probe)


def load(path: str | Path) -> Scenario:
    """Read one scenario file."""
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ScenarioError(f"{path}: scenario file not found") from None
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from None
    return parse(data, str(path))


def load_all(paths: list[str]) -> list[Scenario]:
    """Scenario files in the order given; a directory stands for its ``*.toml``, sorted."""
    out: list[Scenario] = []
    for item in paths:
        path = Path(item)
        if path.is_dir():
            files = sorted(path.glob("*.toml"))[:MAX_FILES]
            if not files:
                raise ScenarioError(f"{path}: no *.toml scenario in this directory")
            out.extend(load(f) for f in files)
        else:
            out.append(load(path))
    return out


def step_url(scenario: Scenario, step: Step, base_override: str = "") -> URL:
    """The URL a step loads: joined to the base, with its query appended."""
    base = base_override or scenario.base
    try:
        url = urls.parse(base).join(step.url) if base else urls.parse(step.url)
    except InvalidURL as exc:
        raise ScenarioError(f"{scenario.path}: page {step.label!r}: {exc}") from None
    return url.with_query(urlencode(step.query)) if step.query else url


def check(step: Step, page: PageLoad) -> list[Expectation]:
    """The step's expectations against what was loaded."""
    out: list[Expectation] = []
    doc = page.document
    if step.expect_status:
        wanted = " or ".join(str(s) for s in step.expect_status)
        got = doc.status if doc is not None else None
        out.append(
            Expectation(
                f"status {wanted}",
                got in step.expect_status,
                ""
                if got in step.expect_status
                else (f"got {got}" if got is not None else "no response"),
            )
        )
    text = " ".join(page.text.split())
    for wanted_text in step.expect_text:
        needle = " ".join(wanted_text.split())
        held = needle in text
        out.append(Expectation(f"text {wanted_text!r}", held, "" if held else "not on the page"))
    return out


def run(
    scenario: Scenario,
    browser: Browser,
    base_override: str = "",
    *,
    on_page: Callable[[PageLoad], None] | None = None,
    stop: StopFlag | None = None,
) -> list[PageLoad]:
    """Load every page of the scenario with ``browser`` (one visitor: shared cookies and
    connections), check each page's expectations and hand it to ``on_page`` as it completes."""
    pages: list[PageLoad] = []
    for step in scenario.steps:
        if stop is not None and stop.is_set():
            break
        url = step_url(scenario, step, base_override)
        page = browser.load(
            url,
            method=step.method,
            form=dict(step.form) if step.form is not None else None,
            label=f"{scenario.name}: {step.label}",
            status_expected=bool(step.expect_status),
        )
        page.expectations = check(step, page)
        pages.append(page)
        if on_page is not None:
            on_page(page)
    return pages
