"""Request and response models of the knowledge API: sources, FAQs, crawls, search."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from cortex.knowledge.validation import (
    MAX_PHRASINGS,
    QUESTION_MAX_CHARS,
    QUESTION_MIN_CHARS,
    clean_phrasings,
)

# faq_import: one bulk FAQ import (its upload, line errors and job); the FAQs themselves live in the
# bot's one `faq` source.
SourceKind = Literal["file", "collection", "crawl", "faq", "faq_import"]
SourceStatus = Literal["pending", "queued", "running", "ready", "failed", "paused", "cancelled"]
PageStatus = Literal["queued", "fetched", "not_modified", "failed", "skipped"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _http_url(value: str) -> str:
    if not re.match(r"^https?://[^\s/]+", value, re.IGNORECASE):
        raise ValueError("must be an http:// or https:// URL")
    return value


HttpUrlText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2048), AfterValidator(_http_url)]


def _pattern(value: str) -> str:
    """A glob on the URL path (`/blog/*`), or a regex after `re:` (`re:^/docs/v[0-9]+/`)."""
    if value.startswith("re:"):
        try:
            re.compile(value[3:])
        except re.error as error:
            raise ValueError(f"not a valid regular expression: {error}") from None
    return value


Pattern = Annotated[str, StringConstraints(min_length=1, max_length=300), AfterValidator(_pattern)]


class RowErrorOut(BaseModel):
    line: int = Field(description="the line (CSV, JSONL) or item (JSON list) number, from 1")
    unit: Literal["line", "item"] = "line"
    message: str


class JobOut(BaseModel):
    id: str
    entrypoint: str
    status: str
    message: str | None
    submitted_at: datetime
    finished_at: datetime | None


class SourcePublic(BaseModel):
    id: uuid.UUID
    bot_id: uuid.UUID
    kind: SourceKind
    name: str
    status: SourceStatus
    error_code: str | None
    error: str | None
    content_type: str | None
    size_bytes: int | None
    origin_url: str | None
    config: dict[str, Any]
    progress: dict[str, Any]
    row_errors: list[RowErrorOut]
    document_count: int
    chunk_count: int
    job_id: str | None
    schedule_s: int | None
    next_run_at: datetime | None
    indexed_at: datetime | None
    created_at: datetime
    updated_at: datetime


class SourceDetail(SourcePublic):
    jobs: list[JobOut]


class FileFromUrl(Strict):
    bot_id: uuid.UUID
    url: HttpUrlText
    name: str | None = Field(None, max_length=255)


Question = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=QUESTION_MIN_CHARS, max_length=QUESTION_MAX_CHARS)
]
Answer = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
# Blank entries and repeats are dropped, so the list may be longer before cleaning than after.
Phrasings = Annotated[list[str], Field(max_length=4 * MAX_PHRASINGS), AfterValidator(clean_phrasings)]
PHRASINGS_HELP = (
    f"other ways visitors ask the question (each {QUESTION_MIN_CHARS}–{QUESTION_MAX_CHARS} characters, "
    f"at most {MAX_PHRASINGS}); repeats and the question itself are dropped"
)


class FaqIn(Strict):
    bot_id: uuid.UUID
    question: Question
    answer: Answer
    tags: list[Tag] = Field(default_factory=list, max_length=20)
    phrasings: Phrasings = Field(default_factory=list, description=PHRASINGS_HELP)
    enabled: bool = True

    @model_validator(mode="after")
    def _drop_the_question(self) -> FaqIn:
        self.phrasings = clean_phrasings(self.phrasings, question=self.question)
        return self


class FaqUpdate(Strict):
    question: Question | None = None
    answer: Answer | None = None
    tags: list[Tag] | None = Field(None, max_length=20)
    phrasings: Phrasings | None = Field(None, description=PHRASINGS_HELP)
    enabled: bool | None = None


class FaqPublic(BaseModel):
    id: uuid.UUID
    bot_id: uuid.UUID
    question: str
    answer: str
    tags: list[str]
    phrasings: list[str]
    enabled: bool
    created_at: datetime
    updated_at: datetime


Schedule = Literal["daily", "weekly", "monthly"]
SCHEDULE_SECONDS: dict[str, int] = {"daily": 86_400, "weekly": 7 * 86_400, "monthly": 30 * 86_400}


class CrawlIn(Strict):
    bot_id: uuid.UUID
    start_url: HttpUrlText
    sitemap_url: HttpUrlText | None = Field(None, description="unset: the sitemaps robots.txt lists")
    include: list[Pattern] = Field(
        default_factory=list, max_length=50, description="path globs (or re:regexes) a page must match"
    )
    exclude: list[Pattern] = Field(
        default_factory=list, max_length=50, description="path globs (or re:regexes) to skip"
    )
    max_depth: int = Field(5, ge=0, le=20)
    # 500 pages: a small business site with its blog; raise it for a documentation site.
    max_pages: int = Field(500, ge=1, le=20_000)
    delay_s: float = Field(1.0, ge=0.0, le=60.0, description="pause between two requests to the same host")
    schedule: Schedule | None = Field(None, description="re-crawl on this schedule (only changed pages re-index)")


class CrawlUpdate(Strict):
    schedule: Schedule | None = None


class PagePublic(BaseModel):
    url: str
    depth: int
    status: PageStatus
    http_status: int | None
    error: str | None
    title: str | None
    fetched_at: datetime | None


class SearchFilters(Strict):
    source_ids: list[uuid.UUID] | None = Field(None, max_length=100)
    kinds: list[SourceKind] | None = None


class SearchIn(Strict):
    bot_id: uuid.UUID
    query: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
    k: int = Field(5, ge=1, le=200)
    mode: Literal["hybrid", "dense", "lexical"] = "hybrid"
    filters: SearchFilters | None = None


class PassageOut(BaseModel):
    source_id: str = Field(description="citation id: a document's own id, a page URL, a file or FAQ id")
    source: uuid.UUID = Field(description="the knowledge source (file, collection, crawl, FAQ list)")
    chunk_id: str
    title: str
    url: str | None
    snippet: str
    text: str
    score: float = Field(description="fused rank score (higher is better)")
    similarity: float = Field(description="cosine similarity of the passage to the query")


class SearchOut(BaseModel):
    passages: list[PassageOut]
    took_ms: float
