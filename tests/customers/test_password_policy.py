"""The new-password rules P2 and P3, as a plain function."""

from __future__ import annotations

from incident_service.customers import password_policy as policy
from incident_service.customers.password_policy import check_new_password, common_passwords


def check(password: str, *, compromised: str = "the old stolen password", calls: list[str] | None = None) -> list[str]:
    def is_compromised(candidate: str) -> bool:
        if calls is not None:
            calls.append(candidate)
        return candidate == compromised

    return check_new_password(
        password,
        password,
        email="nguyen.an@example.com",
        company_names=["ECC"],
        common=common_passwords(),
        is_compromised=is_compromised,
    )


def test_fourteen_characters_refused() -> None:
    assert check("a" * 7 + "b" * 7) == [policy.TOO_SHORT]


def test_fifteen_and_sixty_four_accepted() -> None:
    assert check("tre xanh bo de!") == []
    assert len("tre xanh bo de!") == 15
    long_one = ("một con vịt xòe ra hai cái cánh " * 3)[:64]
    assert len(long_one) == 64 and check(long_one) == []


def test_unicode_counts_characters_not_bytes() -> None:
    fifteen = "đường về quê mẹ"  # 15 characters, more bytes
    assert len(fifteen) == 15 and len(fifteen.encode()) > 15
    assert check(fifteen) == []


def test_over_1024_bytes_refused_before_anything_else() -> None:
    calls: list[str] = []
    assert check("ư" * 513, calls=calls) == [policy.TOO_LONG]  # 1026 bytes, 513 characters
    assert calls == []  # nothing was verified (or hashed)


def test_common_password_refused() -> None:
    assert "1qaz2wsx3edc4rfv" in common_passwords()
    assert check("1qaz2wsx3edc4rfv") == [policy.COMMON]
    assert check("1QAZ2WSX3EDC4RFV") == [policy.COMMON]  # compared without case


def test_list_is_large() -> None:
    # Only entries of 15+ characters are kept (shorter ones fail on length); from the 1M list.
    assert len(common_passwords()) > 9000


def test_contains_email_local_part_refused() -> None:
    assert check("my name is nguyen.an ok") == [policy.CONTAINS_EMAIL]


def test_contains_company_name_refused() -> None:
    assert check("i work with ecc every day") == [policy.CONTAINS_COMPANY]


def test_compromised_password_refused() -> None:
    assert check("the old stolen password") == [policy.COMPROMISED]


def test_mismatch() -> None:
    assert check_new_password(
        "a long enough password",
        "a long enough passworx",
        email="x@y.z",
        company_names=[],
        common=set(),
        is_compromised=lambda _p: False,
    ) == [policy.MISMATCH]
