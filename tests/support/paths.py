"""Where things are in the repository, found from this file (not from the working directory)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SERVICES = REPO / "services"
WWW = SERVICES / "www"
LAB_SCRIPTS = REPO / "docs" / "labs" / "scripts"
