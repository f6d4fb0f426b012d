"""The answer cache's hashing: paraphrases share a bucket, unrelated questions rarely do."""

from __future__ import annotations

import numpy as np

from cortex.core.answers import BITS, TABLES, buckets


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def test_close_questions_meet_in_some_table_and_far_ones_mostly_do_not() -> None:
    rng = np.random.default_rng(7)
    close_hits = far_hits = 0
    for _ in range(200):
        question = _unit(rng.standard_normal(384).astype(np.float32))
        noise = _unit(rng.standard_normal(384).astype(np.float32))
        paraphrase = _unit(question + 0.33 * noise)  # cosine ~0.95
        assert float(question @ paraphrase) > 0.93
        other = _unit(rng.standard_normal(384).astype(np.float32))
        a, b, c = buckets(question), buckets(paraphrase), buckets(other)
        assert len(a) == TABLES and all(len(bucket) == BITS for bucket in a)
        close_hits += any(x == y for x, y in zip(a, b, strict=True))
        far_hits += any(x == y for x, y in zip(a, c, strict=True))
    assert close_hits >= 180  # >= 90% of paraphrases are found
    assert far_hits <= 40  # unrelated questions share a bucket ~6% of the time per table
