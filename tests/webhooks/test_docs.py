"""docs/webhooks.md's verification examples (plain Python, and openssl) accept what the worker signs."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from incident_service.database import utcnow
from incident_service.webhooks.delivery import signed_headers
from incident_service.webhooks.service import new_secret

DOC = (Path(__file__).resolve().parents[2] / "docs" / "webhooks.md").read_text()
BODY = '{"data":{"incident":"INC-2026-000123"},"timestamp":"2026-11-29T23:35:20.114Z","type":"incident.opened"}'


def block(first_line: str, language: str) -> str:
    match = re.search(rf"```{language}\n({re.escape(first_line)}.*?)```", DOC, re.S)
    assert match, f"no {language} block starting {first_line!r} in docs/webhooks.md"
    return match.group(1)


def test_the_plain_python_example_verifies_both_signatures_and_refuses_a_changed_body() -> None:
    namespace: dict[str, Any] = {}
    exec(block("# verify_webhook.py", "python"), namespace)  # noqa: S102 - our own documentation
    verify = namespace["verify"]
    old, new = new_secret(), new_secret()
    headers = signed_headers("msg_doc", BODY, [new, old], utcnow())
    assert verify(old, BODY.encode(), headers)["type"] == "incident.opened"
    assert verify(new, BODY.encode(), headers)["type"] == "incident.opened"
    with pytest.raises(ValueError, match="no matching signature"):
        verify(new, BODY.replace("123", "124").encode(), headers)
    stale = signed_headers("msg_doc", BODY, [new], utcnow() - timedelta(minutes=10))
    with pytest.raises(ValueError, match="timestamp"):
        verify(new, BODY.encode(), stale)


@pytest.mark.skipif(not all(shutil.which(tool) for tool in ("openssl", "xxd", "base64")), reason="needs openssl, xxd")
def test_the_openssl_example_computes_the_signature(tmp_path: Path) -> None:
    secret = new_secret()
    headers = signed_headers("msg_doc", BODY, [secret], utcnow())
    script = block("SECRET=", "sh").replace("SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", f"SECRET='{secret}'")
    (tmp_path / "body.json").write_text(BODY)
    result = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "WEBHOOK_ID": "msg_doc", "WEBHOOK_TIMESTAMP": headers["webhook-timestamp"]},
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"v1,{result.stdout.strip()}" == headers["webhook-signature"]
