"""Steps people take in the browser, in Vietnamese (the default locale), shared by the browser tests
and the production-shaped ones: each is what a person clicks and types, nothing more."""

from __future__ import annotations

from typing import Any

import pyotp


def staff_signs_in_and_enrols(page: Any, url: str, email: str, password: str) -> str:
    """From a console page (`url`), sign in with the password and enrol the authenticator from the
    key shown under the QR code; returns the TOTP secret."""
    page.goto(url)
    page.get_by_label("Địa chỉ email", exact=True).fill(email)
    page.get_by_label("Mật khẩu", exact=True).fill(password)
    page.get_by_role("button", name="Tiếp tục").click()
    secret: str = page.locator("code.secret").inner_text().replace(" ", "")  # shown in groups of four
    page.get_by_label("Mã 6 chữ số từ ứng dụng xác thực").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Xác nhận và đăng nhập").click()
    return secret


def customer_sets_new_password(page: Any, password: str) -> None:
    """On the reset page: the new password twice, then save."""
    page.get_by_label("Mật khẩu mới", exact=True).fill(password)
    page.get_by_label("Nhập lại mật khẩu mới").fill(password)
    page.get_by_role("button", name="Lưu mật khẩu mới").click()


def customer_signs_in(page: Any, email: str, password: str) -> None:
    page.get_by_label("Địa chỉ email", exact=True).fill(email)
    page.get_by_label("Mật khẩu", exact=True).fill(password)
    page.get_by_role("button", name="Đăng nhập").click()


def staff_enters_report(page: Any, *, email: str, channel: str, reached_at: str, kind: str, details: str = "") -> None:
    """On the console's "enter a report" form: fill it as an agent taking a call does, and record it."""
    page.get_by_label("Địa chỉ email của khách hàng").fill(email)
    page.get_by_label("Kênh báo cáo").select_option(channel)
    page.get_by_label("Thời điểm báo cáo đến công ty").fill(reached_at)
    page.get_by_label("Chuyện gì đã xảy ra?").select_option(kind)
    if details:
        page.get_by_label("Khách hàng cho biết").fill(details)
    page.get_by_role("button", name="Ghi nhận báo cáo").click()
