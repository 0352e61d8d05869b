"""One production-shaped stack for the whole tests/production run (see stack.py)."""

from __future__ import annotations

import shutil
from typing import Iterator

import pytest

from tests.production.stack import Stack, start_stack, stop_all

# Low enough to reach in a test, as an operator might set it; the rest are the defaults.
LIMIT_REPORT_PER_IP = "10 per minute;200 per day"


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    started, stoppers = start_stack(LIMIT_REPORT_PER_IP=LIMIT_REPORT_PER_IP)
    try:
        yield started
    finally:
        stop_all(stoppers)
        shutil.rmtree(started.root, ignore_errors=True)


@pytest.fixture
def chromium_page(stack: Stack):  # type: ignore[no-untyped-def]
    """Debian's chromium trusting the stack's server key (and nothing else it would not trust)."""
    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, f"--ignore-certificate-errors-spki-list={stack.spki}"]
        )
        context = browser.new_context(locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh")
        page = context.new_page()
        try:
            yield page
        finally:
            context.close()
            browser.close()
