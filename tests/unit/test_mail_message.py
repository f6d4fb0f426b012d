"""The shape of a queued mail as the relay receives it: text, HTML, an invitation calendar clients
recognise, extra headers; and what a caller may not put in it."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import pytest

from cortex.mail import _build, _checked_headers, calendar_method
from cortex.settings import Settings

CALENDAR = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nMETHOD:CANCEL\r\nEND:VCALENDAR\r\n"


def _parsed(mail: dict[str, Any]) -> EmailMessage:
    raw = _build(Settings(), mail).as_bytes()
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


def test_a_plain_mail_stays_one_text_part() -> None:
    message = _parsed({"to": "a@example.com", "subject": "Hi", "text": "hello"})
    assert message.get_content_type() == "text/plain"
    assert message.get_content().strip() == "hello"


def test_an_invitation_is_mixed_alternative_with_the_method_and_an_ics_attachment() -> None:
    message = _parsed(
        {"to": "a@example.com", "subject": "Cancelled", "text": "t", "html": "<p>t</p>", "calendar": CALENDAR}
    )
    assert message.get_content_type() == "multipart/mixed"
    alternative, attachment = message.iter_parts()
    assert alternative.get_content_type() == "multipart/alternative"
    kinds = [part.get_content_type() for part in alternative.iter_parts()]
    assert kinds == ["text/plain", "text/html", "text/calendar"]
    calendar_part = list(alternative.iter_parts())[2]
    assert calendar_part.get_param("method") == "CANCEL"
    assert "METHOD:CANCEL" in calendar_part.get_content()
    assert attachment.get_filename() == "invite.ics"
    assert attachment.get_content_type() == "application/ics"
    assert b"METHOD:CANCEL" in attachment.get_content()
    # The text stays what a client without HTML shows.
    body = message.get_body(preferencelist=("plain",))
    assert body is not None and body.get_content().strip() == "t"


def test_extra_headers_are_sent_and_the_senders_own_are_refused() -> None:
    message = _parsed(
        {"to": "a@example.com", "subject": "News", "text": "t", "headers": {"List-Unsubscribe": "<https://x/u>"}}
    )
    assert message["List-Unsubscribe"] == "<https://x/u>"
    with pytest.raises(ValueError, match="not a header"):
        _checked_headers({"From": "evil@example.com"})
    with pytest.raises(ValueError, match="line break"):
        _checked_headers({"X-Tag": "a\r\nBcc: victim@example.com"})


def test_a_calendar_without_a_method_is_refused() -> None:
    assert calendar_method(CALENDAR) == "CANCEL"
    with pytest.raises(ValueError, match="METHOD"):
        calendar_method("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n")
