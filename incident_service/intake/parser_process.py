"""Reading untrusted mail in a separate process that is killed at its deadline (docs/security.md M1).

The stdlib parser can spend minutes on a few kilobytes of hostile headers, and a thread cannot be
stopped. So `parse_within` hands the bytes to a child process and waits at most `limits.max_seconds`;
past that the child is killed (the work really stops) and the message is quarantined with the reason
`parse_time`. Children are started with `spawn` (safe in a threaded listener), reused between
messages, and as many run as messages are being read at once.
"""

from __future__ import annotations

import multiprocessing
import resource
import threading
from multiprocessing.connection import Connection
from typing import Any

from .parsing import CompanyMta, Limits, ParsedMessage, Quarantine, parse_message

_CONTEXT = multiprocessing.get_context("spawn")


def _serve(connection: Connection) -> None:
    """The child's loop: read (raw, keyword arguments), answer ("ok", parsed) or ("quarantine", ...)."""
    # Hostile MIME must not take the host's memory: past this the parse fails (MemoryError, quarantined).
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    connection.send("ready")  # imports are done: the deadline measures reading alone
    while True:
        try:
            raw, kwargs = connection.recv()
        except EOFError:
            return
        try:
            answer: tuple[Any, ...] = ("ok", parse_message(raw, **kwargs))
        except Quarantine as quarantine:
            answer = ("quarantine", quarantine.reason, quarantine.detail)
        except Exception as exc:  # noqa: BLE001 - parse_message turns parser failures into Quarantine already
            answer = ("quarantine", "unparseable", f"{type(exc).__name__}: {exc}"[:500])
        connection.send(answer)


STARTUP_SECONDS = 60
MEMORY_BYTES = 1024 * 1024 * 1024
MAX_IDLE = 4  # children kept for reuse; more are started when more mail is read at once, then stopped


class _Child:
    def __init__(self) -> None:
        self.connection, child_end = _CONTEXT.Pipe()
        self.process = _CONTEXT.Process(target=_serve, args=(child_end,), daemon=True, name="intake-parser")
        self.process.start()
        child_end.close()
        if not self.connection.poll(STARTUP_SECONDS) or self.connection.recv() != "ready":
            self.stop()
            raise RuntimeError("the mail-reading process did not start")

    def stop(self) -> None:
        self.process.kill()
        self.process.join()
        self.process.close()
        self.connection.close()


class ParserProcesses:
    """Idle children, reused; a killed or broken child is replaced by a new one when next needed."""

    def __init__(self) -> None:
        self._idle: list[_Child] = []
        self._lock = threading.Lock()
        self.reading = 0  # messages being read right now (for /metrics-like looks and for tests)

    def _take(self) -> _Child:
        with self._lock:
            while self._idle:
                child = self._idle.pop()
                if child.process.is_alive():
                    return child
                child.stop()  # died while idle (killed from outside): never hand it mail
        return _Child()

    def _give_back(self, child: _Child) -> None:
        with self._lock:
            if len(self._idle) < MAX_IDLE:
                self._idle.append(child)
                return
        child.stop()

    def parse(self, raw: bytes, *, limits: Limits, **kwargs: Any) -> ParsedMessage:
        """parse_message in a child, stopped at `limits.max_seconds`; raises Quarantine as it does.

        A child that dies (killed from outside; memory is capped, so hostile mail fails inside it
        instead) is replaced and the message given to the new one, once: a report is not lost because
        a process died."""
        with self._lock:
            self.reading += 1
        try:
            return self._parse(raw, limits=limits, **kwargs)
        finally:
            with self._lock:
                self.reading -= 1

    def _parse(self, raw: bytes, *, limits: Limits, **kwargs: Any) -> ParsedMessage:
        for _attempt in range(2):
            child = self._take()
            try:
                child.connection.send((raw, {"limits": limits, **kwargs}))
                answered = child.connection.poll(limits.max_seconds)
                answer = child.connection.recv() if answered else None
            except (EOFError, OSError):
                child.stop()
                continue
            if answer is None:
                child.stop()
                raise Quarantine("parse_time", f"reading took longer than {limits.max_seconds} s and was stopped")
            self._give_back(child)
            break
        else:
            raise Quarantine("unparseable", "the reading process died twice on this message")
        if answer[0] == "quarantine":
            raise Quarantine(answer[1], answer[2])
        parsed: ParsedMessage = answer[1]
        return parsed

    def stop(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for child in idle:
            child.stop()


PARSERS = ParserProcesses()


def parse_within(
    raw: bytes,
    *,
    authserv_id: str,
    limits: Limits,
    envelope_sender: str | None = None,
    company: CompanyMta | None = None,
) -> ParsedMessage:
    """parse_message in a child process with a hard deadline (see the module's docstring)."""
    return PARSERS.parse(raw, authserv_id=authserv_id, limits=limits, envelope_sender=envelope_sender, company=company)
