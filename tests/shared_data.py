"""Where the shared material lives: `../shared` beside the checkout (CORTEX_SHARED_DIR overrides)."""

from __future__ import annotations

import os
from pathlib import Path

_CANDIDATES = [Path(__file__).resolve().parents[2] / "shared", Path("/work/shared")]
SHARED = (
    Path(os.environ["CORTEX_SHARED_DIR"])
    if os.environ.get("CORTEX_SHARED_DIR")
    else next((path for path in _CANDIDATES if path.is_dir()), _CANDIDATES[0])
)
SHARED_DATA = SHARED / "data"
