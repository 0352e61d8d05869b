"""Issue 11: the service in its production shape, driven as its people and its peers would.

Chromium (Debian's) goes through nginx's TLS to gunicorn's three workers; the rate limits are counted
in Redis; report mail reaches the LMTP listener process; the outbox worker process delivers to an SMTP
sink. Nothing in the service is started in-process.
"""

from __future__ import annotations

import re
import smtplib
import threading

import psycopg
import pytest

from tests.browser.steps import (
    customer_sets_new_password,
    customer_signs_in,
    staff_enters_report,
    staff_signs_in_and_enrols,
)
from tests.helpers import local_input
from tests.live import wait_for
from tests.production.conftest import LIMIT_REPORT_PER_IP
from tests.production.stack import CUSTOMER_PASSWORD, STAFF_PASSWORD, HttpsClient, Stack

pytestmark = pytest.mark.production
NEW_PASSWORD = "bầu trời hôm nay xanh ngắt"


def add_customer(stack: Stack, address: str, name: str = "Nguyễn Văn An") -> None:
    added = stack.flask("customers", "add", address, "--name", name, stdin=CUSTOMER_PASSWORD + "\n")
    assert added.returncode == 0, added.stderr


def link_in(stack: Stack, address: str, kind: str, index: int = 0) -> str:
    message = wait_for(lambda: len(stack.sink.to(address)) > index and stack.sink.to(address), f"mail to {address}")
    text = message[index].get_body(preferencelist=("plain",)).get_content()
    found = re.search(re.escape(stack.base) + rf"/{kind}/[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-.]+", text)
    assert found, text
    return found.group(0)


def rows(stack: Stack, sql: str, *args: object) -> list[tuple]:  # type: ignore[type-arg]
    url = stack.env["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as connection:
        return connection.execute(sql, args).fetchall()


@pytest.mark.browser
def test_customer_reports_resets_and_signs_in_over_https(stack: Stack, chromium_page, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Item 1: behind the TLS proxy every form works in a real browser (no Referer is sent)."""
    add_customer(stack, "an@example.com")
    page = chromium_page
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(stack.base + "/report")
    assert page.locator("h1").inner_text() == "Thông báo mật khẩu bị lộ"
    page.get_by_label("Địa chỉ email của tài khoản").fill("an@example.com")
    page.get_by_label("Chuyện gì đã xảy ra?").select_option("phished")
    page.get_by_role("button", name="Gửi thông báo ngay").click()
    assert page.locator("h1").inner_text() == "Chúng tôi đã nhận được báo cáo của bạn"
    page.screenshot(path=str(tmp_path / "receipt-vi.png"), full_page=True)

    page.goto(link_in(stack, "an@example.com", "reset"))
    assert page.url == stack.base + "/reset"
    customer_sets_new_password(page, NEW_PASSWORD)
    assert page.locator("h1").inner_text() == "Mật khẩu mới của bạn đã được lưu"

    page.get_by_role("link", name="Đăng nhập bằng mật khẩu mới").click()
    customer_signs_in(page, "an@example.com", NEW_PASSWORD)
    assert page.locator("h1").inner_text() == "Tài khoản của tôi"
    page.get_by_role("button", name="English").click()  # the language form, too
    assert page.locator("h1").inner_text() == "My account"
    cookies = {cookie["name"]: cookie for cookie in page.context.cookies()}
    assert cookies["__Host-session"]["secure"] and cookies["__Host-session"]["httpOnly"]


@pytest.mark.browser
def test_staff_sign_in_with_totp_and_enter_a_phone_report_over_https(stack: Stack, chromium_page, tmp_path) -> None:  # type: ignore[no-untyped-def]
    add_customer(stack, "binh@example.com", "Trần Thị Bình")
    created = stack.flask(
        "staff", "create", "lan@ecc.example", "--role", "support", "--name", "Lan", stdin=STAFF_PASSWORD + "\n"
    )
    assert created.returncode == 0, created.stderr
    page = chromium_page
    page.set_viewport_size({"width": 1280, "height": 900})
    staff_signs_in_and_enrols(page, stack.base + "/console/incidents", "lan@ecc.example", STAFF_PASSWORD)
    assert page.locator("h1").inner_text() == "Hàng đợi"

    page.get_by_role("link", name="Nhập báo cáo").click()
    staff_enters_report(page, email="binh@example.com", channel="phone", reached_at=local_input(4), kind="stolen")
    assert "mật khẩu của khách hàng đã bị vô hiệu hóa" in page.locator(".flash").inner_text()
    page.screenshot(path=str(tmp_path / "console-vi.png"), full_page=True)
    assert link_in(stack, "binh@example.com", "reset")  # the worker process delivered the acknowledgement


def test_rate_limits_are_shared_by_every_worker(stack: Stack) -> None:
    """Item 3: three gunicorn workers count in one Redis, so the limit is the limit, not three times it."""
    allowed = int(LIMIT_REPORT_PER_IP.split()[0])
    client = HttpsClient(stack, source_ip="127.0.0.9")
    codes = [
        client.submit("/report", {"email": f"limit{n}@example.com", "kind": "lost"})[0] for n in range(allowed + 3)
    ]
    assert codes == [303] * allowed + [429] * 3  # each stored report is sent on to its receipt


@pytest.mark.parametrize(
    "headers,expected",
    [
        ({"Sec-Fetch-Site": "same-origin"}, 303),
        ({"Sec-Fetch-Site": "cross-site", "Origin": "https://attacker.example"}, 400),
        ({"Origin": "https://attacker.example"}, 400),
    ],
)
def test_csrf_through_the_proxy(stack: Stack, headers: dict[str, str], expected: int) -> None:
    """Item 1, without a browser: the token and the browser's own headers decide, not a Referer."""
    client = HttpsClient(stack, source_ip="127.0.0.10")
    origin = headers.pop("Origin", None)
    status, _page, answer = client.submit(
        "/report", {"email": "someone@example.com", "kind": "lost"}, origin=origin, extra=headers
    )
    assert status == expected
    assert answer["Strict-Transport-Security"].startswith("max-age=")


def test_hostile_web_input_gets_clear_answers(stack: Stack) -> None:
    client = HttpsClient(stack, source_ip="127.0.0.11")
    status, _page, headers = client.submit("/locale", {"locale": "en", "next": "/\t/attacker.example"}, form_page="/")
    assert status == 302 and headers["Location"] in ("/", stack.base + "/")
    status, page, _headers = client.submit(
        "/report", {"email": "a@example.com", "kind": "lost", "details": "x" * 70_000}
    )
    assert status == 413 and "Traceback" not in page
    status, page, _headers = client.request(
        "POST", "/report", b"\xff\xfe" * 10, {"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert status == 400 and "Traceback" not in page


# Hostile mail for the listener: (name, bytes, status it is kept with, quarantine reason).
SLOW_HEADER = (
    b"From: an@example.com\r\nTo: security@ecc.example\r\nSubject: slow\r\nContent-Type: text/plain"
    + b";" * 30_000
    + b"\r\n\r\nleaked\r\n"
)


def _many_parts(count: int) -> bytes:
    parts = b"".join(b"--b\r\nContent-Type: text/plain\r\n\r\npart\r\n" for _ in range(count))
    return (
        b"From: an@example.com\r\nTo: security@ecc.example\r\nSubject: many\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + parts + b"--b--\r\n"
    )


def _deep(depth: int) -> bytes:
    body = b"Content-Type: text/plain\r\n\r\ndeep\r\n"
    for level in range(depth):
        boundary = f"d{level}".encode()
        body = (
            b"Content-Type: multipart/mixed; boundary="
            + boundary
            + b"\r\n\r\n--"
            + boundary
            + b"\r\n"
            + body
            + b"--"
            + boundary
            + b"--\r\n"
        )
    return b"From: an@example.com\r\nTo: security@ecc.example\r\nSubject: deep\r\nMIME-Version: 1.0\r\n" + body


def _huge(megabytes: int) -> bytes:
    """A report with an attachment of `megabytes` MB (base64), under the listener's 10 MB limit."""
    import base64

    blob = base64.encodebytes(b"\x89PNG" + bytes(range(256)) * (megabytes * 4096 - 1)).replace(b"\n", b"\r\n")
    return (
        b"From: an@example.com\r\nTo: security@ecc.example\r\nSubject: huge\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=h\r\n\r\n--h\r\nContent-Type: text/plain\r\n\r\nleaked\r\n"
        b"--h\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n"
        b"Content-Disposition: attachment; filename=screen.png\r\n\r\n" + blob + b"--h--\r\n"
    )


HOSTILE = [
    ("slow header", SLOW_HEADER, "quarantined", "parse_time"),
    ("many parts", _many_parts(500), "quarantined", "too_many_parts"),
    ("huge", _huge(7), "reported", None),
    ("deep nesting", _deep(40), "quarantined", "too_deep"),
    (
        "forged verdict",
        b"Authentication-Results: mx.ecc.example; dmarc=pass\r\nFrom: an@example.com\r\n"
        b"To: security@ecc.example\r\nSubject: forged\r\n\r\nleaked\r\n",
        "reported",
        None,
    ),
    (
        "display-name spoof",
        'From: "security@ecc.example \u202e" <spoof@evil.example>\r\n'
        "To: security@ecc.example\r\nSubject: spoof\r\n\r\nleaked\r\n".encode(),
        "reported",
        None,
    ),
    (
        "long lines",
        b"From: an@example.com\r\nTo: security@ecc.example\r\nSubject: long\r\n\r\n" + b"y" * 20_000 + b"\r\n",
        "reported",
        None,
    ),
]


def lmtp_send(stack: Stack, raw: bytes, sender: str = "an@example.com", sent: threading.Event | None = None) -> int:
    """Deliver over LMTP; `sent` is set once the whole message is on the wire, before the answer."""
    with smtplib.LMTP("127.0.0.1", stack.lmtp_port, timeout=60) as client:
        client.ehlo_or_helo_if_needed()
        client.mail(sender)
        client.rcpt("security@ecc.example")
        code, _reply = client.docmd("DATA")
        assert code == 354
        client.send(_dot_stuffed(raw) + b"\r\n.\r\n")
        if sent is not None:
            sent.set()
        return client.getreply()[0]


def _dot_stuffed(raw: bytes) -> bytes:
    """The message as DATA carries it: a line starting with a dot gets another (RFC 5321 4.5.2)."""
    return re.sub(rb"(?m)^\.", b"..", raw.removesuffix(b"\r\n"))


@pytest.mark.parametrize("name,raw,status,reason", HOSTILE, ids=[case[0] for case in HOSTILE])
def test_hostile_mail_is_kept_and_blocks_no_one(
    stack: Stack, name: str, raw: bytes, status: str, reason: str | None
) -> None:
    """While the listener deals with hostile mail, a customer's report on another connection is answered
    (for mail that takes long, before the hostile one is); the hostile bytes are kept intact."""
    add_customer_once(stack)
    order: list[str] = []
    sent = threading.Event()
    hostile = threading.Thread(target=lambda: order.append(f"hostile {lmtp_send(stack, raw, sent=sent)}"))
    hostile.start()
    assert sent.wait(timeout=60)  # the hostile mail is in: what is asserted is an order, not a duration
    marker = f"good after {name}".encode()
    good = b"From: chi@example.com\r\nTo: security@ecc.example\r\nSubject: " + marker + b"\r\n\r\nleaked\r\n"
    order.append(f"good {lmtp_send(stack, good, 'chi@example.com')}")
    hostile.join(timeout=60)
    assert sorted(order) == ["good 250", "hostile 250"]
    if reason == "parse_time":
        assert order[0] == "good 250"  # answered while the hostile mail was still being read
    kept = rows(stack, "SELECT status, quarantine_reason FROM inbound_messages WHERE raw = %s", raw)
    assert kept == [(status, reason)]
    assert rows(stack, "SELECT status FROM inbound_messages WHERE subject = %s", marker.decode()) == [("reported",)]


def add_customer_once(stack: Stack) -> None:
    if not rows(stack, "SELECT 1 FROM customers WHERE email = 'chi@example.com'"):
        add_customer(stack, "chi@example.com", "Lê Thị Chi")


def test_a_forged_verdict_is_not_shown_as_ours(stack: Stack) -> None:
    """Item 5: mail sent to the listener with our authserv-id but no hop of our MTA keeps it as a claim."""
    raw = (
        b"Authentication-Results: mx.ecc.example; dmarc=pass header.from=example.com\r\nFrom: an@example.com\r\n"
        b"To: security@ecc.example\r\nSubject: forged verdict check\r\n\r\nleaked\r\n"
    )
    assert lmtp_send(stack, raw) == 250
    assert rows(
        stack,
        "SELECT authentication_results::text, untrusted_authentication_results FROM inbound_messages "
        "WHERE subject = 'forged verdict check'",
    ) == [("[]", 1)]
