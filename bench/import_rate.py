"""Email import, end to end (store, parse, match, reactivate, queue, audit, commit), in messages per
second, against bare `email.message_from_bytes` parsing of the same messages: as `flask intake import`
does it (commits in batches of 200 messages or BATCH_SECONDS, the next messages read in child processes
meanwhile), and for reference with a commit per message (`--batch 1`)."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path

from incident_service.customers.service import add_customer
from incident_service.database import utcnow
from incident_service.extensions import db
from incident_service.intake.batches import DEFAULT_BATCH, LOOKAHEAD, import_messages
from incident_service.intake.models import VIA_IMPORT
from incident_service.intake.service import Envelope, start_reading

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


def prepare(mail: list[bytes]) -> None:
    """In an app context on a fresh database: 150 of the 200 senders made customers (three in four), and
    the children that read ahead started, as a real run's first messages start them (about a second of
    CPU each, once per run), so that a figure is the rate once they run."""
    for n in range(150):
        add_customer(
            f"customer{n}@example.com", name="", locale="vi", password=None, source="cli", actor="bench", now=utcnow()
        )
    db.session.commit()
    for reading in [start_reading(mail[0], envelope=Envelope(), via=VIA_IMPORT) for _ in range(LOOKAHEAD + 1)]:
        reading.result()


def _import(mail: list[bytes], batch: int) -> float:
    """Seconds to import `mail` into a fresh database with 150 of its 200 senders customers."""
    with throwaway_app() as app, app.app_context():
        prepare(mail)
        statuses: list[str] = []
        elapsed = best_of(
            1,
            lambda: import_messages(
                ((f"bench:{n}", raw) for n, raw in enumerate(mail)),
                batch=batch,
                done=lambda _label, status: statuses.append(status),
            ),
        )
        assert len(statuses) == len(mail) and set(statuses) == {"reported"}, set(statuses)
    return elapsed


def run(count: int = 2000) -> dict[str, float]:
    mail = messages(count)

    def parse_all() -> None:
        for raw in mail:
            email.message_from_bytes(raw, policy=policy.default)

    bare = best_of(3, parse_all)
    batched = _import(mail, DEFAULT_BATCH)
    reference = mail[:500]  # a commit per message, on fewer messages: it is slow
    each = _import(reference, 1)
    return {
        "messages": count,
        "bare_per_s": count / bare,
        "import_per_s": count / batched,
        "ratio": (count / batched) / (count / bare),
        "commit_each_per_s": len(reference) / each,
    }


if __name__ == "__main__":
    print(run())
