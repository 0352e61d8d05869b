"""A bounded HTTP load from its own process: C connections, each a session that fetches the form
once (for its CSRF token) and then posts as fast as answers come, for D seconds. Prints JSON.

Connection c's n-th report names `{prefix}{c}-{n}@example.com` (prefix `load` unless given): seed those
addresses as customers to measure the known path, fresh customers every time. With `reconnect` after the
prefix, each session opens a new connection for every report, keeping its cookie: gunicorn's workers each
accept the connections they take, and 16 kept-open connections went 9, 4, 2 and 1 to 4 workers (issue 17,
eighth pass), so a warm-up on them left a worker cold; new connections spread the reports over them all."""

from __future__ import annotations

import http.client
import json
import re
import sys
import threading
import time
import urllib.parse


def worker(
    host: str,
    port: int,
    path: str,
    form_path: str | None,
    seconds: float,
    index: int,
    results: list[int],
    errors: list[int],
    latencies: list[float],
    prefix: str,
    reconnect: bool = False,
) -> None:
    connection = http.client.HTTPConnection(host, port, timeout=30)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    token = ""
    if form_path:
        connection.request("GET", form_path)
        response = connection.getresponse()
        page = response.read().decode()
        cookie = response.getheader("Set-Cookie", "").split(";", 1)[0]
        headers["Cookie"] = cookie
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    if reconnect:
        headers["Connection"] = "close"  # the server closes it after the answer, not at its keep-alive timeout
    done = failed = 0
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            body = urllib.parse.urlencode(
                {"email": f"{prefix}{index}-{done}@example.com", "kind": "lost", "csrf_token": token}
            )
            sent = time.monotonic()
            if reconnect:
                connection.close()
                connection = http.client.HTTPConnection(host, port, timeout=30)
            try:
                connection.request("POST", path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                # Counted, not fatal: a session that died silently would lower the count with no error shown.
                failed += 1
                connection.close()
                connection = http.client.HTTPConnection(host, port, timeout=30)
                continue
            latencies.append(time.monotonic() - sent)
            # A stored report answers 303 to its receipt (post/redirect/get; a 200 is the form again, with
            # an error); the floor's bare insert answers 200.
            if response.status == (303 if form_path else 200):
                done += 1
            else:
                failed += 1
    finally:
        connection.close()
    results.append(done)
    errors.append(failed)


def main() -> None:
    host, port, path, form_path, connections, seconds = (
        sys.argv[1],
        int(sys.argv[2]),
        sys.argv[3],
        sys.argv[4] or None,
        int(sys.argv[5]),
        float(sys.argv[6]),
    )
    prefix = sys.argv[7] if len(sys.argv) > 7 else "load"
    if len(sys.argv) > 8 and sys.argv[8] != "reconnect":
        raise SystemExit(f"bench.load: unknown option {sys.argv[8]!r} (only 'reconnect')")
    reconnect = len(sys.argv) > 8
    results: list[int] = []
    errors: list[int] = []
    latencies: list[float] = []
    threads = [
        threading.Thread(
            target=worker,
            args=(host, port, path, form_path, seconds, n, results, errors, latencies, prefix, reconnect),
        )
        for n in range(connections)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    ordered = sorted(latencies) or [0.0]

    def percentile(share: float) -> float:
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000

    print(
        json.dumps(
            {
                "requests": sum(results),
                "errors": sum(errors),
                "seconds": elapsed,
                "per_second": sum(results) / elapsed,
                "p50_ms": percentile(0.50),
                "p99_ms": percentile(0.99),
            }
        )
    )


if __name__ == "__main__":
    main()
