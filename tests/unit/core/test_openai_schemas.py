"""The OpenAI request subset Cortex accepts: answerable requests only, unknown fields ignored."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cortex.core.openai_schemas import ChatCompletionRequest


def _request(**fields: object) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate(
        {"model": "bot", "messages": [{"role": "user", "content": "hi"}], **fields}
    )


def test_text_parts_unknown_fields_and_sampling_knobs_are_accepted() -> None:
    request = _request(
        messages=[
            {"role": "system", "content": "be terse"},
            {"role": "user", "content": [{"type": "text", "text": "When do "}, {"type": "text", "text": "you open?"}]},
        ],
        temperature=0.2,
        logit_bias={"1": 2},
        stream_options={"include_usage": True},
    )
    assert request.messages[-1].text == "When do you open?"


@pytest.mark.parametrize(
    "fields",
    [
        {"messages": []},
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]},
        {"messages": [{"role": "user", "content": "   "}]},
        {"messages": [{"role": "user", "content": "x" * 4001}]},
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
        {"n": 2},
        {"temperature": 3},
        {"tools": [{"type": "function"}]},
        {"conversation_id": "not-a-uuid"},
    ],
)
def test_unanswerable_requests_are_refused(fields: dict) -> None:
    with pytest.raises(ValidationError):
        _request(**fields)
