"""Email import, end to end (store, parse, match, reactivate, queue, audit, commit per message), in
messages per second, against bare `email.message_from_bytes` parsing of the same messages."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path

from incident_service.customers.service import add_customer
from incident_service.database import utcnow
from incident_service.extensions import db
from incident_service.intake.cli import _import_one

from .common import best_of, throwaway_app

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "intake" / "corpus"
SAMPLES = ["plain.eml", "alternative.eml", "html_only.eml", "qp_cp1258.eml", "attachments.eml", "forwarded.eml"]


def messages(count: int) -> list[bytes]:
    """`count` distinct messages: corpus bodies, each with its own Message-ID and one of 200 senders."""
    bodies = [(CORPUS / name).read_bytes() for name in SAMPLES]
    out = []
    for n in range(count):
        lines = bodies[n % len(bodies)].split(b"\n")
        header_end = lines.index(b"")
        for index in range(header_end):
            if lines[index].startswith(b"From: "):
                lines[index] = f"From: customer{n % 200}@example.com".encode()
            elif lines[index].startswith(b"Message-ID: "):
                lines[index] = f"Message-ID: <bench-{n}@example.com>".encode()
        out.append(b"\n".join(lines))
    return out


def run(count: int = 2000) -> dict[str, float]:
    mail = messages(count)
    bare = best_of(3, lambda: [email.message_from_bytes(raw, policy=policy.default) for raw in mail])
    with throwaway_app() as app, app.app_context():
        for n in range(150):  # three in four senders are customers
            add_customer(
                f"customer{n}@example.com",
                name="",
                locale="vi",
                password=None,
                source="cli",
                actor="bench",
                now=utcnow(),
            )
        db.session.commit()
        elapsed = best_of(1, lambda: [_import_one(f"bench:{n}", raw) for n, raw in enumerate(mail)])
    return {
        "messages": count,
        "bare_per_s": count / bare,
        "import_per_s": count / elapsed,
        "ratio": (count / elapsed) / (count / bare),
    }


if __name__ == "__main__":
    print(run())
