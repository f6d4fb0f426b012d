"""The in-process embedder batches concurrent callers as the Embedder deployment does."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, cast

import pytest

from cortex.models.embedder import Embedder, LocalEmbed


class CountingModel:
    """Stands in for the model's matrix product: a vector that names its text, and the batches it was given."""

    def __init__(self, *, fail_on: str | None = None) -> None:
        self.batches: list[list[str]] = []
        self.fail_on = fail_on
        self.release = threading.Event()
        self.release.set()

    def embed(self, texts: list[str]) -> list[list[float]]:
        self.release.wait(5)
        self.batches.append(list(texts))
        if self.fail_on is not None and self.fail_on in texts:
            raise RuntimeError("model failed")
        return [[float(len(text)), float(sum(map(ord, text)))] for text in texts]


def local(model: CountingModel, **kwargs: Any) -> LocalEmbed:
    return LocalEmbed(cast(Embedder, model), **kwargs)


async def test_concurrent_callers_share_batches_and_each_gets_its_own_vector() -> None:
    model = CountingModel()
    embed = local(model, max_batch_size=64)
    model.release.clear()  # the first batches hold the model while the other callers queue up
    texts = [f"question number {i}" for i in range(100)]
    pending = asyncio.gather(*(embed([text]) for text in texts))
    await asyncio.sleep(0.05)
    model.release.set()
    results = await pending
    assert [vectors[0] for vectors in results] == CountingModel().embed(texts)
    assert len(model.batches) < 10, "100 concurrent questions went to the model one by one"
    assert max(len(batch) for batch in model.batches) <= 64


async def test_a_lone_question_is_embedded_at_once() -> None:
    model = CountingModel()
    embed = local(model)
    assert await asyncio.wait_for(embed(["hello"]), timeout=1) == [[5.0, float(sum(map(ord, "hello")))]]
    assert model.batches == [["hello"]]


async def test_a_failed_batch_fails_its_callers_and_the_next_batch_works() -> None:
    model = CountingModel(fail_on="boom")
    embed = local(model)
    with pytest.raises(RuntimeError, match="model failed"):
        await embed(["boom", "and more"])
    assert await embed(["fine"]) == [[4.0, float(sum(map(ord, "fine")))]]


async def test_a_caller_that_gives_up_does_not_break_the_others() -> None:
    model = CountingModel()
    embed = local(model)
    model.release.clear()
    impatient = asyncio.ensure_future(asyncio.wait_for(embed(["first"]), timeout=0.01))
    patient = asyncio.ensure_future(embed(["second"]))
    with pytest.raises(asyncio.TimeoutError):
        await impatient
    model.release.set()
    assert await patient == [[6.0, float(sum(map(ord, "second")))]]
