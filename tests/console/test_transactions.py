"""One commit per console action (issue 12): an action that succeeds is stored once; one whose commit
fails answers 503 and takes back the success it had announced (L4)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from incident_service.extensions import db
from incident_service.incidents.models import Incident, IncidentNote
from tests.console.conftest import post_form
from tests.helpers import submit


def test_a_failed_commit_announces_nothing(app, staff_login, customer_id, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    submit(app.test_client(), "/report", {"email": "an@example.com", "kind": "stolen"})
    with app.app_context():
        page = f"/console/incidents/{db.session.execute(select(Incident.id)).scalar_one()}"
    client = staff_login("support")
    from sqlalchemy.orm import Session

    def failing_commit(session):  # type: ignore[no-untyped-def]
        raise OperationalError("COMMIT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(Session, "commit", failing_commit)  # a fault, injected at the commit
    answer = post_form(
        client, page, page + "/notes", {"text": "Khách gọi lại lúc 10 giờ."}, headers={"Accept-Language": "en"}
    )
    monkeypatch.undo()
    assert answer.status_code == 503 and "Note added." not in answer.get_data(as_text=True)
    following = client.get(page, headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Note added." not in following
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(IncidentNote)) == 0
    stored = post_form(
        client, page, page + "/notes", {"text": "Khách gọi lại lúc 10 giờ."}, headers={"Accept-Language": "en"}
    )
    assert stored.status_code == 302
    assert "Note added." in client.get(page, headers={"Accept-Language": "en"}).get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(IncidentNote)) == 1
