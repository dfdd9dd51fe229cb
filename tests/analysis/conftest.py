"""Fixtures for the report tests: a real headless browser renders what users open."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture()
def chromium_screenshot(tmp_path: Path) -> Callable[[Path, tuple[int, int]], Path]:
    """Render an HTML file in headless Chromium and return the PNG screenshot's path."""
    if not shutil.which("chromium"):
        pytest.skip("headless chromium not installed")

    def shoot(page: Path, size: tuple[int, int]) -> Path:
        shot = tmp_path / "shot.png"
        subprocess.run(
            [
                "chromium",
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                f"--user-data-dir={tmp_path / 'profile'}",
                f"--screenshot={shot}",
                f"--window-size={size[0]},{size[1]}",
                page.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        return shot

    return shoot
