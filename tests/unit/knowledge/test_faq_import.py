"""Bulk FAQ import: good rows are kept, bad ones are reported where the owner will find them."""

from __future__ import annotations

import csv
import json

import pytest

from cortex.devtools.shared_data import SHARED_DATA
from cortex.knowledge.faq_import import FaqRow, parse_faq_import, question_key
from cortex.knowledge.parsing import ParseError
from cortex.knowledge.validation import RowError

FAQ_DATA = SHARED_DATA / "faq"
needs_data = pytest.mark.skipif(not FAQ_DATA.is_dir(), reason="shared data set not present")


def error_of(data: bytes, **kwargs: object) -> ParseError:
    with pytest.raises(ParseError) as caught:
        parse_faq_import(data, **kwargs)  # type: ignore[arg-type]
    return caught.value


def test_csv_keeps_good_rows_and_reports_bad_ones_at_their_starting_line() -> None:
    data = (
        "\ufeffQuestion,ANSWER,Tags,Enabled\r\n"  # line 1: BOM, mixed-case headers, CRLF
        "When do you open?,At 7am.,hours;store,yes\r\n"  # line 2: good
        '"What is your\r\nreturn policy?","30 days,\r\nno questions asked.",returns|policy,\r\n'  # lines 3-5
        "Hi,Too short a question.,,\r\n"  # line 6: question < 3 chars
        "Is there parking?,   ,,\r\n"  # line 7: blank answer
        "\r\n"  # line 8: blank, skipped
        "  when do  YOU open? ,Duplicate.,,\r\n"  # line 9: duplicate of line 2
        "Do you ship abroad?,Yes.,,maybe\r\n"  # line 10: bad enabled
        "Do you sell gift cards?,Yes.,,0\r\n"  # line 11: good, disabled
    ).encode("utf-8")
    result = parse_faq_import(data, fmt=None)
    assert result.rows == [
        FaqRow("When do you open?", "At 7am.", ["hours", "store"], True, 2),
        FaqRow("What is your return policy?", "30 days,\nno questions asked.", ["returns", "policy"], True, 3),
        FaqRow("Do you sell gift cards?", "Yes.", [], False, 11),
    ]
    assert [str(error) for error in result.errors] == [
        "line 6: question must be 3–500 characters, it has 2",
        "line 7: answer is empty",
        "line 9: duplicate question (same as line 2)",
        "line 10: enabled must be yes/no, true/false or 1/0",
    ]


def test_csv_validates_lengths_and_tags() -> None:
    rows = [
        ["question", "answer", "tags"],
        ["Q" * 501, "a", ""],
        ["Long answer?", "a" * 5001, ""],
        ["Many tags?", "yes", ";".join(f"t{index}" for index in range(21))],
        ["Long tag?", "yes", "x" * 41],
        ["Twenty tags exactly?", "yes", "|".join(f"t{index}" for index in range(20))],
    ]
    data = "\n".join(",".join(row) for row in rows).encode()
    result = parse_faq_import(data, fmt="csv")
    assert [row.line for row in result.rows] == [6] and len(result.rows[0].tags) == 20
    messages = {error.line: error.message for error in result.errors}
    assert messages == {
        2: "question must be 3–500 characters, it has 501",
        3: "answer must be at most 5000 characters, it has 5001",
        4: "at most 20 tags allowed, found 21",
        5: f'tag "{"x" * 40}…" is longer than 40 characters',
    }


def test_csv_accepts_semicolons_and_refuses_a_missing_header() -> None:
    result = parse_faq_import(b"question;answer\nWhere are you?;Berlin, Germany.\n", fmt=None)
    assert result.rows == [FaqRow("Where are you?", "Berlin, Germany.", [], True, 2)]
    error = error_of(b"q,a\nWhere?,Berlin\n", fmt="csv")
    assert error.code == "unsupported" and "found q, a" in error.message


def test_json_list_reports_bad_items_by_index() -> None:
    items = [
        {"question": "Do you deliver?", "answer": "Yes, daily.", "tags": ["delivery", "Delivery", " shipping "]},
        {"question": "Do you deliver?", "answer": "Duplicate."},
        "not an object",
        {"question": "Vegan options?", "answer": 42},
        {"question": "Gluten free?", "answer": "Some.", "tags": [1, 2]},
        {"question": "Open on Sunday?", "answer": "No.", "enabled": False, "extra": "ignored"},
        {"answer": "No question."},
    ]
    result = parse_faq_import(json.dumps(items).encode(), fmt="json")
    assert result.rows == [
        FaqRow("Do you deliver?", "Yes, daily.", ["delivery", "shipping"], True, 1),
        FaqRow("Open on Sunday?", "No.", [], False, 6),
    ]
    assert [str(error) for error in result.errors] == [
        "item 2: duplicate question (same as item 1)",
        "item 3: must be an object with question and answer",
        "item 4: answer must be text",
        "item 5: tags must be text separated by ';' or '|', or a list of strings",
        "item 7: question is missing",
    ]
    assert all(isinstance(error, RowError) and error.unit == "item" for error in result.errors)


def test_json_object_with_faqs_key_is_detected_without_a_format() -> None:
    data = b'  {"faqs": [{"question": "Price?", "answer": "10 EUR", "tags": "a|b", "enabled": "no"}]}'
    assert parse_faq_import(data, fmt=None).rows == [FaqRow("Price?", "10 EUR", ["a", "b"], False, 1)]


@pytest.mark.parametrize(
    ("data", "fmt", "code"),
    [
        (b"", None, "empty"),
        (b"\xef\xbb\xbf  \n", None, "empty"),
        (b"[]", None, "empty"),
        (b"question,answer\n", "csv", "empty"),
        (b'[{"question": "x"', None, "corrupt"),
        (b'{"items": []}', None, "unsupported"),
        (b'"just a string"', "json", "unsupported"),
        (bytes(range(256)) * 4, None, "unsupported"),
        (b'question,answer\nok?,"unterminated' + b"x" * 200_000, "csv", "corrupt"),
    ],
)
def test_whole_file_problems_raise_parse_errors(data: bytes, fmt: str | None, code: str) -> None:
    assert error_of(data, fmt=fmt).code == code


def test_row_limit() -> None:
    items = [{"question": f"Question {index}?", "answer": "a"} for index in range(4)]
    assert error_of(json.dumps(items).encode(), fmt="json", max_rows=3).code == "too_large"
    data = "question,answer\n" + "".join(f"Question {index}?,a\n" for index in range(4))
    assert error_of(data.encode(), fmt="csv", max_rows=3).code == "too_large"


@needs_data
def test_real_bank_faq_csv_imports_unique_questions_and_reports_duplicates() -> None:
    path = FAQ_DATA / "BankFAQs.csv"
    result = parse_faq_import(path.read_bytes(), fmt=None)
    with path.open(encoding="utf-8", newline="") as handle:
        source = list(csv.DictReader(handle))
    valid_keys = {question_key(row["Question"]) for row in source if len(row["Answer"].strip()) <= 5000}
    imported_keys = [question_key(row.question) for row in result.rows]
    assert len(result.rows) + len(result.errors) == len(source)
    assert len(set(imported_keys)) == len(imported_keys)  # no question twice
    assert set(imported_keys) == valid_keys  # every question with a valid answer made it in
    duplicates = [error for error in result.errors if error.message.startswith("duplicate question")]
    assert duplicates[0].line == 91 and duplicates[0].message == "duplicate question (same as line 63)"
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[90].split(",")[0] == lines[62].split(",")[0]  # physical lines 91 and 63 ask the same
    assert any("answer must be at most 5000 characters" in error.message for error in result.errors)


@needs_data
def test_real_bank_faq_json_export_imports() -> None:
    with (FAQ_DATA / "bank_faqs.jsonl").open(encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle]
    items = [{"question": r["question"], "answer": r["answer"], "tags": [r["category"]]} for r in records]
    result = parse_faq_import(json.dumps({"faqs": items}).encode(), fmt=None)
    assert len(result.rows) + len(result.errors) == len(items)
    assert 1_200 < len(result.rows) <= 1_316  # 1,316 distinct questions, one answer over 5,000 characters
    assert result.rows[0].tags == ["security"]
    assert all(error.unit == "item" for error in result.errors)


def test_phrasings_column_is_split_like_tags_and_drops_repeats_and_the_question() -> None:
    data = (
        b"question,answer,phrasings\n"
        b'How do I embed the widget?,Paste the script tag.,"How do I put the chat on my website?| add  the chat ;'
        b' ADD THE CHAT;how do I embed the WIDGET?;;"\n'
        b"Do you ship abroad?,Yes.,\n"
    )
    result = parse_faq_import(data, fmt="csv")
    assert [row.phrasings for row in result.rows] == [["How do I put the chat on my website?", "add the chat"], []]
    assert not result.errors


def test_phrasings_are_validated_and_reported_on_their_row() -> None:
    items = [
        {"question": "Opening hours?", "answer": "9 to 5.", "phrasings": ["When are you open?", "When do you close?"]},
        {"question": "Parking?", "answer": "Yes.", "phrasings": ["ok"]},
        {
            "question": "Returns?",
            "answer": "30 days.",
            "phrasings": [f"Can I return it after {n} days?" for n in range(21)],
        },
        {"question": "Gift cards?", "answer": "Yes.", "phrasings": ["x" * 501]},
        {"question": "Delivery?", "answer": "Daily.", "phrasings": [1, 2]},
        {"question": "Vouchers?", "answer": "No.", "phrasings": "Do you sell vouchers? | Any coupons?"},
    ]
    result = parse_faq_import(json.dumps(items).encode(), fmt="json")
    assert [(row.line, row.phrasings) for row in result.rows] == [
        (1, ["When are you open?", "When do you close?"]),
        (6, ["Do you sell vouchers?", "Any coupons?"]),
    ]
    assert [str(error) for error in result.errors] == [
        'item 2: phrasing "ok" must be 3–500 characters, it has 2',
        "item 3: at most 20 phrasings allowed, found 21",
        f'item 4: phrasing "{"x" * 40}…" must be 3–500 characters, it has 501',
        "item 5: phrasings must be text separated by ';' or '|', or a list of strings",
    ]


def test_an_import_of_ten_thousand_faqs_is_accepted() -> None:
    items = [
        {"question": f"What is the price of product {index}?", "answer": f"{index} euros."} for index in range(10_000)
    ]
    result = parse_faq_import(json.dumps(items).encode(), fmt=None)
    assert len(result.rows) == 10_000 and not result.errors and result.format == "json"
    assert error_of(json.dumps(items * 3).encode(), fmt="json").code == "too_large"  # 30,000 rows
