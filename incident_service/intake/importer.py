"""Reading mail to import: `.eml` files, mbox files and Maildir folders, one raw message at a time."""

from __future__ import annotations

import mailbox
from pathlib import Path
from typing import Iterator

from ..domain_errors import DomainError


class ImportSourceError(DomainError):
    """A path that is not a readable .eml file, mbox file or Maildir folder."""


def _is_maildir(path: Path) -> bool:
    return all((path / sub).is_dir() for sub in ("cur", "new", "tmp"))


def _is_mbox(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(5) == b"From "


def count_messages(path: Path) -> int:
    if not path.exists():
        raise ImportSourceError(f"{path}: no such file or folder")
    if path.is_dir():
        if _is_maildir(path):
            return len(mailbox.Maildir(str(path), factory=None, create=False))
        return sum(1 for _ in path.glob("*.eml"))
    if _is_mbox(path):
        box: mailbox.Mailbox[mailbox.Message] = mailbox.mbox(str(path), factory=None, create=False)
        try:
            return len(box)
        finally:
            box.close()
    return 1


def iter_messages(path: Path) -> Iterator[tuple[str, bytes]]:
    """Yield (label, raw bytes) for every message under `path`, in a stable order."""
    if not path.exists():
        raise ImportSourceError(f"{path}: no such file or folder")
    if path.is_dir():
        if _is_maildir(path):
            box = mailbox.Maildir(str(path), factory=None, create=False)
            for key in sorted(box.keys()):
                yield f"{path}:{key}", box.get_bytes(key)
            return
        files = sorted(path.glob("*.eml"))
        if not files:
            raise ImportSourceError(f"{path}: a folder that is neither a Maildir nor holds .eml files")
        for file in files:
            yield str(file), file.read_bytes()
        return
    if _is_mbox(path):
        archive = mailbox.mbox(str(path), factory=None, create=False)
        try:
            for index, key in enumerate(archive.keys()):
                yield f"{path}#{index + 1}", archive.get_bytes(key)
        finally:
            archive.close()
        return
    yield str(path), path.read_bytes()
