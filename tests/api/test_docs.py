"""docs/api.md's curl examples, run in order against a live server with a key of every scope."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.api.conftest import MakeKey

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
EXAMPLE = re.compile(r"```sh\n(.*?)```", re.DOTALL)


def examples() -> list[str]:
    return EXAMPLE.findall(DOC.read_text(encoding="utf-8"))


def test_the_guide_has_its_examples() -> None:
    found = examples()
    assert len(found) >= 8 and all(example.startswith("curl ") for example in found)


@pytest.mark.real_commits
def test_the_curl_examples_work(live_server: str, api_key: MakeKey) -> None:
    environment = {**os.environ, "BASE": live_server, "KEY": api_key("docs")}
    for example in examples():
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", example], env=environment, capture_output=True, text=True, timeout=30
        )
        assert done.returncode == 0, (example, done.stdout, done.stderr)
        answer = json.loads(done.stdout)
        assert isinstance(answer, dict) and "type" not in answer, (example, answer)
