"""Event encoding and stream naming (the wire format between services)."""

from __future__ import annotations

import uuid

import pytest

from cortex.bus import Event, stream_for


def test_an_event_survives_the_stream_round_trip() -> None:
    event = Event(
        event_id=uuid.uuid4(),
        event_type="user.registered",
        payload={"email": "a@b.c", "n": [1, 2]},
        workspace_id=uuid.uuid4(),
    )
    fields = {key.encode(): value.encode() for key, value in event.to_fields().items()}
    assert Event.from_fields(fields) == event


def test_events_of_one_family_share_a_stream() -> None:
    assert stream_for("user.registered") == stream_for("user.deleted") == "cortex:events:user"
    assert stream_for("message.created") == "cortex:events:message"


@pytest.mark.parametrize("bad", ["", ".created", "us er.x", "a:b.c"])
def test_a_malformed_event_type_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        stream_for(bad)
