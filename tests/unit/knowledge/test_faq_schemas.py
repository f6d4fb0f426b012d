"""FAQ phrasings through the API's schemas: the same rules as a bulk import, checked before anything is stored."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError

from cortex.knowledge.schemas import FaqIn, FaqUpdate


def test_phrasings_are_cleaned_the_question_and_repeats_dropped() -> None:
    faq = FaqIn(
        bot_id=uuid.uuid4(),
        question="How do I embed the widget?",
        answer="Paste the script tag.",
        phrasings=[
            "  How do I put the chat\non my website? ",
            "how do i EMBED the widget?",
            "",
            "HOW DO I PUT THE CHAT ON MY WEBSITE?",
        ],
    )
    assert faq.phrasings == ["How do I put the chat on my website?"]
    assert FaqIn(bot_id=uuid.uuid4(), question="Hours?", answer="9-5").phrasings == []


@pytest.mark.parametrize(
    ("phrasings", "message"),
    [
        (["no"], 'phrasing "no" must be 3–500 characters, it has 2'),
        (["y" * 501], "must be 3–500 characters, it has 501"),
        ([f"Variant number {n}?" for n in range(21)], "at most 20 phrasings allowed, found 21"),
    ],
)
def test_bad_phrasings_are_refused_with_the_reason(phrasings: list[str], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        FaqIn(bot_id=uuid.uuid4(), question="Opening hours?", answer="9 to 5.", phrasings=phrasings)
    assert message in str(caught.value)
    with pytest.raises(ValidationError):
        FaqUpdate(phrasings=phrasings)


def test_an_update_may_set_or_clear_phrasings() -> None:
    assert FaqUpdate(phrasings=["When are you open?", "when are you  open?"]).phrasings == ["When are you open?"]
    assert FaqUpdate(phrasings=[]).model_dump(exclude_unset=True) == {"phrasings": []}
