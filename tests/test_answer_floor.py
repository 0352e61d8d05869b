"""R3's timing (issue 11, item 4): answers that could tell a customer's address from an unknown one are
held until the floor learned from customers' answers. The figures are in `make bench` (r3 timing);
here the rule itself, with an injected clock."""

from __future__ import annotations

import pytest

from incident_service.answer_floor import AnswerFloor, answer_floor
from tests.helpers import submit


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


def test_an_unknown_address_waits_as_long_as_a_customer_would() -> None:
    clock = Clock()
    floor = AnswerFloor(0.025, clock=clock, sleep=clock.sleep, jitter=lambda: 0.5)
    assert floor.floor() == 0.025  # nothing learned yet: the configured minimum
    for _ in range(100):  # customers' answers took 80 ms
        started = floor.start()
        clock.now += 0.080
        floor.hold(started, slow_path=True)
    assert floor.floor() == pytest.approx(0.120)  # the 99th percentile, with a 50 % margin
    clock.slept.clear()
    started = floor.start()
    clock.now += 0.010  # an unknown address: 10 ms of work
    floor.hold(started, slow_path=False)
    assert clock.slept == [0.122]  # to the floor, plus half of the largest jitter (a tenth)
    assert floor.floor() == pytest.approx(0.120)  # unknown answers never lower the floor


def test_reports_teach_the_floor_only_from_customers(app, client, customer_id) -> None:  # type: ignore[no-untyped-def]
    submit(client, "/report", {"email": "nobody@example.com", "kind": "lost"})
    with app.app_context():
        assert len(answer_floor("report")._slow_path) == 0
    submit(client, "/report", {"email": "an@example.com", "kind": "lost"})
    submit(client, "/reset/new", {"email": "an@example.com"})
    with app.app_context():
        assert len(answer_floor("report")._slow_path) == 1
        assert len(answer_floor("fresh_link")._slow_path) == 1
