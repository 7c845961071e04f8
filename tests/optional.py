"""Optional test dependencies: skipped on a developer's machine that lacks them, but required
under CI (``CI=true``), where `.ci/run` installs them, so a broken install fails instead of
silently skipping."""

from __future__ import annotations

import importlib
import os
import shutil
from types import ModuleType

import pytest


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_module(name: str) -> ModuleType:
    if _in_ci():
        return importlib.import_module(name)
    return pytest.importorskip(name)


def require_chromium() -> str:
    """The path of Debian's chromium (Playwright drives it; it never downloads a browser here)."""
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if os.path.exists(path):
        return path
    if _in_ci():
        raise RuntimeError("CI must install Debian's chromium for the browser test (.ci/run does)")
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)
