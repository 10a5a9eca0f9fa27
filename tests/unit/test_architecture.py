"""The import rules of ARCHITECTURE.md, read from the source with ast (nothing is imported).

* Every module of ``services/socketlab`` imports only the standard library and ``socketlab``:
  the images build with the network off, so a third-party import would fail only there.
* The shared core imports no library and no service; libraries import the core and, where the
  table says so, each other; a service imports the core and libraries, never another service.
* Every top-level package or module is classified here and named in ARCHITECTURE.md, so a new
  one cannot slip in without saying where it belongs.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "services" / "socketlab"

CORE = frozenset(
    {
        "http",
        "static",
        "settings",
        "logs",
        "listener",
        "whoami",
        "healthcheck",
        "status",
        "ledger",
        "structs",
        "jsontext",
    }
)
"""Shared by every service; imports only the standard library and other core modules."""

LIBRARIES: dict[str, frozenset[str]] = {
    "framework": frozenset(),
    "labapp": frozenset({"framework"}),
    "wsgi": frozenset(),
    "asgi": frozenset(),
}
"""Reusable pieces that are not services, and which other libraries each may import."""

SERVICES: dict[str, frozenset[str]] = {
    "threaded_web": frozenset(),
    "multiprocess_web": frozenset({"wsgi"}),
    # wsgi for load_app only: an application is loaded by name whatever the callable speaks.
    "coroutine_web": frozenset({"asgi", "wsgi"}),
    "udp_chat": frozenset(),
    "browser": frozenset(),
    "grader": frozenset(),
    "impair": frozenset(),
}
"""Each service, and the libraries it may import (the core it may always import)."""


def top_level_names() -> list[str]:
    """The package's top-level modules and subpackages, as ``socketlab.<name>``."""
    names = []
    for path in sorted(PACKAGE.iterdir()):
        if path.name.startswith(("_", ".")):
            continue
        if path.is_dir() and (path / "__init__.py").exists():
            names.append(path.name)
        elif path.suffix == ".py":
            names.append(path.stem)
    return names


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of(path: Path) -> str:
    """The package a relative import in ``path`` starts from."""
    name = module_name(path)
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def imported(path: Path) -> set[str]:
    """Absolute names of the modules a file imports, relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                base = node.module or ""
            else:
                parts = package_of(path).split(".")
                anchor = parts[: len(parts) - node.level + 1]
                base = ".".join([*anchor, node.module] if node.module else anchor)
            names.add(base)
            # `from .. import logs` imports the module socketlab.logs; `from .. import
            # __version__` only a name of the package socketlab itself.
            for alias in node.names:
                if is_module(f"{base}.{alias.name}"):
                    names.add(f"{base}.{alias.name}")
    return names


def is_module(name: str) -> bool:
    """Whether ``socketlab.a.b`` names a module or package in the source tree."""
    if not name.startswith("socketlab."):
        return False
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def owner(module: str) -> str:
    """The top-level name a ``socketlab.*`` module belongs to."""
    return module.split(".")[1]


def test_every_top_level_name_is_classified() -> None:
    known = CORE | LIBRARIES.keys() | SERVICES.keys()
    unknown = [name for name in top_level_names() if name not in known]
    assert not unknown, f"classify {unknown} in tests/unit/test_architecture.py and ARCHITECTURE.md"


def test_architecture_md_names_every_package() -> None:
    text = (REPO / "ARCHITECTURE.md").read_text(encoding="utf-8")
    missing = [name for name in top_level_names() if f"`{name}" not in text]
    assert not missing, f"ARCHITECTURE.md does not describe {missing}"


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_the_standard_library_and_socketlab(path: Path) -> None:
    foreign = sorted(
        name
        for name in imported(path)
        if name.split(".")[0] not in sys.stdlib_module_names and name.split(".")[0] != "socketlab"
    )
    assert not foreign, f"{path.name} imports {foreign}: services use the standard library only"


def violations(me: str, names: set[str]) -> list[str]:
    """The ``socketlab.*`` names among ``names`` that code of top-level ``me`` may not import."""
    if me in CORE:
        allowed: frozenset[str] = CORE
    elif me in LIBRARIES:
        allowed = CORE | LIBRARIES[me] | {me}
    else:
        allowed = CORE | SERVICES.get(me, frozenset()) | {me}
    ours = {name for name in names if name.startswith("socketlab.")}
    return sorted(name for name in ours if owner(name) not in allowed)


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_follow_the_layers(path: Path) -> None:
    if path == PACKAGE / "__init__.py":
        return  # the package's own __init__ holds only the version
    me = owner(module_name(path))
    wrong = violations(me, imported(path))
    assert not wrong, f"{module_name(path)} ({me}) may not import {wrong}"


def test_the_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    """The rules are not vacuous: a service importing another service is caught."""
    names = imported(PACKAGE / "threaded_web" / "server.py")
    assert "socketlab.http.connection" in names
    assert "socketlab.logs" in names  # `from .. import logs` resolves to the module
    bad = tmp_path / "x.py"
    bad.write_text("from socketlab.udp_chat import relay\nimport requests\n")
    names = imported(bad)
    assert {"socketlab.udp_chat", "socketlab.udp_chat.relay", "requests"} <= names
    assert violations("threaded_web", names) == ["socketlab.udp_chat", "socketlab.udp_chat.relay"]
    assert violations("http", {"socketlab.framework"}) == ["socketlab.framework"]
    assert violations("multiprocess_web", {"socketlab.wsgi.gateway", "socketlab.http"}) == []
    assert "socketlab.__version__" not in imported(PACKAGE / "wsgi" / "gateway.py")
