"""Cutting passages into answer units, and measuring them against a question with the real embedder."""

from __future__ import annotations

import pytest

from cortex.knowledge.evidence import UnitVectors, measure, split_sentences, split_units, without_title

MARKDOWN = """Paste one line into every page, e.g. the footer. The dashboard writes it for you.

- Open **Bots**, then your bot.
- Copy the snippet
  from the Embed tab.

| setting | meaning |
|---|---|
| `CORTEX_LLM_URL` | the endpoint's base URL |

Run:

```sh
make run
```
"""


def test_sentences_end_at_punctuation_but_not_after_abbreviations_or_inside_file_names() -> None:
    assert split_sentences("Load embed.js first, e.g. in the footer. Then reload! Done?") == [
        "Load embed.js first, e.g. in the footer.",
        "Then reload!",
        "Done?",
    ]


def test_markdown_is_cut_into_sentences_items_rows_and_whole_code_blocks() -> None:
    units = split_units(MARKDOWN)
    assert [(u.kind, u.text) for u in units] == [
        ("sentence", "Paste one line into every page, e.g. the footer."),
        ("sentence", "The dashboard writes it for you."),
        ("item", "Open **Bots**, then your bot."),
        ("item", "Copy the snippet from the Embed tab."),
        ("row", "setting — meaning"),
        ("row", "`CORTEX_LLM_URL` — the endpoint's base URL"),
        ("sentence", "Run:"),
        ("code", "```sh\nmake run\n```"),
    ]
    assert [u.ord for u in units] == list(range(len(units)))


@pytest.fixture(scope="module")
def embed():  # type: ignore[no-untyped-def]
    from cortex.models.embedder import Embedder

    embedder = Embedder()

    async def embed(texts: list[str]) -> list[list[float]]:
        return embedder.embed(texts)

    return embed


async def test_the_sentence_that_answers_scores_highest(embed) -> None:  # type: ignore[no-untyped-def]
    passages = [
        (
            "Visiting us",
            "Our shop is in the old town. We open at 7am on weekdays and 8am on Saturdays. Parking is free.",
        ),
        ("Bread", "Sourdough is baked every morning."),
    ]
    question = "What time do you open?"
    [vector] = await embed([question])
    calls: list[int] = []

    async def counting(texts: list[str]) -> list[list[float]]:
        calls.append(len(texts))
        return await embed(texts)

    vectors = UnitVectors(counting)
    evidence = await measure(question, vector, passages, vectors)
    best = max(evidence, key=lambda unit: unit.similarity)
    assert best.text == "We open at 7am on weekdays and 8am on Saturdays." and best.passage == 0
    assert best.overlap == 0.5  # of "time" and "open"
    await measure(question, vector, passages, vectors)
    assert calls == [4], "the second time every unit's vector comes from the cache"


def test_headings_and_command_lines_left_as_plain_text_are_not_sentences() -> None:
    text = "Stop, status, start again\n\nmake down\n\n`make down` stops everything `make run` started."
    assert [u.text for u in split_units(text)] == ["`make down` stops everything `make run` started."]


def test_a_first_line_that_repeats_the_title_is_not_a_unit() -> None:
    faq = "Can the bot book appointments?\nNot yet. Calendar booking is planned."
    assert without_title(faq, "Can the bot book appointments?") == "Not yet. Calendar booking is planned."
    assert without_title(faq, "Booking") == faq


def test_a_list_that_ends_the_passage_keeps_its_last_item_and_a_cut_code_block_is_closed() -> None:
    units = split_units("Opening hours:\n- Monday to Friday: 9-17\n- Saturday: 10-14")
    assert [u.text for u in units] == ["Opening hours:", "Monday to Friday: 9-17", "Saturday: 10-14"]
    [intro, code] = split_units("Install it:\n\n```bash\npip install cortex")
    assert code.text == "```bash\npip install cortex\n```"


def test_pdf_bullets_are_items_a_wrapped_item_stays_whole_and_comments_are_not_units() -> None:
    units = split_units(
        "• Monday to Friday: 9-17\n• Saturday: 10-14\n\n- Bring the receipt\nand the card.\n\n<!-- draft -->"
    )
    assert [(u.kind, u.text) for u in units] == [
        ("item", "Monday to Friday: 9-17"),
        ("item", "Saturday: 10-14"),
        ("item", "Bring the receipt and the card."),
    ]


def test_table_rows_without_their_header_are_still_rows() -> None:
    units = split_units("| `CORTEX_PORT` | the port |\n| `CORTEX_HOME` | the data directory |")
    assert [(u.kind, u.text) for u in units] == [
        ("row", "`CORTEX_PORT` — the port"),
        ("row", "`CORTEX_HOME` — the data directory"),
    ]
