"""Write requirements-test.lock: every package of .venv, pinned, with its hash (``make lock``).

pyproject.toml pins the direct test and lint dependencies; their own dependencies would float.
This resolves the dependency group ``test`` with ``pip lock`` (PEP 751) and writes the result in
requirements format, one ``name==version --hash=sha256:...`` per package, which
``pip install --require-hashes`` checks. The first line records the interpreter and platform the
hashes are for: compiled wheels differ between Python versions, so the Makefile installs from
the lock only on a matching interpreter (CI's), and from pyproject's pins elsewhere.

Run it with the venv's python: ``.venv/bin/python scripts/lock.py``.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import tempfile
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "requirements-test.lock"
GROUP = "test"


def interpreter_tag() -> str:
    """What the hashes depend on, e.g. ``cp311-linux-x86_64``."""
    version = f"cp{sys.version_info.major}{sys.version_info.minor}"
    return f"{version}-{sysconfig.get_platform()}"


def lock_lines(pylock: dict[str, object]) -> list[str]:
    lines = []
    packages = pylock.get("packages", [])
    assert isinstance(packages, list)
    for package in sorted(packages, key=lambda p: str(p["name"]).lower()):
        files = [*package.get("wheels", []), *([package["sdist"]] if "sdist" in package else [])]
        hashes = sorted({f["hashes"]["sha256"] for f in files})
        if not hashes:
            raise SystemExit(f"lock: no hash for {package['name']}")
        pins = " ".join(f"--hash=sha256:{h}" for h in hashes)
        lines.append(f"{package['name']}=={package['version']} {pins}")
    return lines


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "pylock.toml"
        subprocess.run(
            [sys.executable, "-m", "pip", "lock", "--quiet", "--group", GROUP, "-o", str(out)],
            cwd=REPO,
            check=True,
        )
        pylock = tomllib.loads(out.read_text(encoding="utf-8"))
    header = [
        f"# interpreter: {interpreter_tag()}",
        f"# The dependency group '{GROUP}' of pyproject.toml, resolved (make lock writes it).",
    ]
    LOCK.write_text("\n".join([*header, *lock_lines(pylock)]) + "\n", encoding="utf-8")
    print(f"lock: wrote {LOCK.name} ({len(lock_lines(pylock))} packages, {interpreter_tag()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
