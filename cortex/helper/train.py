"""Fit the intent classifier on every shipped example and write its weights (`python -m cortex.helper.train`).

Run it after editing `data/labelled_turns.jsonl`; a unit test fails while the shipped weights
were fitted on other data. The embedder is the project's own (cortex/models/embedder.py).
"""

from __future__ import annotations

import sys

import numpy as np

from cortex.helper import classifier
from cortex.models.embedder import Embedder


def example_features(embedder: Embedder, turns: list[classifier.LabelledTurn]) -> np.ndarray:
    """The examples' classifier inputs, their embeddings computed as the live path computes a question's."""
    texts = [turn.text for turn in turns]
    return classifier.features_many(embedder.encode(texts), texts)


def main() -> int:
    turns = classifier.load_labelled_turns()
    feature_matrix = example_features(Embedder(), turns)
    model = classifier.fit(feature_matrix, [turn.intent for turn in turns], data_sha256=classifier.data_digest())
    model.save()
    accuracy = np.mean(np.array(model.predict_many(feature_matrix)) == np.array([turn.intent for turn in turns]))
    print(f"intent classifier: {len(turns)} examples, training accuracy {accuracy:.3f} -> {classifier.MODEL_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
