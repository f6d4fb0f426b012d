"""Knowledge on real data: BEIR SciFact ingested through the real path, then searched.

    python -m bench.knowledge [retrieval] [ingest] [--docs N]
        (make bench-retrieval / make bench-ingest: the whole corpus; make bench: --docs 800)

One embedded stack: the SciFact corpus (5,183 abstracts) is uploaded as a `.jsonl` collection
through the API and ingested by the real Ray job (chunk → embed on an actor pool → Chroma +
Postgres). Then:
- ingest: the job's chunks/s against the raw model encoding the very same chunk texts in one
  process, measured in the same run (`ingest.json`);
- retrieval: the 300 test queries through POST /api/knowledge/search in dense, lexical and hybrid
  mode; passages are mapped to their documents (first hit wins) and scored with nDCG@10 and
  Recall@100 against the qrels (`retrieval.json`).

`--docs N` keeps every document a test query is judged against plus a fixed random sample of the
others, N in all: the same pipeline in a fraction of the time (ingesting all 5,183 takes ~10
minutes on 2 cores), at the price of scores that are higher than on the whole corpus and not
comparable with published ones. The files say which corpus they measured (`corpus_docs`).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import httpx

from bench.accounts import new_owner
from bench.load import UNLIMITED, bench_stack, write_result
from cortex.devtools.shared_data import SHARED_DATA

DATA = SHARED_DATA / "scifact"
MODES = ("dense", "lexical", "hybrid")
SEARCH_K = 150  # passages per query: enough distinct documents for Recall@100 (abstracts have ~2 chunks)
INGEST_TIMEOUT_S = 1800
# The raw baseline encodes at most this many of the job's chunk texts (an even sample): a rate
# needs no more, and encoding all 9,343 again would double the benchmark's time.
RAW_SAMPLE = 2000
SEARCH_CONCURRENCY = 4
STACK_ENV = {"CORTEX_LOG_LEVEL": "WARNING", "CORTEX_RATE_LIMITS": json.dumps(UNLIMITED)}


def load_scifact(docs: int | None = None) -> tuple[bytes, dict[str, str], dict[str, set[str]]]:
    """The SciFact corpus as a `.jsonl` collection, the queries by id, and the relevant documents of each test query.

    `docs`: keep the judged documents and a seeded sample of the rest, `docs` in all (None: all).
    """
    qrels: dict[str, set[str]] = {}
    for line in (DATA / "qrels-test.tsv").read_text().splitlines()[1:]:
        query_id, doc_id, score = line.split("\t")
        if int(score) > 0:
            qrels.setdefault(query_id, set()).add(doc_id)
    documents = []
    for line in (DATA / "corpus.jsonl").read_text().splitlines():
        record = json.loads(line)
        documents.append({"id": record["_id"], "title": record["title"], "text": record["text"]})
    if docs is not None and docs < len(documents):
        judged = set().union(*qrels.values())
        others = [d["id"] for d in documents if d["id"] not in judged]
        kept = judged | set(random.Random(0).sample(others, max(0, docs - len(judged))))
        documents = [d for d in documents if d["id"] in kept]
    collection = "\n".join(json.dumps(document) for document in documents).encode()
    queries = {
        (record := json.loads(line))["_id"]: record["text"]
        for line in (DATA / "queries.jsonl").read_text().splitlines()
    }
    return collection, queries, qrels


def ndcg_at_10(ranked: list[str], relevant: set[str]) -> float:
    dcg = sum(1 / math.log2(i + 2) for i, doc in enumerate(ranked[:10]) if doc in relevant)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(len(relevant), 10)))
    return dcg / ideal


def recall_at_100(ranked: list[str], relevant: set[str]) -> float:
    return len(set(ranked[:100]) & relevant) / len(relevant)


def _documents(passages: list[dict]) -> list[str]:
    seen: dict[str, None] = {}
    for passage in passages:
        seen.setdefault(passage["source_id"], None)
    return list(seen)


def _owner(client: httpx.Client, home: Path) -> tuple[dict[str, str], str]:
    body = new_owner(str(client.base_url), home=home)
    member = {"Authorization": f"Bearer {body['access_token']}"}
    bot = client.post("/api/bots", json={"name": "SciFact"}, headers=member).json()
    # An API key, not the 15-minute access token: ingesting and searching outlast it.
    key = client.post("/api/auth/api-keys", json={"name": "bench", "permissions": ["manage"]}, headers=member)
    key.raise_for_status()
    return {"Authorization": f"Bearer {key.json()['secret']}"}, bot["id"]


def _ingest(client: httpx.Client, headers: dict[str, str], bot_id: str, collection: bytes) -> dict:
    response = client.post(
        "/api/knowledge/files",
        data={"bot_id": bot_id},
        files={"file": ("scifact.jsonl", collection, "application/jsonl")},
        headers=headers,
    )
    response.raise_for_status()
    source_id = response.json()["id"]
    deadline = time.monotonic() + INGEST_TIMEOUT_S
    while time.monotonic() < deadline:
        response = client.get(f"/api/knowledge/files/{source_id}", headers=headers)
        response.raise_for_status()
        record = response.json()
        if record["status"] in ("ready", "failed"):
            break
        time.sleep(2)
    if record["status"] != "ready":
        raise SystemExit(f"ingestion did not finish: {record['status']} {record.get('error')}")
    return record


def _raw_encode(texts: list[str]) -> float:
    """Seconds for the raw model to encode `texts` in this process (the baseline)."""
    from cortex.models.embedder import Embedder

    embedder = Embedder()
    embedder.embed(texts[:64])  # warm
    started = time.perf_counter()
    embedder.embed(texts)
    return time.perf_counter() - started


def _chunk_texts(collection: bytes) -> list[str]:
    """The exact texts the job embeds, made by the same chunker."""
    import uuid

    from cortex.knowledge.chunking import chunk_document, embedding_text
    from cortex.knowledge.parsing import ParsedDocument, Section

    source = str(uuid.uuid4())
    texts = []
    for line in collection.splitlines():
        record = json.loads(line)
        document = ParsedDocument(title=record["title"], sections=[Section([], record["text"])])
        texts.extend(embedding_text(c) for c in chunk_document(document, source_id=f"{source}:{record['id']}"))
    return texts


def _seconds(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def _search(client: httpx.Client, headers: dict[str, str], bot_id: str, query: str, mode: str) -> tuple[list, float]:
    begun = time.perf_counter()
    response = client.post(
        "/api/knowledge/search",
        json={"bot_id": bot_id, "query": query, "k": SEARCH_K, "mode": mode},
        headers=headers,
    )
    took_ms = (time.perf_counter() - begun) * 1000
    response.raise_for_status()
    return _documents(response.json()["passages"]), took_ms


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.knowledge")
    parser.add_argument("parts", nargs="*", choices=["retrieval", "ingest"], help="default: both")
    parser.add_argument("--docs", type=int, help="a subset of the corpus: the judged documents and a sample")
    args = parser.parse_args(argv)
    wanted = set(args.parts) or {"retrieval", "ingest"}
    suffix = f" (corpus subset: python -m bench.knowledge --docs {args.docs})" if args.docs else ""
    collection, queries, qrels = load_scifact(args.docs)
    with bench_stack(STACK_ENV, prefix="cxk") as stack:
        with httpx.Client(base_url=stack.http_url, timeout=120) as client:
            headers, bot_id = _owner(client, stack.home)
            started = time.perf_counter()
            record = _ingest(client, headers, bot_id, collection)
            wall_s = time.perf_counter() - started
            job = record["jobs"][-1]
            job_s = _seconds(job["submitted_at"], job["finished_at"])
            results: dict[str, dict[str, float]] = {}
            latencies: dict[str, list[float]] = {}
            if "retrieval" in wanted:
                for mode in MODES:
                    with ThreadPoolExecutor(SEARCH_CONCURRENCY) as pool:
                        answers = list(
                            pool.map(lambda q: _search(client, headers, bot_id, queries[q], mode), qrels)  # noqa: B023
                        )
                    took = [took_ms for _, took_ms in answers]
                    ndcgs = [ndcg_at_10(ranked, qrels[q]) for q, (ranked, _) in zip(qrels, answers, strict=True)]
                    recalls = [recall_at_100(ranked, qrels[q]) for q, (ranked, _) in zip(qrels, answers, strict=True)]
                    results[mode] = {
                        "ndcg@10": round(statistics.fmean(ndcgs), 4),
                        "recall@100": round(statistics.fmean(recalls), 4),
                    }
                    latencies[mode] = took
    if "retrieval" in wanted:
        write_result(
            "retrieval",
            {
                "scifact": results,
                "queries": len(qrels),
                "corpus_docs": record["document_count"],
                "chunks": record["chunk_count"],
                "search_ms_p50": {mode: round(statistics.median(t), 1) for mode, t in latencies.items()},
                "search_k": SEARCH_K,
                "search_concurrency": SEARCH_CONCURRENCY,
                "published_baselines": {"bm25_ndcg@10": 0.665, "all-MiniLM-L6-v2_ndcg@10": 0.645},
                **(
                    {
                        "subset": f"SciFact {record['document_count']} of 5,183 documents (the judged ones and a "
                        "seeded sample): scores run above full-corpus ones and the published baselines",
                        "note": "corpus subset: judged documents plus a seeded sample, scores above full-corpus ones",
                    }
                    if args.docs
                    else {}
                ),
            },
            "make bench-retrieval" + suffix,
        )
        for mode, scores in results.items():
            print(
                f"scifact {mode:8s} nDCG@10 {scores['ndcg@10']:.4f}  Recall@100 {scores['recall@100']:.4f}"
                + (
                    f"  (subset: {record['document_count']} documents, not comparable with full-corpus scores)"
                    if args.docs
                    else ""
                )
            )
    if "ingest" in wanted:
        texts = _chunk_texts(collection)
        texts = texts[:: max(1, math.ceil(len(texts) / RAW_SAMPLE))]
        raw_s = _raw_encode(texts)
        chunks = record["chunk_count"]
        fields = {
            "chunks": chunks,
            "documents": record["document_count"],
            "chunks_per_s": round(chunks / job_s, 1),
            "raw_chunks_per_s": round(len(texts) / raw_s, 1),
            "ratio": round((chunks / job_s) / (len(texts) / raw_s), 3),
            "job_s": round(job_s, 1),
            "upload_to_ready_s": round(wall_s, 1),
            "raw_encode_s": round(raw_s, 1),
            "raw_chunks": len(texts),
            "note": "job time covers the Ray job end to end: start-up, parse, chunk, embed, Chroma and Postgres writes",
            **({"subset": f"SciFact {record['document_count']} of 5,183 documents"} if args.docs else {}),
        }
        write_result("ingest", fields, "make bench-ingest" + suffix)
        print(
            f"ingest {chunks} chunks in {job_s:.1f}s = {fields['chunks_per_s']}/s; raw model "
            f"{fields['raw_chunks_per_s']}/s; ratio {fields['ratio']}"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
