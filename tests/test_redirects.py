"""After a form, the browser goes to a path on this site only (issue 11, item 8: no open redirect)."""

from __future__ import annotations

import pytest

from incident_service.redirects import local_path
from tests.helpers import csrf_from


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "/\\evil.example",
        "https://evil.example/",
        "/\x00",
        "/report\r\nSet-Cookie: x=1",
        "",
        None,
        "report",
        "/ /evil.example",
        "/\x7f",
    ],
)
def test_anything_but_a_plain_local_path_is_refused(target) -> None:  # type: ignore[no-untyped-def]
    assert local_path(target) is None


def test_plain_paths_pass() -> None:
    assert local_path("/report?x=1#y") == "/report?x=1#y"
    assert local_path("/console/incidents/4", under="/console/") == "/console/incidents/4"
    assert local_path("/report", under="/console/") is None


@pytest.mark.parametrize("target", ["/\t/evil.example", "/report\x01", "/x\r\nLocation: //evil.example"])
def test_language_switch_never_errs_nor_leaves_the_site(client, target) -> None:  # type: ignore[no-untyped-def]
    token = csrf_from(client.get("/").get_data(as_text=True))
    answer = client.post("/locale", data={"locale": "en", "next": target, "csrf_token": token})
    assert answer.status_code == 302 and answer.headers["Location"] == "/"
