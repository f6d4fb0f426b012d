"""The identity-verification samples website owners copy (docs/embedding.md) compute the hash
Cortex checks, in Python and in Node.js."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from cortex.auth.service.visitors import user_hash
from tests.doc_samples import ROOT, samples

EMBEDDING = ROOT / "docs" / "embedding.md"


def _sample(language: str) -> str:
    (code,) = [s.code for s in samples(EMBEDDING) if s.language == language and "IDENTITY_SECRET" in s.code]
    return code


def test_the_python_and_node_samples_compute_the_hash_cortex_checks() -> None:
    expected = user_hash("cis_EXAMPLE-secret-from-the-dashboard", "customer-4711")
    python = subprocess.run([sys.executable, "-c", _sample("python")], capture_output=True, text=True, check=True)
    assert python.stdout.strip() == expected
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed")
    result = subprocess.run([node, "-e", _sample("javascript")], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == expected
