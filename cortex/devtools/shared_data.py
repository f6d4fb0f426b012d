"""Where the shared test and benchmark data live: `../shared` beside the checkout.

CORTEX_SHARED_DIR overrides; /work/shared is the fallback of a checkout elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[2]
_CANDIDATES = [_CHECKOUT.parent / "shared", Path("/work/shared")]
SHARED = (
    Path(os.environ["CORTEX_SHARED_DIR"])
    if os.environ.get("CORTEX_SHARED_DIR")
    else next((path for path in _CANDIDATES if path.is_dir()), _CANDIDATES[0])
)
SHARED_DATA = SHARED / "data"
# 1,486 bank FAQ rows (question, answer, category): the FAQ import tests and answer benchmarks use it.
BANK_FAQ = SHARED_DATA / "faq" / "bank_faqs.jsonl"
