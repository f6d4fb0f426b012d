"""Small value types shared by the knowledge service's file importers (documents, collections, FAQs)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class RowError:
    """One rejected record of an uploaded file, located the way its owner would find it in an editor."""

    line: int  # 1-based: the physical line where the record starts, or its position in a JSON list
    message: str  # what is wrong, phrased for the file's owner; never repeats the location
    unit: Literal["line", "item"] = "line"  # "item" for records of a JSON list, which have no line of their own

    def __str__(self) -> str:
        return f"{self.unit} {self.line}: {self.message}"
