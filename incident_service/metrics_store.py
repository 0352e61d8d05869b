"""Counters kept in the database, for events that leave no row of their own (e.g. SMTP refusals),
so any process can count and any process can report them."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import BigInteger, CursorResult, String, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from .extensions import Model, db


class MetricCounter(Model):
    __tablename__ = "metric_counters"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


def increment(name: str) -> None:
    """Add one to `name` in the caller's transaction (the row is created on first use)."""
    done = cast(
        "CursorResult[Any]",  # an UPDATE's result, which counts its rows
        db.session.execute(
            update(MetricCounter).where(MetricCounter.name == name).values(value=MetricCounter.value + 1)
        ),
    )
    if done.rowcount:
        return
    try:
        with db.session.begin_nested():
            db.session.add(MetricCounter(name=name, value=1))
    except IntegrityError:  # another process created it first
        db.session.execute(
            update(MetricCounter).where(MetricCounter.name == name).values(value=MetricCounter.value + 1)
        )
