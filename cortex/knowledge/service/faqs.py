"""FAQs: one at a time (indexed before the answer), bulk imports (a Ray job), and upgrading old ones."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Awaitable, Callable

import asyncpg

from cortex.errors import Conflict, Invalid, NotFound
from cortex.http.app import ServiceResources
from cortex.http.security import Principal
from cortex.knowledge import objects, schemas, store
from cortex.knowledge.faq_import import FaqFormat, parse_faq_import
from cortex.knowledge.index import Embed, FaqDraft, Indexer
from cortex.knowledge.parsing import ParseError
from cortex.knowledge.service.base import ServiceBase, faq_public, log, safe_name
from cortex.knowledge.validation import clean_phrasings
from cortex.knowledge.vectors import VectorStore

# FAQs upgraded per round: a few batches of the Embedder, so one round stays short.
UPGRADE_FAQS_PER_ROUND = 200
# After a failed round, the upgrader waits this long before trying again.
UPGRADE_RETRY_S = 5.0


class FaqService(ServiceBase):
    """A bot's FAQs, written through the indexer so rows and vectors change together."""

    async def create_faq(self, principal: Principal, data: schemas.FaqIn) -> schemas.FaqPublic:
        """Store one FAQ (an FAQ asking the same question is replaced) and index it, before answering."""
        draft = FaqDraft(
            id=uuid.uuid4(),
            question=data.question,
            answer=data.answer,
            tags=data.tags,
            phrasings=data.phrasings,
            enabled=data.enabled,
        )
        [row] = await self.indexer.write_faqs(workspace_id=principal.workspace_id, bot_id=data.bot_id, faqs=[draft])
        return faq_public(row)

    async def import_faqs(
        self, principal: Principal, *, bot_id: uuid.UUID, filename: str, data: bytes, fmt: FaqFormat | None
    ) -> schemas.SourcePublic:
        """Validate every row now (bad ones are on the record by line), keep the upload, and import
        the good rows all together in a Ray job (202: follow `status` and `progress` on the record)."""
        try:  # 20,000 rows take a moment: off the event loop, which other requests share
            parsed = await asyncio.to_thread(parse_faq_import, data, fmt=fmt)
        except ParseError as error:
            raise Invalid(error.message, details={"code": error.code}) from None
        row_errors = [{"line": e.line, "unit": e.unit, "message": e.message} for e in parsed.errors]
        if not parsed.rows:
            raise Invalid(
                "No row of this file is a valid FAQ; nothing was imported.",
                details=[
                    {
                        "field": "file",
                        "type": "row_error",
                        **error,
                        "message": f"{error['unit']} {error['line']}: {error['message']}",
                    }
                    for error in row_errors
                ],
            )
        source_id = uuid.uuid4()
        key = objects.object_key(workspace_id=principal.workspace_id, source_id=source_id)
        await objects.put(self.objects, key, data)
        async with self.db.acquire() as conn:
            row = await store.create_source(
                conn,
                workspace_id=principal.workspace_id,
                bot_id=bot_id,
                source_id=source_id,
                kind="faq_import",
                name=safe_name(filename),
                fields={
                    "content_type": parsed.format,
                    "size_bytes": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "object_key": key,
                    "config": {"format": parsed.format},
                    "row_errors": row_errors,
                    "progress": {"stage": "queued", "faqs_total": len(parsed.rows), "faqs_done": 0},
                },
            )
        return await self._submit(row, "faqs", "--source", str(source_id))

    async def list_faqs(
        self, principal: Principal, *, bot_id: uuid.UUID | None, search: str | None, limit: int, offset: int
    ) -> list[schemas.FaqPublic]:
        async with self.db.acquire() as conn:
            rows = await store.list_faqs(
                conn, workspace_id=principal.workspace_id, bot_id=bot_id, search=search, limit=limit, offset=offset
            )
        return [faq_public(row) for row in rows]

    async def get_faq(self, principal: Principal, faq_id: uuid.UUID) -> schemas.FaqPublic:
        async with self.db.acquire() as conn:
            row = await store.get_faq(conn, workspace_id=principal.workspace_id, faq_id=faq_id)
        if row is None:
            raise NotFound("FAQ not found")
        return faq_public(row)

    async def update_faq(self, principal: Principal, faq_id: uuid.UUID, data: schemas.FaqUpdate) -> schemas.FaqPublic:
        """Change an FAQ; it is re-indexed as a new version, so its old vectors answer until it is saved."""
        changes = {key: value for key, value in data.model_dump(exclude_unset=True).items() if value is not None}
        async with self.db.acquire() as conn:
            row = await store.get_faq(conn, workspace_id=principal.workspace_id, faq_id=faq_id)
        if row is None:
            raise NotFound("FAQ not found")
        merged = {key: changes.get(key, row[key]) for key in ("question", "answer", "tags", "phrasings", "enabled")}
        draft = FaqDraft(
            id=faq_id, **{**merged, "phrasings": clean_phrasings(merged["phrasings"], question=merged["question"])}
        )
        try:
            written = await self.indexer.write_faqs(
                workspace_id=principal.workspace_id,
                bot_id=row["bot_id"],
                faqs=[draft],
                by="id",
                expected_versions={faq_id: row["version"]},
            )
        except asyncpg.UniqueViolationError:
            raise Conflict("this bot already has an FAQ with that question") from None
        if not written:
            async with self.db.acquire() as conn:
                if await store.get_faq(conn, workspace_id=principal.workspace_id, faq_id=faq_id) is None:
                    raise NotFound("FAQ not found")
            raise Conflict("this FAQ was changed by someone else meanwhile; reload it and try again")
        return faq_public(written[0])

    async def delete_faq(self, principal: Principal, faq_id: uuid.UUID) -> None:
        if await self.indexer.remove_faq(workspace_id=principal.workspace_id, faq_id=faq_id) is None:
            raise NotFound("FAQ not found")


def faq_upgrader(make_embed: Callable[[], Embed]) -> Callable[[ServiceResources], Awaitable[None]]:
    """A background loop that re-indexes FAQs stored before versions (version 0), whose single
    vector matching no longer reads, as versioned vectors; then it idles. `make_embed` is called
    only if there is something to upgrade."""

    async def upgrade_unversioned_faqs(resources: ServiceResources) -> None:
        assert resources.db is not None
        indexer: Indexer | None = None
        while not resources.stopping.is_set():
            try:
                async with resources.db.acquire() as conn:
                    rows = await store.unversioned_faqs(conn, limit=UPGRADE_FAQS_PER_ROUND)
                if not rows:
                    break
                if indexer is None:
                    vectors = VectorStore(resources.settings.resolved_chroma_url())
                    indexer = Indexer(pool=resources.db, vectors=vectors, embed=make_embed())
                await upgrade_faqs(indexer, rows)
            except Exception:
                log.exception("upgrading FAQs to versioned vectors failed; trying again")
                try:
                    await asyncio.wait_for(resources.stopping.wait(), timeout=UPGRADE_RETRY_S)
                except TimeoutError:
                    pass
        await resources.stopping.wait()  # a background task that ends fails the replica's health check

    return upgrade_unversioned_faqs


async def upgrade_faqs(indexer: Indexer, rows: list[asyncpg.Record]) -> None:
    """Re-write FAQs stored before versions under versioned vectors, a bot at a time; the vector
    each had under its bare id goes once its row names the new version."""
    by_bot: dict[tuple[uuid.UUID, uuid.UUID], list[asyncpg.Record]] = {}
    for row in rows:
        by_bot.setdefault((row["workspace_id"], row["bot_id"]), []).append(row)
    for (workspace_id, bot_id), faqs in by_bot.items():
        # Every replica runs this: the version check lets one write win, the others' vectors go.
        await indexer.write_faqs(
            workspace_id=workspace_id,
            bot_id=bot_id,
            faqs=[
                FaqDraft(row["id"], row["question"], row["answer"], row["tags"], row["phrasings"], row["enabled"])
                for row in faqs
            ],
            by="id",
            expected_versions={row["id"]: 0 for row in faqs},
        )
