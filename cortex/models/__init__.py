"""Models and their adapters: the embedder, LLM backends."""
