"""Screenshots of the pages the browser tests walk through, for docs/ and for people to look at."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

# `make screenshots` sets SCREENSHOTS_DIR to docs/screenshots; a plain test run still takes every
# screenshot (the page must render) but into a temporary folder, so it leaves the tree clean.
SCREENSHOTS = Path(os.environ.get("SCREENSHOTS_DIR") or Path(tempfile.gettempdir()) / "incident_service-screenshots")


def shoot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
