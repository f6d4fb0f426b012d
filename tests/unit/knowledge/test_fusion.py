"""Hybrid ranking: how dense and BM25 scores are mixed."""

from __future__ import annotations

from cortex.contracts import Passage
from cortex.knowledge.retrieval import fuse


def test_a_passage_both_halves_rank_well_beats_one_only_one_half_likes() -> None:
    dense = {"both": 0.80, "dense-only": 0.82, "weak": 0.40}
    lexical = {"both": 11.0, "lexical-only": 12.0, "weak": 2.0}
    ranked = [key for key, _ in fuse(dense, lexical, dense_weight=0.5)]
    assert ranked[0] == "both"
    assert ranked[-1] == "weak"


def test_the_weight_moves_the_ranking_toward_one_half() -> None:
    dense = {"a": 0.9, "b": 0.5, "c": 0.1}
    lexical = {"a": 1.0, "b": 5.0, "c": 9.0}
    assert fuse(dense, lexical, dense_weight=1.0)[0][0] == "a"
    assert fuse(dense, lexical, dense_weight=0.0)[0][0] == "c"


def test_one_empty_half_leaves_the_other_halfs_order() -> None:
    assert [key for key, _ in fuse({"x": 0.3, "y": 0.7}, {}, dense_weight=0.5)] == ["y", "x"]
    assert [key for key, _ in fuse({}, {"x": 3.0, "y": 1.0}, dense_weight=0.5)] == ["x", "y"]


def test_a_snippet_is_cut_at_a_word_boundary() -> None:
    passage = Passage(source_id="s", title="t", text="word " * 200, score=1.0)
    assert len(passage.snippet) <= 300 and passage.snippet.endswith("word…")
