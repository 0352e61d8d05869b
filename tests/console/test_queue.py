"""The queue: filters, search, sorting, pagination, counts; the URL carries the filters."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from incident_service.customers.service import add_customer
from incident_service.database import utcnow
from incident_service.extensions import db
from incident_service.incidents.models import Incident
from incident_service.incidents.service import ReportSubmission, receive_report
from incident_service.intake.service import Envelope, ingest_message
from tests.helpers import make_customer


def seed(app) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Five customers' incidents on different days and channels, and one unmatched report."""
    refs = {}
    now = utcnow()
    with app.app_context():
        for n, (channel, days_ago, noticed_hours_before) in enumerate(
            [("web", 1, 2), ("email", 3, None), ("phone", 10, 72), ("web", 20, None), ("post", 40, 5)]
        ):
            add_customer(f"c{n}@example.com", name="", locale="vi", password=None, source="cli", actor="test", now=now)
            received = now - timedelta(days=days_ago)
            report = receive_report(
                ReportSubmission(
                    channel=channel,
                    address=f"c{n}@example.com",
                    kind="lost",
                    discovered_at=received - timedelta(hours=noticed_hours_before) if noticed_hours_before else None,
                    received_at=received,
                ),
                now=received,
            )
            db.session.commit()
            refs[f"c{n}"] = db.session.get(Incident, report.incident_id).reference
        receive_report(ReportSubmission(channel="web", address="stranger@example.org", kind="lost"), now=now)
        incident = db.session.execute(select(Incident).where(Incident.reference == refs["c3"])).scalar_one()
        incident.status = "resolved"
        db.session.commit()
    return refs


def listed(client, **args) -> str:  # type: ignore[no-untyped-def]
    return client.get("/console/incidents", query_string=args, headers={"Accept-Language": "en"}).get_data(as_text=True)


def test_filters(app, staff_login) -> None:  # type: ignore[no-untyped-def]
    refs = seed(app)
    client = staff_login("support")
    everything = listed(client)
    assert all(ref in everything for ref in refs.values())
    assert "5 found" in everything
    only_phone = listed(client, channel="phone")
    assert refs["c2"] in only_phone and refs["c0"] not in only_phone
    late = listed(client, lateness="late")
    assert refs["c2"] in late and refs["c0"] not in late and refs["c4"] not in late
    unknown = listed(client, discovery="unknown")
    assert refs["c1"] in unknown and refs["c3"] in unknown and refs["c0"] not in unknown
    resolved = listed(client, status="resolved")
    assert refs["c3"] in resolved and refs["c0"] not in resolved
    # Each row says its status in a few words; the full sentence is the cell's title.
    assert '<span title="Resolved: new password set">New password set</span>' in resolved
    recent = listed(client, **{"from": (utcnow() - timedelta(days=5)).date().isoformat()})
    assert refs["c0"] in recent and refs["c1"] in recent and refs["c2"] not in recent
    window = listed(
        client,
        **{
            "from": (utcnow() - timedelta(days=12)).date().isoformat(),
            "to": (utcnow() - timedelta(days=8)).date().isoformat(),
        },
    )
    assert refs["c2"] in window and refs["c1"] not in window


def test_search_by_reference_and_address(app, staff_login) -> None:  # type: ignore[no-untyped-def]
    refs = seed(app)
    client = staff_login("support")
    by_ref = listed(client, q=refs["c1"].lower())
    assert refs["c1"] in by_ref and "1 found" in by_ref
    by_address = listed(client, q="c4@example")
    assert refs["c4"] in by_address and "1 found" in by_address


def test_unmatched_reports_and_counts(app, staff_login) -> None:  # type: ignore[no-untyped-def]
    seed(app)
    client = staff_login("support")
    page = listed(client, status="unmatched")
    assert "stranger@example.org" in page and "1 found" in page
    overview = listed(client)
    assert 'Unmatched reports <span class="count">1</span>' in overview


def test_sorting_and_pagination(app, staff_login) -> None:  # type: ignore[no-untyped-def]
    refs = seed(app)
    client = staff_login("support")
    oldest_first = listed(client, sort="received_asc")
    assert oldest_first.index(refs["c4"]) < oldest_first.index(refs["c0"])
    longest = listed(client, sort="delay_desc")
    assert longest.index(refs["c2"]) < longest.index(refs["c0"])
    now = utcnow()
    with app.app_context():
        for n in range(30):
            add_customer(
                f"bulk{n}@example.com", name="", locale="vi", password=None, source="cli", actor="test", now=now
            )
            receive_report(ReportSubmission(channel="web", address=f"bulk{n}@example.com", kind="lost"), now=now)
        db.session.commit()
    first = listed(client, channel="web")
    assert "Page 1 of 2" in first and "page=2" in first and "channel=web" in first  # filters kept in links
    second = listed(client, channel="web", page=2)
    assert "Page 2 of 2" in second


def test_malformed_filters_are_ignored(app, staff_login) -> None:  # type: ignore[no-untyped-def]
    client = staff_login("support")
    answer = client.get("/console/incidents?status=evil&from=notadate&page=-3&sort=drop+table")
    assert answer.status_code == 200
    # The audit log reads its URL the same lenient way (admin only).
    admin = staff_login("admin")
    assert admin.get("/console/audit?from=notadate&to=2026-13-40&page=zz").status_code == 200
    assert admin.get("/console/audit?from=2026-01-01&to=2026-01-31&page=99999999").status_code == 200


def test_lenient_url_args() -> None:
    from datetime import date

    from incident_service.url_args import choice_arg, day_arg, page_arg

    assert day_arg({"from": "2026-02-03"}, "from") == date(2026, 2, 3)
    assert day_arg({"from": "03/02/2026"}, "from") == date(2026, 2, 3)  # as the filter form asks (issue 13)
    assert day_arg({"from": "02/30/2026"}, "from") is None and day_arg({}, "from") is None
    assert page_arg({"page": "7"}) == 7 and page_arg({"page": "-3"}) == 1 and page_arg({"page": "x"}) == 1
    assert page_arg({"page": "10"}, most=5) == 5
    assert choice_arg({"s": "a"}, "s", ("a", "b")) == "a" and choice_arg({"s": "c"}, "s", ("a", "b")) == ""


def test_the_console_has_its_own_footer(app, staff_login) -> None:  # type: ignore[no-untyped-def]
    """Staff see the console's footer (who it is for, the zone times are in), not the customers' one."""
    client = staff_login("support")
    page = client.get("/console/incidents", headers={"Accept-Language": "en"}).get_data(as_text=True)
    footer = page.split('<footer class="site">')[1]
    assert "incident console, for staff only. Times are shown in GMT+7." in footer
    assert "Questions? Contact us" not in footer


def test_tabs_count_what_waits(app, staff_login) -> None:  # type: ignore[no-untyped-def]
    """Issue 13: the quarantine tab counts the mail held there, legal's review tab what awaits a
    decision (late incidents and breaches to notify)."""
    from tests.helpers import submit

    noticed = (utcnow() - timedelta(days=3)).astimezone().strftime("%Y-%m-%dT%H:%M")
    make_customer(app, "an@example.com")
    submit(app.test_client(), "/report", {"email": "an@example.com", "kind": "stolen", "discovered_at": noticed})
    with app.app_context():
        ingest_message(b"not a mail at all", envelope=Envelope(), via="smtp", now=utcnow())
        db.session.commit()
    legal = staff_login("legal", "luat@ecc.example")
    nav = legal.get("/console/incidents").get_data(as_text=True).split("</nav>")[0]
    assert re.search(r'/console/quarantine">[^<]+ <span class="count">1</span>', nav)
    assert re.search(r'/console/reviews">[^<]+ <span class="count">1</span>', nav)


@pytest.mark.real_commits  # swaps the app's engine for one that cannot connect
def test_a_database_failure_on_a_console_page_is_still_a_503(app, staff_login) -> None:  # type: ignore[no-untyped-def]
    """The console's tab counts query the database; on the error page they stay out, so staff get the
    503 with Retry-After (L4), not a second failure inside the error handler."""
    from sqlalchemy import create_engine
    from sqlalchemy.exc import OperationalError

    def database_gone():  # type: ignore[no-untyped-def]
        db.session.remove()
        db.engine.dispose()  # the real one's connections closed, not left for the garbage collector
        db.engines[None] = create_engine("sqlite:////nonexistent-dir/x.sqlite3")  # type: ignore[index]
        raise OperationalError("SELECT 1", {}, Exception("the database went away"))

    app.add_url_rule("/console/database-gone", "console.database_gone", database_gone)
    client = staff_login("legal")
    answer = client.get("/console/database-gone")
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "30"
    assert "Traceback" not in answer.get_data(as_text=True)


def test_counts_past_the_cap_say_more_than_and_pages_still_follow(app, staff_login, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Issue 17: counts stop past COUNT_CAP (a million incidents are not counted for a page of 25): the
    tabs and the total say "more than", the pager numbers the page and offers Next while rows remain."""
    from incident_service.console import queries

    monkeypatch.setattr(queries, "COUNT_CAP", 3)
    monkeypatch.setattr(queries, "PAGE_SIZE", 2)
    refs = seed(app)  # 4 open incidents, 1 resolved, 1 unmatched report
    client = staff_login("support")
    overview = listed(client)
    assert "More than 3 found" in overview and "Page 1</span>" in overview and "page=2" in overview
    assert '<span class="count">more than 3</span>' in overview  # the open incidents' tab: 4
    assert '<span class="count">1</span>' in overview  # the resolved tab and unmatched reports: exact
    last = listed(client, page=3)
    assert "Page 3</span>" in last and "page=4" not in last and refs["c4"] in last  # no Next on the last page
    beyond = listed(client, page=4)
    assert "Nothing matches these filters." in beyond and "page=3" in beyond  # Previous still there
    # A filter's total is bounded the same way; under the cap it is exact, with the page count.
    assert "More than 3 found" in listed(client, status="reactivated")
    web = listed(client, channel="web")
    assert "2 found" in web and "Page" not in web.split("</table>")[1]


def test_search_is_exact_whatever_the_indexes(app, staff_login) -> None:  # type: ignore[no-untyped-def]
    """The search box reads three indexes (references, reports' references, the addresses' trigrams)
    and must find exactly what a scan finds: any case, a report's own reference, a part of an address
    including LIKE's wildcards taken literally, fewer than three characters, an address changed later."""
    from sqlalchemy import update

    from incident_service.customers.models import Customer
    from incident_service.incidents.models import Report

    refs = seed(app)
    now = utcnow()
    with app.app_context():
        for address in ("odd_name%1@example.com", "oddxname51@example.com"):
            add_customer(address, name="", locale="vi", password=None, source="cli", actor="test", now=now)
            receive_report(ReportSubmission(channel="web", address=address, kind="lost"), now=now)
        db.session.commit()
        odd, oddx = (
            db.session.execute(select(Incident.reference).join(Customer).where(Customer.email == address)).scalar_one()
            for address in ("odd_name%1@example.com", "oddxname51@example.com")
        )
        report_ref = db.session.execute(
            select(Report.reference).join(Incident).where(Incident.reference == refs["c2"])
        ).scalar_one()
    client = staff_login("support")
    assert refs["c2"] in listed(client, q=report_ref.lower())  # by the report's reference, any case
    assert refs["c0"] in listed(client, q=f"  {refs['c0'].lower()} ")
    wildcards = listed(client, q="odd_name%1")
    assert odd in wildcards and oddx not in wildcards and "1 found" in wildcards  # _ and % are literal
    upper = listed(client, q="ODD_NAME%1@EXAMPLE")
    assert odd in upper and "1 found" in upper
    short = listed(client, q="c4")  # shorter than a trigram: read the slow way, same answer
    assert refs["c4"] in short and "1 found" in short
    assert "Nothing matches these filters." in listed(client, q="nobody-has-this")
    with app.app_context():
        db.session.execute(
            update(Customer).where(Customer.email == "c3@example.com").values(email="renamed@example.net")
        )
        db.session.commit()
    assert refs["c3"] in listed(client, q="renamed@exam") and refs["c3"] not in listed(client, q="c3@example")


def test_counts_at_and_past_the_cap_read_in_the_viewers_grouping(app) -> None:  # type: ignore[no-untyped-def]
    """A count at the cap and one past it are written alike: "1.000" and "hơn 1.000" in Vietnamese,
    "1,000" and "more than 1,000" in English (templating.count_label), as the totals beside them are."""
    from incident_service.templating import count_label

    with app.test_request_context(headers={"Accept-Language": "vi"}):
        assert (count_label(1000), count_label(1001)) == ("1.000", "hơn 1.000")
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert (count_label(1000), count_label(1001)) == ("1,000", "more than 1,000")
        page = app.jinja_env.from_string('{{ _("More than %(n)s found", n=format_count(1000)) }}').render()
        assert page == "More than 1,000 found"
