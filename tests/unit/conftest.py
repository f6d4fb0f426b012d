"""Unit tests see no CORTEX_* environment (the integration stack sets some for the session)."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _clean_cortex_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("CORTEX_"):
            monkeypatch.delenv(key)
