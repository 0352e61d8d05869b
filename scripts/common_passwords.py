"""Rebuild incident_service/data/common-passwords.txt from a SecLists common-credentials list.

    python scripts/common_passwords.py 10-million-password-list-top-1000000.txt

Keeps what our length rule would otherwise accept (15 characters or more), lower-cased, in order.
"""

from __future__ import annotations

import sys
from pathlib import Path

MIN_LENGTH = 15
TARGET = Path(__file__).resolve().parent.parent / "incident_service" / "data" / "common-passwords.txt"


def main(source: str) -> None:
    seen: dict[str, None] = {}
    for line in Path(source).read_text(encoding="utf-8", errors="replace").splitlines():
        word = line.strip()
        if len(word) >= MIN_LENGTH:
            seen.setdefault(word.lower(), None)
    TARGET.write_text("\n".join(seen) + "\n", encoding="utf-8")
    print(f"{len(seen)} passwords written to {TARGET}")


if __name__ == "__main__":
    main(sys.argv[1])
