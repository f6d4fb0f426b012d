"""Shared fixtures. Unit tests need nothing; integration tests share one embedded stack."""

from __future__ import annotations

import os

# The embedding model and tokenizers must load from installed packages, never a hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
