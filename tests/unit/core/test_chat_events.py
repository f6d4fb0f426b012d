"""The chat stream's wire format (cortex-chat/1): what the widget parses, byte for byte."""

from __future__ import annotations

import uuid

from cortex.contracts.chat import Done, HandedOff, Meta, Token
from cortex.core.chat import estimate_tokens
from cortex.core.sse import frame

CONVERSATION = uuid.UUID("00000000-0000-4000-8000-000000000001")
MESSAGE = uuid.UUID("00000000-0000-4000-8000-000000000002")


def _sse(event: Meta | Token | Done | HandedOff) -> bytes:
    return frame(event, event=event.event)


def test_meta_and_token_events_carry_only_their_fields() -> None:
    meta = Meta(protocol="cortex-chat/1", conversation_id=CONVERSATION, message_id=MESSAGE)
    assert _sse(meta) == (
        b'event: meta\ndata: {"protocol":"cortex-chat/1","conversation_id":"00000000-0000-4000-8000-000000000001",'
        b'"message_id":"00000000-0000-4000-8000-000000000002"}\n\n'
    )
    assert _sse(Token(text='a "quoted" line\n')) == b'event: token\ndata: {"text":"a \\"quoted\\" line\\n"}\n\n'


def test_an_answer_and_a_handoff_both_end_with_done() -> None:
    done = Done(
        conversation_id=CONVERSATION,
        message_id=MESSAGE,
        content="Open 7am [1]",
        citations=[{"source_id": "hours", "title": "Hours", "url": None, "snippet": "7am", "source": None}],
        actions=[],
        degraded=False,
        direct_answer=False,
    )
    assert _sse(done) == (
        b'event: done\ndata: {"conversation_id":"00000000-0000-4000-8000-000000000001",'
        b'"message_id":"00000000-0000-4000-8000-000000000002","content":"Open 7am [1]","citations":[{"source_id":'
        b'"hours","title":"Hours","url":null,"snippet":"7am","source":null}],"actions":[],"degraded":false,'
        b'"direct_answer":false,"handoff":false}\n\n'
    )
    handed_off = HandedOff(conversation_id=CONVERSATION, notice="A person will answer.")
    assert _sse(handed_off) == (
        b'event: done\ndata: {"conversation_id":"00000000-0000-4000-8000-000000000001","message_id":null,'
        b'"handoff":true,"notice":"A person will answer.","citations":[],"actions":[],"degraded":false,'
        b'"direct_answer":false}\n\n'
    )


def test_tokens_are_estimated_at_four_characters_rounded_up() -> None:
    assert estimate_tokens([]) == 0
    assert estimate_tokens(["abc"]) == 1
    assert estimate_tokens(["abcd", "efghi"]) == 3
