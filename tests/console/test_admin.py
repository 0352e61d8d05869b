"""Creating staff in the console: a refusal is said in the admin's language, on the field it concerns,
never as the service's own English text (issue 12; issue 13 names 'password refused: too_short')."""

from __future__ import annotations

from tests.console.conftest import post_form


def test_refusals_are_translated_and_on_their_field(app, staff_login) -> None:  # type: ignore[no-untyped-def]
    admin = staff_login("admin", "quantri@ecc.example")
    weak = post_form(
        admin,
        "/console/admin/staff",
        "/console/admin/staff",
        {"email": "moi@ecc.example", "role": "support", "name": "Mới", "password": "ngắn quá"},
        headers={"Accept-Language": "vi"},
    )
    page = weak.get_data(as_text=True)
    assert weak.status_code == 400 and "Hãy dùng ít nhất 15 ký tự" in page
    assert "password refused" not in page and "too_short" not in page
    taken = post_form(
        admin,
        "/console/admin/staff",
        "/console/admin/staff",
        {
            "email": "quantri@ecc.example",
            "role": "support",
            "name": "X",
            "password": "mot mat khau rat dai cho nhan vien",
        },
        headers={"Accept-Language": "en"},
    )
    assert taken.status_code == 400 and "A staff user with this address already exists." in taken.get_data(as_text=True)
