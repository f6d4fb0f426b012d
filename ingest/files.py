"""Ingest one uploaded file or document collection into its bot's knowledge (a Ray job).

    python -m ingest.files --source <source id>            # what the API and `cortex ingest` submit
    ray job submit -- "$PWD/.venv/bin/python" -m ingest.files --source <id>  # the same, by hand

The original is read from the object store (or first downloaded, for a file added by URL,
through the SSRF-safe fetcher); its type was sniffed from its content at upload. A file becomes
one document; a `.jsonl` collection becomes one document per valid line, each keeping its own
id (bad lines are listed on the source with their line numbers). Chunk ids are content hashes,
so a re-run changes only what changed, and documents gone from a re-uploaded collection go too.
"""

from __future__ import annotations

import argparse
import hashlib
from typing import Any

from cortex.fetch import FetchError, SafeFetcher
from cortex.knowledge import objects, store
from cortex.knowledge.parsing import ParsedDocument, ParseError, Section, parse, parse_collection, sniff
from ingest.common import JobContext, JobFailed, document_rows, embedded_chunks, finish_ready, run_job, write_streamed

# A collection of 200,000 documents is a large help-desk export; beyond that, split the file.
MAX_COLLECTION_DOCUMENTS = 200_000


async def _original(context: JobContext) -> bytes:
    source = context.source
    if source["object_key"]:
        return await objects.get(context.object_store, source["object_key"])
    if not source["origin_url"]:
        raise JobFailed("missing", "This source has no file; upload it again.")
    await context.progress(force=True, stage="downloading")
    async with SafeFetcher.from_settings(context.settings) as fetcher:
        try:
            result = await fetcher.fetch(source["origin_url"], max_bytes=context.settings.upload_max_bytes)
        except FetchError as error:
            raise JobFailed(error.code, f"Could not download {source['origin_url']}: {error.message}") from None
    data = result.body
    try:
        kind = sniff(data, filename=source["name"], declared_type=result.content_type)
    except ParseError as error:
        raise JobFailed(error.code, error.message) from None
    key = objects.object_key(workspace_id=context.workspace_id, source_id=context.source_id)
    await objects.put(context.object_store, key, data)
    await context.update(
        object_key=key,
        content_type=kind,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        kind="collection" if kind == "jsonl" else "file",
    )
    return data


async def ingest_file(context: JobContext, args: argparse.Namespace) -> None:
    data = await _original(context)
    kind = context.source["content_type"]
    await context.progress(force=True, stage="parsing")
    documents: list[tuple[str, ParsedDocument, str | None]]
    row_errors: list[dict[str, Any]] = []
    try:
        if kind == "jsonl":
            collection = parse_collection(data, max_documents=MAX_COLLECTION_DOCUMENTS)
            row_errors = [{"line": e.line, "unit": e.unit, "message": e.message} for e in collection.errors]
            documents = [
                (document.id, ParsedDocument(title=document.title, sections=[Section([], document.text)]), document.url)
                for document in collection.documents
            ]
            if not documents:
                raise JobFailed("empty", "No line of this collection is a valid document; see the line errors.")
        else:
            parsed = parse(data, kind)
            if not parsed.title:
                parsed = ParsedDocument(
                    title=context.source["name"], sections=parsed.sections, metadata=parsed.metadata
                )
            documents = [(str(context.source_id), parsed, context.source["origin_url"])]
    except ParseError as error:
        raise JobFailed(error.code, error.message) from None
    await context.update(row_errors=row_errors)
    # Documents no longer in a re-uploaded collection are removed from the indexes.
    async with context.pool.acquire() as conn:
        before = set(await store.document_keys(conn, workspace_id=context.workspace_id, source_id=context.source_id))
    gone = sorted(before - {key for key, _, _ in documents})
    if gone:
        await context.indexer.remove_documents(
            workspace_id=context.workspace_id, bot_id=context.bot_id, source_id=context.source_id, document_keys=gone
        )
    await context.progress(force=True, stage="embedding", documents_total=len(documents), documents_done=0)
    rows = document_rows(context.source_id, documents)
    totals = await write_streamed(
        context,
        embedded_chunks(rows, batch_size=context.settings.ingest_embed_batch),
        total_documents=len(documents),
    )
    if totals["chunks"] == 0:
        raise JobFailed("empty", "No text could be indexed from this file.")
    await finish_ready(
        context,
        message=f"{totals['documents']} documents, {totals['chunks']} chunks ({totals['added']} new)",
    )


if __name__ == "__main__":
    run_job(ingest_file, "Ingest an uploaded file or .jsonl document collection into its bot's knowledge.")
