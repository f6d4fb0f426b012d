"""Where the shared real data lives: `../shared/data` beside the checkout (CORTEX_SHARED_DATA overrides)."""

from __future__ import annotations

import os
from pathlib import Path

_CANDIDATES = [Path(__file__).resolve().parents[2] / "shared" / "data", Path("/work/shared/data")]
SHARED_DATA = (
    Path(os.environ["CORTEX_SHARED_DATA"])
    if os.environ.get("CORTEX_SHARED_DATA")
    else next((path for path in _CANDIDATES if path.is_dir()), _CANDIDATES[0])
)
