"""Our mail server's SPF, DKIM and DMARC verdicts, read from the Authentication-Results it added."""

from __future__ import annotations

from flask import Flask
from flask_babel import force_locale

from incident_service.intake.verdicts import Verdict, authentication_verdicts


def test_each_method_once_in_the_order_that_matters() -> None:
    verdicts = authentication_verdicts(
        [
            "mx.ecc.example; spf=softfail smtp.mailfrom=example.com; dkim=fail (bad signature) header.d=example.com;"
            " dmarc=fail (p=reject) header.from=example.com",
            "relay.ecc.example; dmarc=pass header.from=example.com; arc=pass",
        ]
    )
    # The topmost header (added last, nearest us) wins; methods nobody can act on (arc) are left out.
    assert verdicts == [Verdict("dmarc", "fail"), Verdict("dkim", "fail"), Verdict("spf", "softfail")]
    assert [verdict.tone for verdict in verdicts] == ["bad", "bad", "bad"]


def test_unreadable_or_empty_headers_give_no_verdict() -> None:
    assert authentication_verdicts([]) == []
    assert authentication_verdicts(["mx.ecc.example; none"]) == []
    assert authentication_verdicts(['mx.ecc.example; dkim=pass header.d="unterminated']) == [Verdict("dkim", "pass")]
    assert authentication_verdicts([";;;= =", "mx.ecc.example; spf=pass smtp.mailfrom=a.example"]) == [
        Verdict("spf", "pass")
    ]


def test_labels_in_both_languages(app: Flask) -> None:
    with app.test_request_context():
        with force_locale("vi"):
            assert Verdict("dmarc", "pass").label == "DMARC: đạt"
            assert Verdict("spf", "none").label == "SPF: không có bản ghi"
            assert Verdict("spf", "none").tone == "neutral"
        with force_locale("en"):
            assert Verdict("dkim", "temperror").label == "DKIM: temporary error"
            assert Verdict("dkim", "x-new").label == "DKIM: unreadable"
