"""Shared fixtures. Unit tests need nothing; integration and browser tests share one embedded stack."""

from __future__ import annotations

import os

# The embedding model and tokenizers must load from installed packages, never a hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from tests.stack_fixtures import http, redis_client, running_stack, settings  # noqa: E402,F401 - fixtures
