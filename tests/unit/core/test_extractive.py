"""The extractive answer: which retrieved units it keeps, and how it joins and cites them."""

from __future__ import annotations

from typing import Any

from cortex.core.extractive import DEFAULT_SCORING, Pick, choose, render, stream_text


def _unit(
    passage: int, ord: int, text: str, similarity: float, overlap: float = 0.5, kind: str = "sentence"
) -> dict[str, Any]:
    return {"passage": passage, "ord": ord, "kind": kind, "text": text, "similarity": similarity, "overlap": overlap}


def test_nothing_is_answered_when_no_unit_is_close_enough() -> None:
    evidence = [_unit(0, 0, "We bake bread.", 0.1, 0.0), _unit(0, 1, "We sell cakes.", 0.15, 0.0)]
    assert choose(evidence, [0.36]) == []


def test_the_best_units_are_kept_in_reading_order_and_weaker_ones_left_out() -> None:
    evidence = [
        _unit(0, 0, "Our shop is in the old town.", 0.2, 0.0),
        _unit(0, 1, "We open at 7am on weekdays.", 0.72, 1.0),
        _unit(0, 2, "On Saturdays we open at 8am.", 0.66, 1.0),
        _unit(1, 0, "Parking is free.", 0.25, 0.0),
    ]
    picks = choose(evidence, [0.6, 0.4])
    assert [p.text for p in picks] == ["We open at 7am on weekdays.", "On Saturdays we open at 8am."]


def test_a_sentence_that_repeats_a_kept_one_is_left_out() -> None:
    evidence = [
        _unit(0, 0, "We open at 7am on weekdays.", 0.72, 1.0),
        _unit(1, 0, "On weekdays we open at 7am.", 0.71, 1.0),
    ]
    assert len(choose(evidence, [0.6, 0.6])) == 1


def test_a_code_block_comes_with_the_sentence_that_introduces_it() -> None:
    evidence = [
        _unit(0, 0, "Paste this before the closing body tag:", 0.5, 0.5),
        _unit(0, 1, '```html\n<script src="/embed.js"></script>\n```', 0.7, 0.5, kind="code"),
        _unit(0, 2, "Then reload the page.", 0.3, 0.0),
    ]
    picks = choose(evidence, [0.6])
    assert [p.ord for p in picks] == [0, 1]
    text = render(picks, {0: 1})
    assert text == 'Paste this before the closing body tag: [1]\n\n```html\n<script src="/embed.js"></script>\n```'


def test_every_sentence_is_cited_and_passages_are_separate_paragraphs() -> None:
    picks = [
        Pick(0, 1, "sentence", "We open at 7am.", 0.7),
        Pick(0, 2, "sentence", "We close at 6pm.", 0.7),
        Pick(2, 0, "item", "Free parking behind the shop", 0.6),
    ]
    assert (
        render(picks, {0: 1, 2: 2}) == "We open at 7am. [1] We close at 6pm. [1]\n\n- Free parking behind the shop [2]"
    )


def test_the_reply_stays_short() -> None:
    long = " ".join(["word"] * 60) + "."
    evidence = [_unit(0, i, f"Sentence {i} {long}", 0.7 - i * 0.001, 1.0) for i in range(5)]
    picks = choose(evidence, [0.7])
    assert sum(len(p.text.split()) for p in picks) <= DEFAULT_SCORING.max_words + 62


async def test_the_reply_streams_in_pieces_that_add_up_to_it() -> None:
    text = "We open at 7am on weekdays and at 8am on Saturdays. [1]"
    pieces = [piece async for piece in stream_text(text)]
    assert len(pieces) > 1 and "".join(pieces) == text
