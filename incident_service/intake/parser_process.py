"""Reading untrusted mail in a separate process that is killed at its deadline (docs/security.md M1).

The stdlib parser can spend minutes on a few kilobytes of hostile headers, and a thread cannot be
stopped. So `parse_within` hands the bytes to a child process and waits at most `limits.max_seconds`;
past that the child is killed (the work really stops) and the message is quarantined with the reason
`parse_time`. Children are started with `spawn` (safe in a threaded listener), reused between
messages, and as many run as messages are being read at once.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import threading
import time
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
# Children kept for reuse: as many as the listener's worker threads (asyncio's default executor) read
# at once. More are started when more mail is read at once, then stopped. With 4 kept, 8 concurrent
# senders had children started and stopped every few messages, each start importing the app (about a
# second of CPU): the listener answered 49 messages/s where it now answers over twice that (issue 17).
MAX_IDLE = min(32, (os.cpu_count() or 1) + 4)


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

    def _parse(self, raw: bytes, *, limits: Limits, attempts: int = 2, **kwargs: Any) -> ParsedMessage:
        for _attempt in range(attempts):
            child = self._take()
            try:
                child.connection.send((raw, {"limits": limits, **kwargs}))
            except (EOFError, OSError):
                child.stop()
                continue
            answer = self._answer(child, time.monotonic() + limits.max_seconds, limits)
            if answer is not None:
                return _unpack(answer)
        raise Quarantine("unparseable", "the reading process died twice on this message")

    def _answer(self, child: _Child, deadline: float, limits: Limits) -> tuple[Any, ...] | None:
        """The child's answer by `deadline`, the child then given back; None if it died (it is stopped).
        Past the deadline the child is killed and the message quarantined (`parse_time`)."""
        try:
            answered = child.connection.poll(max(deadline - time.monotonic(), 0.0))
            answer: tuple[Any, ...] | None = child.connection.recv() if answered else None
        except (EOFError, OSError):
            child.stop()
            return None
        if answer is None:
            child.stop()
            raise Quarantine("parse_time", f"reading took longer than {limits.max_seconds} s and was stopped")
        self._give_back(child)
        return answer

    def submit(self, raw: bytes, *, limits: Limits, **kwargs: Any) -> Reading:
        """Hand `raw` to a child now and collect the answer later (Reading.result): an importer reads the
        next messages while it stores this one. The deadline runs from the hand-over: a child is idle
        when it is taken, so it starts reading at once."""
        child = self._take()
        handed: _Child | None = child
        try:
            child.connection.send((raw, {"limits": limits, **kwargs}))
        except (EOFError, OSError):
            child.stop()
            handed = None  # result() gives it to a new child, once
        with self._lock:
            self.reading += 1
        return Reading(self, handed, raw, limits, kwargs)

    def stop(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for child in idle:
            child.stop()


def _unpack(answer: tuple[Any, ...]) -> ParsedMessage:
    if answer[0] == "quarantine":
        raise Quarantine(answer[1], answer[2])
    parsed: ParsedMessage = answer[1]
    return parsed


class Reading:
    """A message being read by a child, handed over by ParserProcesses.submit. Call `result` exactly
    once, or `cancel` (a child still reading is killed: nothing is left working in the background)."""

    def __init__(
        self, pool: ParserProcesses, child: _Child | None, raw: bytes, limits: Limits, kwargs: dict[str, Any]
    ) -> None:
        self._pool, self._child, self._raw, self._limits, self._kwargs = pool, child, raw, limits, kwargs
        self._deadline = time.monotonic() + limits.max_seconds
        self._done = False

    def result(self) -> ParsedMessage:
        """What parse_message returns, or its Quarantine; `parse_time` if the child was not done by the
        deadline (it is killed). A child that died is replaced and the message read again, once."""
        if self._done:
            raise RuntimeError("a reading's result is collected once")
        self._done = True
        try:
            if self._child is not None:
                answer = self._pool._answer(self._child, self._deadline, self._limits)
                if answer is not None:
                    return _unpack(answer)
            # The child died: a new one reads it, once (as ParserProcesses.parse does).
            return self._pool._parse(self._raw, limits=self._limits, attempts=1, **self._kwargs)
        finally:
            self._child = None
            with self._pool._lock:
                self._pool.reading -= 1

    def ready(self, *, within: float = 0.0) -> bool:
        """Whether `result` would answer at once, waiting up to `within` seconds for it: the child has
        answered, or died (then `result` reads the message again, which takes time, so not ready)."""
        if self._done or self._child is None:
            return False
        try:
            answered = bool(self._child.connection.poll(within))
        except (EOFError, OSError):
            return False  # the child died: result() reads it again
        # A dead child's pipe polls as readable too (end of file): not ready (review, issue 17).
        return answered and self._child.process.exitcode is None

    def cancel(self) -> None:
        if self._done:
            return
        self._done = True
        if self._child is not None:
            self._child.stop()
            self._child = None
        with self._pool._lock:
            self._pool.reading -= 1


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


def read_ahead(
    raw: bytes,
    *,
    authserv_id: str,
    limits: Limits,
    envelope_sender: str | None = None,
    company: CompanyMta | None = None,
) -> Reading:
    """parse_within, started now and collected later with Reading.result (the same deadline and limits)."""
    return PARSERS.submit(raw, authserv_id=authserv_id, limits=limits, envelope_sender=envelope_sender, company=company)
