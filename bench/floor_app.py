"""The floor for report intake: a bare Flask endpoint inserting one row into the same kind of
database (SQLite, WAL, synchronous=FULL, one transaction per request; or PostgreSQL given
FLOOR_POSTGRES, a connection string, committed durably), served the same way."""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime, timezone

from flask import Flask, request

app = Flask(__name__)
PATH = os.environ.get("FLOOR_DATABASE", "")
POSTGRES = os.environ.get("FLOOR_POSTGRES", "")


def connect() -> sqlite3.Connection:
    connection = sqlite3.connect(PATH, isolation_level=None, timeout=30)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    return connection


if POSTGRES:
    import threading

    import psycopg

    held = threading.local()  # one connection per gunicorn thread, as the app's pool keeps them

    def pg() -> psycopg.Connection:
        if getattr(held, "connection", None) is None:
            held.connection = psycopg.connect(POSTGRES, autocommit=True)
        return held.connection

    with psycopg.connect(POSTGRES) as setup:
        # Workers start together, and two CREATE TABLE IF NOT EXISTS at once can both try to create it (one
        # fails on pg_type's unique index, its worker dies): one at a time, until this transaction ends.
        setup.execute("SELECT pg_advisory_xact_lock(17)")
        setup.execute("CREATE TABLE IF NOT EXISTS rows (id SERIAL PRIMARY KEY, address TEXT, received_at TEXT)")
else:
    with connect() as setup:
        setup.execute("CREATE TABLE IF NOT EXISTS rows (id INTEGER PRIMARY KEY, address TEXT, received_at TEXT)")


@app.post("/insert")
def insert():  # type: ignore[no-untyped-def]
    if POSTGRES:
        with pg().transaction():
            pg().execute(
                "INSERT INTO rows (address, received_at) VALUES (%s, %s)",
                (request.form.get("email", ""), datetime.now(timezone.utc).isoformat()),
            )
        return "stored"
    connection = connect()
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute(
            "INSERT INTO rows (address, received_at) VALUES (?, ?)",
            (request.form.get("email", ""), datetime.now(timezone.utc).isoformat()),
        )
        connection.execute("COMMIT")
    finally:
        connection.close()
    return "stored"
