"""Import an uploaded FAQ file (CSV or JSON) into its bot's FAQs, all rows or none (a Ray job).

    python -m ingest.faqs --source <import id>            # what POST /api/knowledge/faqs/import submits
    ray job submit -- "$PWD/.venv/bin/python" -m ingest.faqs --source <id>   # the same, by hand

The upload was validated when it arrived (its bad rows are on the import's record by line) and
kept in the object store; the job parses it again, embeds every question, phrasing, answer and
passage in bounded batches on a model of its own (chat's Embedder keeps serving visitors), and
writes the FAQs through the Indexer: every vector first, under new versioned ids, then one
transaction for the rows. So a failure at any point leaves the bot's FAQs exactly as they were.
Progress on the record: {stage: validating → embedding → writing → done, faqs_total, faqs_done}.
"""

from __future__ import annotations

import argparse
import logging
import uuid
from datetime import UTC, datetime

from cortex.errors import Conflict
from cortex.knowledge import objects
from cortex.knowledge.faq_import import parse_faq_import
from cortex.knowledge.index import Embed, FaqDraft, Indexer
from cortex.knowledge.parsing import ParseError
from cortex.models.embedder import LocalEmbed
from ingest.common import JobContext, JobFailed, run_job

log = logging.getLogger("ingest.faqs")


async def import_faqs(context: JobContext, args: argparse.Namespace, *, embed: Embed | None = None) -> None:
    source = context.source
    if not source["object_key"]:
        raise JobFailed("missing", "This import has no file; upload it again.")
    await context.progress(force=True, stage="validating")
    data = await objects.get(context.object_store, source["object_key"])
    try:
        parsed = parse_faq_import(data, fmt=(source["config"] or {}).get("format"))
    except ParseError as error:
        raise JobFailed(error.code, error.message) from None
    await context.update(row_errors=[{"line": e.line, "unit": e.unit, "message": e.message} for e in parsed.errors])
    if not parsed.rows:
        raise JobFailed("empty", "No row of this file is a valid FAQ; see the row errors. Nothing was imported.")
    total = len(parsed.rows)
    await context.progress(force=True, stage="embedding", faqs_total=total, faqs_done=0)

    async def progress(done: int, stage: str) -> None:
        await context.progress(force=stage != "embedding", stage=stage, faqs_total=total, faqs_done=done)

    indexer = Indexer(pool=context.pool, vectors=context.vectors, embed=embed or LocalEmbed())
    drafts = [
        FaqDraft(uuid.uuid4(), row.question, row.answer, row.tags, row.phrasings, row.enabled) for row in parsed.rows
    ]
    try:
        written = await indexer.write_faqs(
            workspace_id=context.workspace_id, bot_id=context.bot_id, faqs=drafts, progress=progress
        )
    except Conflict as error:
        raise JobFailed("conflict", f"{error.message}. Nothing was imported; your FAQs are as they were.") from None
    except Exception:
        log.exception("the FAQ import failed; nothing was written")
        raise JobFailed(
            "internal",
            "The import stopped on an internal error and changed nothing; your FAQs are as they were. "
            "Import the file again (details in the job's logs).",
        ) from None
    await context.progress(force=True, stage="done", faqs_total=total, faqs_done=total)
    await context.reporter.succeeded(
        {"document_count": len(written), "indexed_at": datetime.now(UTC)},
        f"{len(written)} FAQs imported, {len(parsed.errors)} rows rejected",
    )


if __name__ == "__main__":
    run_job(import_faqs, "Import an uploaded FAQ file into its bot's FAQs, all rows or none.")
