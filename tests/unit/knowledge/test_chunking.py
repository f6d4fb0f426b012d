"""Chunking: sizes the embedder can see, overlap inside sections, stable ids and kept heading paths."""

from __future__ import annotations

import pytest

from cortex.devtools.shared_data import SHARED_DATA
from cortex.knowledge.chunking import (
    DEFAULT_MIN_TOKENS,
    DEFAULT_OVERLAP_TOKENS,
    DEFAULT_TARGET_TOKENS,
    Chunk,
    chunk_document,
    count_tokens,
    embedding_text,
)
from cortex.knowledge.parsing import ParsedDocument, Section, parse

SITE = SHARED_DATA / "site"
needs_data = pytest.mark.skipif(not SITE.is_dir(), reason="shared data set not present")
MAX_WORDS = DEFAULT_TARGET_TOKENS + DEFAULT_MIN_TOKENS  # a full chunk plus a merged tiny tail


def sentences(count: int, *, topic: str = "refund", words: int = 12) -> str:
    """`count` distinct sentences of `words` words each."""
    filler = " ".join(f"{topic}{index}" for index in range(words - 3))
    return " ".join(f"Sentence {number} says {filler}." for number in range(count))


def long_document() -> ParsedDocument:
    return ParsedDocument(
        title="Help Center",
        sections=[
            Section(["Billing"], "\n\n".join(sentences(8, topic=f"bill{p}") for p in range(5)), None),
            Section(["Billing", "Refunds"], sentences(30, topic="refund"), None),
            Section(["Shipping"], sentences(25, topic="ship"), None),
        ],
    )


def test_chunks_stay_within_the_embedding_window() -> None:
    chunks = chunk_document(long_document(), source_id="src-1")
    assert len(chunks) > 5
    sizes = [count_tokens(chunk.text) for chunk in chunks]
    assert max(sizes) <= MAX_WORDS
    assert min(sizes) >= DEFAULT_MIN_TOKENS
    assert [chunk.ord for chunk in chunks] == list(range(len(chunks)))


@needs_data
def test_real_pages_chunk_within_bounds() -> None:
    for path in [SITE / "tutorials" / "data_analysis.html", SITE / "api" / "wepy.analysis.html"]:
        document = parse(path.read_bytes(), "html")
        chunks = chunk_document(document, source_id=str(path))
        assert chunks and all(count_tokens(chunk.text) <= MAX_WORDS for chunk in chunks)
        assert all(chunk.title == document.title for chunk in chunks)
        page_words = sum(count_tokens(section.text) for section in document.sections)
        assert sum(count_tokens(chunk.text) for chunk in chunks) >= page_words  # nothing lost, overlap added


def test_consecutive_chunks_of_a_section_overlap() -> None:
    document = ParsedDocument("Doc", [Section(["Refunds"], sentences(40), None)])
    chunks = chunk_document(document, source_id="src-1")
    assert len(chunks) >= 3
    for previous, current in zip(chunks, chunks[1:], strict=False):
        previous_tail = previous.text.split(". ")[-1]
        assert previous_tail in current.text[: len(previous_tail) + DEFAULT_OVERLAP_TOKENS * 12]
        assert current.text.startswith("Sentence ")  # overlap starts at a sentence boundary


def test_no_overlap_and_no_merge_across_top_level_sections() -> None:
    chunks = chunk_document(long_document(), source_id="src-1")
    shipping = [chunk for chunk in chunks if chunk.heading_path[:1] == ["Shipping"]]
    billing = [chunk for chunk in chunks if chunk.heading_path[:1] == ["Billing"]]
    assert shipping and billing and len(shipping) + len(billing) == len(chunks)
    assert all("ship" not in chunk.text for chunk in billing)
    assert all("refund" not in chunk.text and "bill" not in chunk.text for chunk in shipping)
    assert shipping[0].text.startswith("Sentence 0 says ship0")


def test_heading_paths_are_kept_and_text_has_no_prefix() -> None:
    chunks = chunk_document(long_document(), source_id="src-1")
    paths = {tuple(chunk.heading_path) for chunk in chunks}
    assert ("Billing", "Refunds") in paths and ("Shipping",) in paths
    refunds = next(chunk for chunk in chunks if chunk.heading_path == ["Billing", "Refunds"])
    assert refunds.text.startswith("Sentence ") and "Help Center" not in refunds.text
    assert embedding_text(refunds) == f"Help Center — Billing > Refunds\n\n{refunds.text}"


def test_small_subsections_share_a_chunk_under_their_common_heading() -> None:
    document = ParsedDocument(
        "FAQ",
        [
            Section(["Orders", "Can I cancel?"], "Yes, within one hour of ordering, from your account page.", None),
            Section(["Orders", "Can I change the address?"], "Yes, until the parcel ships; write to support.", None),
        ],
    )
    [chunk] = chunk_document(document, source_id="faq")
    assert chunk.heading_path == ["Orders"]
    assert chunk.text == (
        "Can I cancel?\n\nYes, within one hour of ordering, from your account page.\n\n"
        "Can I change the address?\n\nYes, until the parcel ships; write to support."
    )


def test_long_paragraphs_split_at_sentences_and_unpunctuated_text_at_words() -> None:
    paragraph = sentences(20, words=20)  # 400 words, one paragraph
    chunks = chunk_document(ParsedDocument("T", [Section([], paragraph, None)]), source_id="s", overlap_tokens=0)
    assert all(chunk.text.endswith(".") for chunk in chunks)
    run_on = " ".join(f"word{index}" for index in range(1_000))
    chunks = chunk_document(ParsedDocument("T", [Section([], run_on, None)]), source_id="s", overlap_tokens=0)
    assert [count_tokens(chunk.text) for chunk in chunks] == [150] * 6 + [100]
    assert " ".join(chunk.text for chunk in chunks) == run_on


def test_paragraphs_stay_whole_once_a_chunk_is_half_full() -> None:
    paragraphs = [sentences(8, topic=f"p{index}") for index in range(4)]  # 96 words each
    chunks = chunk_document(ParsedDocument("T", [Section([], "\n\n".join(paragraphs), None)]), source_id="s")
    assert chunks[0].text == paragraphs[0]
    assert all(chunk.text.endswith(paragraph) for chunk, paragraph in zip(chunks[1:], paragraphs[1:], strict=True))


def test_a_short_paragraph_is_filled_up_rather_than_left_as_a_tiny_chunk() -> None:
    text = "Read this first.\n\n" + sentences(12)  # 3 words, then a 144-word paragraph
    chunks = chunk_document(ParsedDocument("T", [Section([], text, None)]), source_id="s")
    assert count_tokens(chunks[0].text) >= DEFAULT_MIN_TOKENS
    assert chunks[0].text.startswith("Read this first.\n\nSentence 0 says")


def test_space_free_text_is_sliced_so_chunks_stay_bounded() -> None:
    blob = "字" * 20_000
    chunks = chunk_document(ParsedDocument("T", [Section([], blob, None)]), source_id="s")
    assert len(chunks) > 1 and all(len(chunk.text) < 10_000 for chunk in chunks)


def test_a_tiny_trailing_chunk_is_merged_into_the_previous_one() -> None:
    text = " ".join(f"w{index}" for index in range(DEFAULT_TARGET_TOKENS + 10))
    chunks = chunk_document(ParsedDocument("T", [Section([], text, None)]), source_id="s")
    assert len(chunks) == 1 and count_tokens(chunks[0].text) == DEFAULT_TARGET_TOKENS + 10


def test_ids_are_stable_across_reingestion_and_scoped_to_the_source() -> None:
    first = chunk_document(long_document(), source_id="src-1")
    again = chunk_document(long_document(), source_id="src-1")
    other = chunk_document(long_document(), source_id="src-2")
    assert [chunk.id for chunk in first] == [chunk.id for chunk in again]
    assert len({chunk.id for chunk in first}) == len(first)
    assert not {chunk.id for chunk in first} & {chunk.id for chunk in other}
    assert [chunk.content_hash for chunk in first] == [chunk.content_hash for chunk in other]
    assert all(len(chunk.id) == 64 and int(chunk.id, 16) >= 0 for chunk in first)


def test_ids_survive_edits_elsewhere_and_whitespace_changes() -> None:
    original = long_document()
    edited = ParsedDocument(
        original.title,
        [Section(["Billing"], original.sections[0].text.replace(" ", "  "), None), *original.sections[1:]],
    )
    assert [chunk.id for chunk in chunk_document(original, source_id="s")] == [
        chunk.id for chunk in chunk_document(edited, source_id="s")
    ]


def test_identical_passages_in_one_source_get_distinct_ids() -> None:
    boilerplate = "Questions? Write to help@shop.example or call us on weekdays between nine and five, we answer fast."
    document = ParsedDocument("T", [Section(["A"], boilerplate, None), Section(["A"], boilerplate, 2)])
    first, second = chunk_document(document, source_id="s")
    assert first.text == second.text and first.content_hash == second.content_hash
    assert first.id != second.id
    assert (first.page, second.page) == (None, 2)


def test_pdf_pages_are_kept_on_chunks() -> None:
    document = ParsedDocument(
        "Manual", [Section([], sentences(20), 1), Section([], sentences(3, topic="tail"), 2)], {"kind": "pdf"}
    )
    chunks = chunk_document(document, source_id="manual.pdf")
    assert {chunk.page for chunk in chunks} == {1, 2}
    assert all("tail" not in chunk.text for chunk in chunks if chunk.page == 1)


def test_empty_documents_give_no_chunks_and_bad_arguments_are_refused() -> None:
    assert chunk_document(ParsedDocument("T", [Section([], "  ", None)]), source_id="s") == []
    with pytest.raises(ValueError):
        chunk_document(long_document(), source_id="")
    with pytest.raises(ValueError):
        chunk_document(long_document(), source_id="s", target_tokens=50, overlap_tokens=50)
    assert isinstance(chunk_document(long_document(), source_id="s")[0], Chunk)
