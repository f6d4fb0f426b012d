"""The demo's content and rules, without a stack (building it on the real stack: tests/integration/test_demo.py)."""

from __future__ import annotations

import dataclasses

import pytest

from cortex.auth.passwords import check_policy
from cortex.cli import summary
from cortex.core.answer_text import sanitize_answer
from cortex.core.schemas import Appearance
from cortex.demo import FAQS, OWNER_EMAIL, SUGGESTED_QUESTIONS, Demo, _random_password, demo_origins, documents
from cortex.knowledge.schemas import FaqIn
from cortex.settings import Settings


@pytest.mark.parametrize("faq", FAQS, ids=lambda faq: faq["question"])
def test_every_faq_answer_reaches_the_visitor_unchanged(faq: dict) -> None:
    # Chat strips anything tag-like from answers: an answer that needs `<…>` would arrive mangled.
    answer = faq["answer"].format(url="http://127.0.0.1:8000")
    assert sanitize_answer(answer) == answer
    FaqIn(bot_id="00000000-0000-0000-0000-000000000001", question=faq["question"], answer=answer, tags=faq["tags"])


def test_each_suggested_question_has_an_exact_faq_answer() -> None:
    Appearance(suggested_questions=SUGGESTED_QUESTIONS)
    questions = {faq["question"] for faq in FAQS}
    assert set(SUGGESTED_QUESTIONS) <= questions
    embed = next(faq for faq in FAQS if faq["question"] == "How do I embed the widget?")
    assert "/embed.js" in embed["answer"] and "data-bot-key" in embed["answer"]


def test_the_demo_page_is_allowed_from_both_loopback_names() -> None:
    assert demo_origins(Settings(http_port=8123)) == ["http://127.0.0.1:8123", "http://localhost:8123"]
    assert demo_origins(Settings(public_url="http://localhost:9000/")) == [
        "http://localhost:9000",
        "http://127.0.0.1:9000",
    ]
    assert demo_origins(Settings(public_url="https://chat.example.com")) == ["https://chat.example.com"]


def test_the_demo_password_passes_the_policy_and_is_never_recorded() -> None:
    for _ in range(20):
        check_policy(_random_password(), email=OWNER_EMAIL, min_length=10)
    demo = Demo("w", OWNER_EMAIL, "b", "k", "pk_x", "http://h/demo", "http://h/dashboard", password="secret-pw")
    assert "password" not in demo.record() and "secret-pw" not in str(demo.record())
    assert {field.name for field in dataclasses.fields(Demo)} - set(demo.record()) == {"password"}


def test_the_bot_is_taught_the_readme_and_every_doc() -> None:
    names = [path.name for path in documents()]
    assert names[0] == "README.md" and "quickstart.md" in names and "embedding.md" in names


def test_up_prints_the_credentials_only_when_it_just_chose_them() -> None:
    demo = Demo("w", OWNER_EMAIL, "b", "k", "pk_x", "http://h/demo", "http://h/dashboard", password="pw-123456")
    first = "\n".join(summary("http://h", "http://h:8265", demo))
    assert "http://h/demo" in first and "pw-123456" in first and "make down" in first
    assert "http://h/api/auth/docs" in first and "http://h/v1/docs" in first and "http://h:8265" in first
    again = "\n".join(summary("http://h", "http://h:8265", dataclasses.replace(demo, password=None)))
    assert "pw-123456" not in again and OWNER_EMAIL in again and "--new-password" in again
    without = "\n".join(summary("http://h", "http://h:8265", None))
    assert "/demo" not in without and "http://h/dashboard" in without
