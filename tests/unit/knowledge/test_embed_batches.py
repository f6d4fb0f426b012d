"""Texts go to the Embedder in calls small enough for Ray's 4 MiB messages, both ways."""

from __future__ import annotations

import asyncio
import pickle

from cortex.knowledge.index import EMBED_BATCH_BYTES, EMBED_BATCH_TEXTS, embed_batched, embed_batches
from cortex.models.embedder import DIMENSIONS

RAY_MESSAGE_LIMIT = 4 * 1024 * 1024


def test_many_short_texts_go_256_at_a_time_and_their_vectors_fit_a_message() -> None:
    texts = [f"What is the price of product {n}?" for n in range(1_315)]
    assert [len(batch) for batch in embed_batches(texts)] == [256] * 5 + [35]
    vectors = [[0.123456789] * DIMENSIONS for _ in range(EMBED_BATCH_TEXTS)]
    assert len(pickle.dumps(vectors, protocol=5)) < RAY_MESSAGE_LIMIT / 4


def test_long_non_latin_texts_go_in_smaller_calls() -> None:
    answers = ["质" * 5_000 for _ in range(300)]  # 15,000 bytes each in UTF-8
    batches = list(embed_batches(answers))
    assert sum(len(batch) for batch in batches) == 300
    assert all(sum(len(text.encode()) for text in batch) <= EMBED_BATCH_BYTES for batch in batches)
    assert max(len(pickle.dumps(list(batch), protocol=5)) for batch in batches) < RAY_MESSAGE_LIMIT / 2


def test_embed_batched_keeps_the_order_and_never_sends_more_than_a_batch() -> None:
    calls: list[int] = []

    async def embed(texts: list[str]) -> list[list[float]]:
        calls.append(len(texts))
        return [[float(text)] for text in texts]

    vectors = asyncio.run(embed_batched(embed, [str(n) for n in range(1_000)]))
    assert vectors == [[float(n)] for n in range(1_000)] and max(calls) == EMBED_BATCH_TEXTS
