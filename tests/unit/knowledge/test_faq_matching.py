"""FAQ matching's scoring: features from the nearest question, phrasing and answer vectors, one weighted score."""

from __future__ import annotations

import pytest

from cortex.knowledge.retrieval import FaqScoring, faq_features, faq_hits
from cortex.knowledge.vectors import faq_vector_ids


def _hit(faq_id: str, version: int, kind: str, similarity: float) -> tuple[str, float, dict, str]:
    return (f"{faq_id}:{version}:{kind}", similarity, {"faq_id": faq_id, "version": version, "kind": kind[0]}, "")


def test_hits_are_grouped_by_faq_and_version_keeping_each_kinds_best() -> None:
    hits = [
        _hit("a", 7, "p1", 0.91),
        _hit("a", 7, "q", 0.83),
        _hit("a", 7, "p0", 0.88),
        _hit("a", 6, "q", 0.95),  # an older version's vector, still in the index
        _hit("b", 2, "a", 0.70),
        ("legacy-id", 0.99, {"workspace_id": "w", "answer": "from before versions"}, "question"),
    ]
    assert faq_hits(hits) == {"a": {7: {"p": 0.91, "q": 0.83}, 6: {"q": 0.95}}, "b": {2: {"a": 0.70}}}


def test_features_take_the_best_of_question_and_phrasings_and_fill_in_what_was_computed() -> None:
    assert faq_features({"q": 0.8, "p": 0.9}, {"a": 0.6}, 0.5) == {"question": 0.9, "answer": 0.6, "lexical": 0.5}
    assert faq_features({"a": 0.7}, {"q": 0.4}, 0.0) == {"question": 0.4, "answer": 0.7, "lexical": 0.0}


def test_an_faq_scores_on_its_question_answer_and_shared_words_by_the_weights() -> None:
    features = {"question": 0.87, "answer": 0.42, "lexical": 0.33}
    assert FaqScoring(question=1, answer=0, lexical=0).score(features) == pytest.approx(0.87)
    assert FaqScoring(question=0.6, answer=0.2, lexical=0.2).score(features) == pytest.approx(0.522 + 0.084 + 0.066)
    # The calibrated default: an answer that says what was asked lifts a looser question match.
    assert FaqScoring().score({"question": 0.7, "answer": 0.8, "lexical": 0.5}) > FaqScoring().score(
        {"question": 0.75, "answer": 0.2, "lexical": 0.1}
    )


def test_vector_ids_name_the_version_so_a_new_one_never_overwrites_the_current_one() -> None:
    assert faq_vector_ids("f", 3, 2) == ["f:3:q", "f:3:p0", "f:3:p1", "f:3:a"]
    assert not set(faq_vector_ids("f", 3, 2)) & set(faq_vector_ids("f", 4, 2))
    assert faq_vector_ids("f", 0, 5) == ["f"]  # stored before versions: one vector under the FAQ's id
