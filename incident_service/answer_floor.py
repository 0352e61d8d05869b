"""Answers that must not tell who is a customer take as long for everyone (docs/security.md R3).

A report for a customer's address locks the password, rotates the stamp, issues a grant and queues an
email; one for an unknown address stores the report alone, so it answered in about a third of the
time and a stopwatch told the two apart. Each such answer is now held until a floor: the recent
99th percentile of the slow (customer) path, times 1.5, and never less than ANSWER_FLOOR_MS. A
customer's answer is rarely held at all; an unknown address's is held about as long as a customer's
would have taken. The floor learns only from customers' answers, which a prober cannot make faster.
Sleeping costs a thread, not CPU; the floor is per process and per form, and a worker is cold until it has
learned from the answers of WARM_AFTER different customers on that form: its first customers' reports
compile statements and templates, several at once, and their answers took up to 242 ms under 16
connections where a warm worker's took 62 to 88 ms (bench/r3_load.py, issue 17), so until then every
answer is held to at least ANSWER_FLOOR_COLD_MS, and the cold answers' work counts until the floor has
learned from WARM_AFTER different customers' answers warm (a worker that answers few kept its slowest first
ones as its 99th percentile). Once warm, the floor is never less than ANSWER_FLOOR_MS:
set it above the p99 of a customer's report the deployment sees (`make bench` prints the figure its workers
learned under load). A process's threads do that work a few at a time (ANSWER_WORK_TURNS, `turn`), and the
floor learns the work, not the wait for a turn. A random share of the floor (up to a fifth) is added to
every answer: what little work still follows the hold (a customer's request has more to tidy up) would
otherwise be a steady, measurable offset between two narrow distributions.

What the floor still tells (docs/security.md, R3): it moves with the customers' answers it learns from.
On a restarted worker nobody else uses, a prober who made 19 different customers' answers its own (its own
accounts, if it has that many; each report on a form locks that password and opens an incident, each
fresh-link request mails a link or is throttled), then asked about an address, would see strangers'
answers fall from the cold floor to the warm one if that address was a customer's. Before the cold floor
the same step came after one answer. Likewise, on a worker whose first answers were slower than its later
ones, the floor steps down again when the cold answers are forgotten, at WARM_AFTER different customers'
warm answers: one sooner if an address asked about after warming was a customer's; the same 19 accounts.
The fresh-link form, used less, is where a worker is most often cold. Under a load past what the turns (or
SQLite's writer turn) pass, a report's wait and work together pass the floor, and its answer is not held:
its own work then shows. And a path a worker has not run yet (a report joining an open incident, the other
language's templates) is slow the first time, after the worker is warm.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Callable

from flask import Flask, current_app
from werkzeug.exceptions import ServiceUnavailable

from .database import waited_for_writer_turns
from .extensions import db

WINDOW = 200
PERCENTILE = 0.99
MARGIN = 1.5
JITTER = 0.2
# A worker's first customers' reports arrive together (up to gunicorn.conf.py's 16 threads) and are each
# slowed by the others': under 16 connections the first 16 answers, about 8 a worker, were slow and the
# next a warm worker's (own runs, issue 17's sixth pass). The threads and a margin: with more threads,
# raise it.
WARM_AFTER = 20


class AnswerFloor:
    def __init__(
        self,
        minimum_seconds: float,
        *,
        cold_seconds: float = 0.0,
        clock: Callable[[], float] = time.perf_counter,
        work_clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] | None = None,
        turns: threading.Semaphore | None = None,
        turn_timeout_seconds: float = 10.0,
        in_transaction: Callable[[], bool] | None = None,
    ) -> None:
        self.minimum = minimum_seconds
        # The process's work turns (ANSWER_WORK_TURNS), shared by its floors; none: every thread at once.
        self._turns, self._turn_timeout = turns, turn_timeout_seconds
        # Whether this thread has a database transaction open (init_app: the app's session's), which a
        # thread must not hold while it waits for a turn (turn()).
        self._in_transaction = in_transaction
        self.cold = cold_seconds
        self._jitter = jitter or random.Random().random
        self._slow_path: deque[float] = deque(maxlen=WINDOW)
        # The customers whose answers it has learned from, until WARM_AFTER of them: warmth counts each
        # customer once, so that nobody warms a worker by reporting their own address over and over.
        self._warming: set[int] | None = set()
        # The work of the answers begun while cold, counted until the floor has learned from WARM_AFTER
        # different customers' answers begun warm: a worker's first reports compile statements and templates
        # (85 and 88 ms, against 4 to 14 ms after, in one PostgreSQL worker under load), and a worker that
        # had answered fewer than WINDOW customers since kept them as its 99th percentile: of 4 workers, the
        # one with 2 or 3 of 16 kept-open connections held every answer to 1.5 × that (143 to 162 ms instead
        # of 60), and the load made 176-192 reports a second instead of about 215 (issue 17, eighth pass).
        # Different customers, as for warmth: counted by answers, one account's reports would step the floor
        # down at a count a prober could move by one with an address it asks about.
        self._cold_path: deque[float] = deque(maxlen=WINDOW)
        self._warm_customers: set[int] | None = set()  # None once the cold answers are forgotten
        self._lock = threading.Lock()
        self._clock, self._sleep = clock, sleep
        # An injected clock (tests) stands for both; otherwise the work clock leaves out writer turns.
        self._work_clock = work_clock or (working_clock if clock is time.perf_counter else clock)

    def floor(self) -> float:
        with self._lock:
            samples, warm = self._learned(), self._warming is None
        least = self.minimum if warm else max(self.minimum, self.cold)
        if not samples:
            return least
        return max(least, samples[int(PERCENTILE * (len(samples) - 1))] * MARGIN)

    def samples(self) -> list[float]:
        """The customers' work, in seconds, the floor now learns from (the last WINDOW, and those learned
        while cold until WARM_AFTER have been learned warm), smallest first."""
        with self._lock:
            return self._learned()

    def warm(self) -> bool:
        """Whether it has learned from WARM_AFTER different customers' answers (no longer held to the cold floor)."""
        with self._lock:
            return self._warming is None

    def _learned(self) -> list[float]:
        return sorted([*self._cold_path, *self._slow_path])

    def start(self) -> tuple[float, float, bool]:
        """When the work began, on both clocks, and whether the worker was cold then."""
        with self._lock:
            cold = self._warming is not None
        return self._clock(), self._work_clock(), cold

    @contextmanager
    def turn(self) -> Iterator[None]:
        """The work of an answer (between start() and hold()), a few threads of the process at a time
        (ANSWER_WORK_TURNS). The wait for a turn is left out of the work the floor learns, as the wait for
        SQLite's writer turn is (working_clock): on PostgreSQL a worker's 16 threads doing the work together
        queued for its one interpreter, and the floor learned that queue and held every answer to 1.5 × it
        (issue 17, eighth pass). Every report waits for a turn alike, whoever it names; the answer is still
        held on the wall clock, the wait included (hold).

        No transaction may be open while a thread waits: on SQLite every transaction holds the process's
        writer turn from its first statement, which the threads holding the work turns would wait for
        while this one waits for theirs (a review found the emailed link's report did, its token read
        first). A turn not had within the lock timeout (DATABASE_LOCK_TIMEOUT_MS) is a 503, as a
        database lock not had is: nothing was stored."""
        if self._turns is None:
            yield
            return
        if self._in_transaction is not None and self._in_transaction():
            raise RuntimeError("a work turn was asked for with a database transaction open: end it first")
        asked = time.perf_counter()
        if not self._turns.acquire(timeout=self._turn_timeout):
            raise ServiceUnavailable("no work turn within the lock timeout")
        try:
            _turn_waits.seconds = waited_for_work_turns() + time.perf_counter() - asked
            yield
        finally:
            self._turns.release()

    def hold(self, started: tuple[float, float, bool], *, customer: int | None) -> None:
        """Called as the answer is ready, `started` being `start()` when the work began; `customer` is the
        customer whose work this answer did (the slow path), None for an unknown address. Sleeps until the
        floor.

        The floor learns from the work alone (`working_clock`: not the wait for SQLite's writer turn,
        which grew with the queue and the floor with it: issue 17), and the answer is held on the wall
        clock, the wait included: how long a report waited says how long the reports ahead of it took,
        and so whose they were, unless the floor covers it."""
        wall, work, begun_cold = started
        if customer is not None:
            with self._lock:
                self._learn(self._work_clock() - work, customer, begun_cold)
        floor = self.floor()
        remaining = floor * (1 + JITTER * self._jitter()) - (self._clock() - wall)
        if remaining > 0:
            self._sleep(remaining)

    def _learn(self, seconds: float, customer: int, begun_cold: bool) -> None:
        """A customer's work, under the lock: an answer begun cold counts until the cold ones are forgotten
        (a compiling answer that ends after the worker warmed is still a cold one; after they are forgotten,
        it is not learned)."""
        if self._warming is not None:
            self._warming.add(customer)
            if len(self._warming) >= WARM_AFTER:
                self._warming = None
        if begun_cold:
            if self._warm_customers is not None:
                self._cold_path.append(seconds)
            return
        self._slow_path.append(seconds)
        if self._warm_customers is not None:
            self._warm_customers.add(customer)
            if len(self._warm_customers) >= WARM_AFTER:
                self._cold_path.clear()
                self._warm_customers = None


_turn_waits = threading.local()


def waited_for_work_turns() -> float:
    """Seconds this thread has spent waiting for a work turn (AnswerFloor.turn), ever."""
    seconds: float = getattr(_turn_waits, "seconds", 0.0)
    return seconds


def working_clock() -> float:
    """A clock that stands still while this thread waits for SQLite's writer turn or for a work turn:
    under load a report waits there for the reports ahead of it, customers' and strangers' alike, and
    counting that wait as work made the floor grow with the queue (1.5 × its p99) until it, not the work,
    limited the answers per second (issue 17). The floor learns from this clock; answers are held on the
    wall's."""
    return time.perf_counter() - waited_for_writer_turns() - waited_for_work_turns()


def answer_floor(name: str) -> AnswerFloor:
    """The floor for one form (`report`, `fresh_link`), one per process."""
    floors: dict[str, AnswerFloor] = current_app.extensions["answer_floors"]
    return floors[name]


def init_app(app: Flask) -> None:
    minimum, cold = app.config["ANSWER_FLOOR_MS"] / 1000, app.config["ANSWER_FLOOR_COLD_MS"] / 1000
    turns = threading.BoundedSemaphore(app.config["ANSWER_WORK_TURNS"])
    app.extensions["answer_floors"] = {
        name: AnswerFloor(
            minimum,
            cold_seconds=cold,
            turns=turns,
            turn_timeout_seconds=app.config["DATABASE_LOCK_TIMEOUT_MS"] / 1000,
            in_transaction=lambda: db.session().in_transaction(),
        )
        for name in ("report", "fresh_link")
    }
