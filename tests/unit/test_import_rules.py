"""The import rules between services (pyproject's [tool.importlinter] contracts) hold: `make test`
checks them as `make lint` does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_import_contract_is_kept() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--no-cache", "--no-logo"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    broken = [line.removesuffix(" BROKEN") for line in result.stdout.splitlines() if line.endswith(" BROKEN")]
    summary = "\n  ".join(broken) or "(see the output below)"
    assert result.returncode == 0, f"broken import contracts:\n  {summary}\n\n{result.stdout}{result.stderr}"
