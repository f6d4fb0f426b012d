"""Bulk FAQ imports through the gateway: a Ray job each, with progress on the import's record, all
rows or none. A failed import, however far it got, leaves the FAQs exactly as they were and still
answering; the writer is driven here with a failing Chroma, a failing embedder and a failing row.
The 10,000-row import runs with CORTEX_SLOW_TESTS=1 (minutes on 2 cores)."""

from __future__ import annotations

import asyncio
import html
import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import pytest

from cortex.db import create_pool
from cortex.devtools.shared_data import SHARED_DATA
from cortex.knowledge import store
from cortex.knowledge.index import FaqDraft, Indexer
from cortex.knowledge.service import upgrade_faqs
from cortex.knowledge.vectors import VectorStore, faq_collection
from cortex.models.embedder import LocalEmbed
from cortex.settings import Settings

from .accounts import Account, register
from .chatting import make_bot, visitor_of

BANK = SHARED_DATA / "faq" / "bank_faqs.jsonl"
needs_bank = pytest.mark.skipif(not BANK.is_file(), reason="shared FAQ data set not present")
# The 1,486-row set took 98 s (253 s with the 2 cores shared with other stacks); 10,000 rows 277-514 s.
IMPORT_TIMEOUT_S = 900


async def _start_import(http: httpx.AsyncClient, owner: Account, bot: dict, data: bytes, name: str) -> dict:
    response = await http.post(
        "/api/knowledge/faqs/import",
        data={"bot_id": bot["id"]},
        files={"file": (name, data, "application/json" if name.endswith(".json") else "text/csv")},
        headers=owner.headers,
        timeout=120,
    )
    assert response.status_code == 202, response.text
    return response.json()


async def _follow(http: httpx.AsyncClient, owner: Account, record: dict) -> tuple[dict, list[dict]]:
    """Poll an import until it is ready or failed: (its last record, every progress seen on the way)."""
    seen: list[dict] = []
    deadline = time.monotonic() + IMPORT_TIMEOUT_S
    while time.monotonic() < deadline:
        response = await http.get(f"/api/knowledge/faqs/imports/{record['id']}", headers=owner.headers)
        assert response.status_code == 200, response.text
        record = response.json()
        if not seen or seen[-1] != record["progress"]:
            seen.append(record["progress"])
        if record["status"] in ("ready", "failed"):
            return record, seen
        await asyncio.sleep(0.5)
    raise AssertionError(f"import still {record['status']} after {IMPORT_TIMEOUT_S}s: {record}")


async def _all_faqs(http: httpx.AsyncClient, owner: Account, bot: dict) -> list[dict]:
    faqs: list[dict] = []
    while True:
        page = await http.get(
            "/api/knowledge/faqs",
            params={"bot_id": bot["id"], "limit": 500, "offset": len(faqs)},
            headers=owner.headers,
        )
        assert page.status_code == 200, page.text
        faqs += page.json()
        if len(page.json()) < 500:
            return faqs


@needs_bank
async def test_the_bank_faq_set_imports_in_one_request_and_every_faq_answers(http: httpx.AsyncClient) -> None:
    owner = await register(http, workspace="Bank")
    bot = await make_bot(http, owner, llm={"backend": "openai"})
    records = [json.loads(line) for line in BANK.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(records) == 1_486
    items = [{"question": r["question"], "answer": r["answer"], "tags": [r["category"]]} for r in records]

    started = time.monotonic()
    record = await _start_import(http, owner, bot, json.dumps({"faqs": items}).encode(), "bank.json")
    # Validated on arrival: the bad rows (repeated questions, one answer over 5,000 characters) by item.
    assert record["kind"] == "faq_import" and record["status"] in ("queued", "running")
    total = record["progress"]["faqs_total"]
    assert total + len(record["row_errors"]) == 1_486 and 1_200 < total <= 1_316
    assert all(error["unit"] == "item" for error in record["row_errors"])

    record, progress = await _follow(http, owner, record)
    elapsed = time.monotonic() - started
    assert record["status"] == "ready", record
    assert record["document_count"] == total and record["jobs"][-1]["status"] == "SUCCEEDED"
    assert progress[-1] == {"stage": "done", "faqs_total": total, "faqs_done": total}
    embedding = [p["faqs_done"] for p in progress if p.get("stage") == "embedding"]
    assert embedding == sorted(embedding) and len(embedding) >= 2, progress  # it moved while it worked
    print(f"\n{total} FAQs imported in {elapsed:.1f} s; progress seen: {len(progress)} steps")

    faqs = await _all_faqs(http, owner, bot)
    assert len(faqs) == total
    # Every imported FAQ is matched: its own question, asked by a visitor, gets its answer word for
    # word (replies are stored and sent HTML-escaped, as the widget expects: "&" arrives as "&amp;").
    visitor = await visitor_of(http, owner, bot)
    for faq in (faqs[0], faqs[len(faqs) // 2], faqs[-1]):
        reply = await visitor.say(faq["question"])
        assert reply["direct_answer"] is True, (faq["question"], reply)
        assert html.unescape(reply["content"]) == faq["answer"].strip()


@pytest.fixture
async def knowledge_pool(settings: Settings) -> AsyncIterator[Any]:
    pool = await create_pool(settings.service_database_url("knowledge"), settings, schema="knowledge")
    yield pool
    await pool.close()


class FailingVectors(VectorStore):
    """Chroma that refuses the n-th write: an import that dies with some of its vectors written."""

    def __init__(self, url: str, *, fail_on_upsert: int) -> None:
        super().__init__(url)
        self.upserts = 0
        self.fail_on_upsert = fail_on_upsert

    async def upsert(self, name: str, **kwargs: Any) -> None:
        self.upserts += 1
        if self.upserts == self.fail_on_upsert:
            raise RuntimeError("chroma: injected failure")
        await super().upsert(name, **kwargs)


async def test_a_failed_import_leaves_the_faqs_as_they_were_and_still_answering(
    http: httpx.AsyncClient, settings: Settings, embed: LocalEmbed, knowledge_pool: Any
) -> None:
    owner = await register(http, workspace="Unbroken")
    bot = await make_bot(http, owner, llm={"backend": "openai"})
    for question, answer, phrasings in (
        ("Do you repair e-bikes?", "Yes, all brands, within 3 days.", ["Can you fix my electric bike?"]),
        ("When are you open?", "Monday to Saturday, 9am to 6pm.", []),
    ):
        created = await http.post(
            "/api/knowledge/faqs",
            json={"bot_id": bot["id"], "question": question, "answer": answer, "phrasings": phrasings},
            headers=owner.headers,
        )
        assert created.status_code == 201, created.text
    before = await _all_faqs(http, owner, bot)
    visitor = await visitor_of(http, owner, bot)
    assert (await visitor.say("can you fix my electric bike?"))["content"] == "Yes, all brands, within 3 days."

    workspace_id, bot_id = uuid.UUID(owner.workspace_id), uuid.UUID(bot["id"])
    # An import of 400 new FAQs that also rewrites both existing ones.
    drafts = [
        FaqDraft(uuid.uuid4(), f"Do you stock spare part number {n}?", f"Yes, part {n} is in stock.")
        for n in range(400)
    ] + [
        FaqDraft(uuid.uuid4(), "do you repair E-BIKES?", "HIJACKED: no."),
        FaqDraft(uuid.uuid4(), "When are you open?", "HIJACKED: never.", phrasings=["Can you fix my electric bike?"]),
    ]
    chroma = settings.resolved_chroma_url()
    failures: list[tuple[str, Indexer, Sequence[FaqDraft]]] = [
        # Chroma fails once a first batch of the new version's vectors is written.
        ("chroma", Indexer(pool=knowledge_pool, vectors=FailingVectors(chroma, fail_on_upsert=3), embed=embed), drafts),
        # The embedder fails after two batches.
        ("embedder", Indexer(pool=knowledge_pool, vectors=VectorStore(chroma), embed=_failing_after(embed, 2)), drafts),
        # Every vector is written, then the transaction fails half-way: two rows of the import ask
        # the same question (as Postgres compares them), which the upsert refuses.
        (
            "postgres",
            Indexer(pool=knowledge_pool, vectors=VectorStore(chroma), embed=embed),
            [*drafts, FaqDraft(uuid.uuid4(), "Do you stock spare part number 7?", "Twice in one import.")],
        ),
    ]
    vectors = VectorStore(chroma)
    vectors_before = await _faq_vector_ids(vectors, bot_id)
    for what, indexer, faqs in failures:
        with pytest.raises(Exception) as caught:
            await indexer.write_faqs(workspace_id=workspace_id, bot_id=bot_id, faqs=faqs)
        assert caught.type.__name__ != "AssertionError", what
        # The same FAQs (ids, text, phrasings), nothing added; the same vectors, the new ones deleted.
        assert await _all_faqs(http, owner, bot) == before, what
        assert await _faq_vector_ids(vectors, bot_id) == vectors_before, what
        # And still answering, from the FAQ's question and from its phrasing.
        reply = await visitor.say("Do you repair e-bikes?")
        assert reply["direct_answer"] is True and reply["content"] == "Yes, all brands, within 3 days.", what
        reply = await visitor.say("can you fix my electric bike?")
        assert reply["direct_answer"] is True and reply["content"] == "Yes, all brands, within 3 days.", what
        passages = await http.post(
            "/api/knowledge/search",
            json={"bot_id": bot["id"], "query": "spare part number 7 in stock"},
            headers=owner.headers,
        )
        assert not [p for p in passages.json()["passages"] if "spare part" in p["text"]], what

    # The same import, with nothing failing, goes through whole.
    written = await Indexer(pool=knowledge_pool, vectors=VectorStore(chroma), embed=embed).write_faqs(
        workspace_id=workspace_id, bot_id=bot_id, faqs=drafts
    )
    assert len(written) == 402 and len(await _all_faqs(http, owner, bot)) == 402
    reply = await visitor.say("Do you repair e-bikes?")
    assert reply["direct_answer"] is True and reply["content"] == "HIJACKED: no."


def _failing_after(embed: LocalEmbed, calls: int) -> Any:
    made = 0

    async def failing(texts: list[str]) -> list[list[float]]:
        nonlocal made
        made += 1
        if made > calls:
            raise RuntimeError("embedder: injected failure")
        return await embed(texts)

    return failing


async def _faq_vector_ids(vectors: VectorStore, bot_id: uuid.UUID) -> set[str]:
    collection = await vectors._collection(faq_collection(bot_id), create=False)
    assert collection is not None
    return set((await collection.get(include=[]))["ids"])


@pytest.mark.skipif(
    os.environ.get("CORTEX_SLOW_TESTS") != "1", reason="10,000 FAQs take minutes on 2 cores: CORTEX_SLOW_TESTS=1"
)
async def test_ten_thousand_faqs_import_in_one_request(http: httpx.AsyncClient) -> None:
    owner = await register(http, workspace="Catalogue")
    bot = await make_bot(http, owner, llm={"backend": "openai"})
    products = ("kettle", "toaster", "blender", "grinder", "scale", "juicer", "mixer", "steamer")
    items = [
        {
            "question": f"How much does the {products[n % 8]} model {n} cost?",
            "answer": f"The {products[n % 8]} model {n} costs {n % 90 + 10} euros and ships in {n % 5 + 1} days.",
            "phrasings": [f"Price of {products[n % 8]} {n}?"],
        }
        for n in range(10_000)
    ]
    started = time.monotonic()
    record = await _start_import(http, owner, bot, json.dumps(items).encode(), "catalogue.json")
    assert record["progress"]["faqs_total"] == 10_000 and not record["row_errors"]
    record, progress = await _follow(http, owner, record)
    elapsed = time.monotonic() - started
    assert record["status"] == "ready" and record["document_count"] == 10_000, record
    print(f"\n10,000 FAQs imported in {elapsed:.1f} s; progress seen: {len(progress)} steps")
    assert len(await _all_faqs(http, owner, bot)) == 10_000
    reply = await (await visitor_of(http, owner, bot)).say("How much does the grinder model 7083 cost?")
    assert reply["direct_answer"] is True and reply["content"].startswith("The grinder model 7083 costs")


async def test_faqs_stored_before_versions_are_upgraded_and_answer_again(
    http: httpx.AsyncClient, settings: Settings, embed: LocalEmbed, knowledge_pool: Any
) -> None:
    owner = await register(http, workspace="Upgraded")
    bot = await make_bot(http, owner, llm={"backend": "openai"})
    created = await http.post(
        "/api/knowledge/faqs",
        json={"bot_id": bot["id"], "question": "Do you bake sourdough?", "answer": "Yes, every morning."},
        headers=owner.headers,
    )
    assert created.status_code == 201, created.text
    faq_id, bot_id = uuid.UUID(created.json()["id"]), uuid.UUID(bot["id"])
    # As an FAQ written before versions is: version 0, one vector under its bare id, answer in metadata.
    vectors = VectorStore(settings.resolved_chroma_url())
    await vectors.delete(faq_collection(bot_id), where={"faq_id": str(faq_id)})
    [vector] = await embed(["Do you bake sourdough?"])
    await vectors.upsert(
        faq_collection(bot_id),
        ids=[str(faq_id)],
        embeddings=[vector],
        documents=["Do you bake sourdough?"],
        metadatas=[{"workspace_id": owner.workspace_id, "answer": "Yes, every morning."}],
    )
    async with knowledge_pool.acquire() as conn:
        await conn.execute("UPDATE faqs SET version = 0 WHERE id = $1", faq_id)
    visitor = await visitor_of(http, owner, bot)
    assert (await visitor.say("do you bake sourdough?"))["direct_answer"] is False  # its vector is not read

    async with knowledge_pool.acquire() as conn:
        rows = [row for row in await store.unversioned_faqs(conn, limit=1_000) if row["bot_id"] == bot_id]
    await upgrade_faqs(Indexer(pool=knowledge_pool, vectors=vectors, embed=embed), rows)
    reply = await visitor.say("do you bake sourdough?")
    assert reply["direct_answer"] is True and reply["content"] == "Yes, every morning."
    async with knowledge_pool.acquire() as conn:
        version = await conn.fetchval("SELECT version FROM faqs WHERE id = $1", faq_id)
    assert version > 0  # and the old vector is gone: only the new version's question and answer
    assert await _faq_vector_ids(vectors, bot_id) == {f"{faq_id}:{version}:q", f"{faq_id}:{version}:a"}
