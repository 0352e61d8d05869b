"""The floor for report intake: a bare Flask endpoint inserting one row into the same kind of
database (SQLite, WAL, synchronous=FULL, one transaction per request), served the same way."""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime, timezone

from flask import Flask, request

app = Flask(__name__)
PATH = os.environ["FLOOR_DATABASE"]


def connect() -> sqlite3.Connection:
    connection = sqlite3.connect(PATH, isolation_level=None, timeout=30)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    return connection


with connect() as setup:
    setup.execute("CREATE TABLE IF NOT EXISTS rows (id INTEGER PRIMARY KEY, address TEXT, received_at TEXT)")


@app.post("/insert")
def insert():  # type: ignore[no-untyped-def]
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
