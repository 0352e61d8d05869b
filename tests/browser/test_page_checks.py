"""The checks every walked page must pass are able to fail: each is shown a page with the fault it exists
to catch, in Debian's chromium."""

from __future__ import annotations

import pytest

from tests.browser.screens import page_problems

pytestmark = pytest.mark.browser

CLEAN = """<!doctype html><html lang="vi"><head><title>Trang</title></head>
<body><main><h1>Báo cáo</h1><label for="a">Địa chỉ</label><input id="a" name="a"></main></body></html>"""


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('<div style="width:2000px">rộng</div>', "wider than the window"),
        ('<p id="x">một</p><p id="x">hai</p>', "duplicate id 'x'"),
        ('<input name="lonely">', "control without a label: lonely"),
        ("<button></button>", "axe critical button-name"),
        ('<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">', "axe critical image-alt"),
        ('<p style="color:#eee;background:#fff">nhạt</p>', "axe serious color-contrast"),
        ("<p>web:report:received</p>", "raw code on a Vietnamese page: 'web:report:received'"),
        ("<p>Mật khẩu đã được reset</p>", "English on a Vietnamese page: 'reset'"),
    ],
)
def test_each_check_catches_its_fault(browser_page, body: str, expected: str) -> None:  # type: ignore[no-untyped-def]
    browser_page.set_viewport_size({"width": 390, "height": 844})
    browser_page.set_content(CLEAN)
    assert page_problems(browser_page, "vi") == []
    browser_page.set_content(CLEAN.replace("</main>", body + "</main>"))
    problems = page_problems(browser_page, "vi")
    assert any(problem.startswith(expected) for problem in problems), problems


def test_text_of_neighbouring_blocks_and_attributes_is_checked(browser_page) -> None:  # type: ignore[no-untyped-def]
    """Two blocks never run together into one word that hides an English one, and what a browser shows
    or reads out from attributes is checked too."""
    browser_page.set_content(
        CLEAN.replace("</main>", '<p>Địa chỉ</p><p>password</p><span title="Reset">x</span></main>')
    )
    problems = page_problems(browser_page, "vi")
    assert any("'password'" in problem for problem in problems), problems
    assert any("'Reset'" in problem for problem in problems), problems
