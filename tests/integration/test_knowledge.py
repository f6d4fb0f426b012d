"""The knowledge service through the gateway: FAQs, files, collections and crawls ingested by real
Ray jobs into Chroma and Postgres, hybrid search, bad files, SSRF refusals and tenant isolation."""

from __future__ import annotations

import asyncio
import csv
import functools
import http.server
import io
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pypdf import PdfWriter

from cortex.devtools.shared_data import SHARED_DATA
from cortex.stack import free_port
from tests.stack_fixtures import RunningStack

from .accounts import Account, register

SITE = SHARED_DATA / "site"
FAQ_CSV = SHARED_DATA / "faq" / "BankFAQs.csv"
JOB_TIMEOUT_S = 240

MANUAL = b"""# Espresso machine manual

## Descaling

Descale the Barista X200 every 3 months with the XJ-4417 descaling kit. Run the kit through the
steam wand first, then the group head, and rinse with two full tanks of fresh water.

## Warranty

The warranty covers the pump and the boiler for two years from the date of purchase. Damage from
limescale is not covered when the machine was never descaled.
"""


@pytest.fixture(scope="module")
def site_url() -> Iterator[str]:
    """The shared static site, served on loopback (the stack allow-lists 127.0.0.1 only)."""
    port = free_port()
    handler = functools.partial(_QuietHandler, directory=str(SITE))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
async def owner_and_bot(http: httpx.AsyncClient) -> tuple[Account, dict]:
    owner = await register(http, workspace="Espresso")
    bot = (await http.post("/api/bots", json={"name": "Support"}, headers=owner.headers)).json()
    return owner, bot


async def _wait_ready(http: httpx.AsyncClient, owner: Account, path: str, *, until: set[str] | None = None) -> dict:
    until = until or {"ready", "failed"}
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline:
        record = (await http.get(path, headers=owner.headers)).json()
        if record["status"] in until:
            return record
        await asyncio.sleep(1)
    raise AssertionError(f"{path} still {record['status']} after {JOB_TIMEOUT_S}s: {record}")


async def _upload(
    http: httpx.AsyncClient, owner: Account, bot: dict, name: str, data: bytes, mime: str
) -> httpx.Response:
    return await http.post(
        "/api/knowledge/files",
        data={"bot_id": bot["id"]},
        files={"file": (name, data, mime)},
        headers=owner.headers,
    )


async def _search(http: httpx.AsyncClient, owner: Account, bot: dict, query: str, **extra: object) -> list[dict]:
    response = await http.post(
        "/api/knowledge/search", json={"bot_id": bot["id"], "query": query, **extra}, headers=owner.headers
    )
    assert response.status_code == 200, response.text
    return response.json()["passages"]


async def test_an_uploaded_file_is_ingested_by_a_ray_job_and_found_by_hybrid_search(
    http: httpx.AsyncClient, owner_and_bot: tuple[Account, dict]
) -> None:
    owner, bot = owner_and_bot
    # Named .txt but Markdown inside: the type comes from the content.
    response = await _upload(http, owner, bot, "manual.txt", MANUAL, "text/plain")
    assert response.status_code == 202, response.text
    source = response.json()
    assert source["status"] in {"queued", "running"} and source["content_type"] == "markdown"

    record = await _wait_ready(http, owner, f"/api/knowledge/files/{source['id']}")
    assert record["status"] == "ready", record
    assert record["chunk_count"] >= 1 and record["document_count"] == 1
    assert record["jobs"] and record["jobs"][-1]["status"] == "SUCCEEDED"

    # A part number only BM25 can match, and a paraphrase only the embeddings can.
    [by_code, *_] = await _search(http, owner, bot, "XJ-4417", k=3)
    assert "XJ-4417" in by_code["text"] and by_code["source_id"] == source["id"]
    [by_meaning, *_] = await _search(http, owner, bot, "how long is the guarantee valid?", k=3)
    assert "two years" in by_meaning["text"] and by_meaning["similarity"] > 0.3
    assert by_meaning["title"] == "Espresso machine manual"

    # Editing the bot (bot.updated shares the bot.* stream with bot.deleted) keeps what it knows.
    edited = await http.patch(
        f"/api/bots/{bot['id']}", json={"appearance": {"primary_color": "#b91c1c"}}, headers=owner.headers
    )
    assert edited.status_code == 200
    for _ in range(8):  # long enough for the knowledge consumer to have had the event (it was wiping the bot)
        assert (await _search(http, owner, bot, "XJ-4417", k=3))[0]["source_id"] == source["id"]
        await asyncio.sleep(1)

    # Re-indexing the same file adds nothing (content-hash chunk ids).
    response = await http.post(f"/api/knowledge/files/{source['id']}/reindex", headers=owner.headers)
    assert response.status_code == 202
    again = await _wait_ready(http, owner, f"/api/knowledge/files/{source['id']}")
    assert again["status"] == "ready" and again["chunk_count"] == record["chunk_count"]
    assert "(0 new)" in again["jobs"][-1]["message"]

    # Delete removes its chunks and vectors: the part number is no longer found.
    assert (await http.delete(f"/api/knowledge/files/{source['id']}", headers=owner.headers)).status_code == 204
    assert not [p for p in await _search(http, owner, bot, "XJ-4417 descaling kit") if p["source"] == source["id"]]
    response = await http.get(f"/api/knowledge/files/{source['id']}", headers=owner.headers)
    assert response.status_code == 404


async def test_a_jsonl_collection_keeps_each_documents_id_and_reports_bad_lines(
    http: httpx.AsyncClient, owner_and_bot: tuple[Account, dict]
) -> None:
    owner, bot = owner_and_bot
    lines = [
        json.dumps(
            {
                "id": "KB-101",
                "title": "Reset a password",
                "text": "To reset a password open Settings, "
                "choose Security and press Reset. A link arrives by e-mail within five minutes.",
                "url": "https://help.example/kb/101",
            }
        ),
        "{not json",
        json.dumps(
            {
                "id": "KB-102",
                "title": "Refunds",
                "text": "Refunds are paid back to the original card "
                "within ten working days of the return reaching our warehouse.",
            }
        ),
        json.dumps({"id": "", "title": "No id", "text": "This line has an empty id."}),
    ]
    response = await _upload(http, owner, bot, "export.jsonl", "\n".join(lines).encode(), "application/octet-stream")
    assert response.status_code == 202, response.text
    source = response.json()
    assert source["kind"] == "collection"
    record = await _wait_ready(http, owner, f"/api/knowledge/files/{source['id']}")
    assert record["status"] == "ready", record
    assert record["document_count"] == 2
    assert [error["line"] for error in record["row_errors"]] == [2, 4]

    [top, *_] = await _search(http, owner, bot, "when do I get my money back after returning an item")
    assert top["source_id"] == "KB-102" and top["source"] == source["id"]
    [top, *_] = await _search(http, owner, bot, "forgot my password")
    assert top["source_id"] == "KB-101" and top["url"] == "https://help.example/kb/101"


def _encrypted_pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.encrypt("secret")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


async def test_bad_files_get_a_clear_error_never_a_crashed_job(
    http: httpx.AsyncClient, owner_and_bot: tuple[Account, dict]
) -> None:
    owner, bot = owner_and_bot
    # Refused at upload: an executable renamed .pdf, an empty file.
    renamed = await _upload(http, owner, bot, "invoice.pdf", b"\x7fELF\x02\x01\x01" + bytes(200), "application/pdf")
    assert renamed.status_code == 422 and renamed.json()["error"]["message"]
    empty = await _upload(http, owner, bot, "empty.txt", b"   \n", "text/plain")
    assert empty.status_code == 422

    # Accepted (it is a PDF) but unreadable: the job records why, the job itself ends cleanly.
    response = await _upload(http, owner, bot, "locked.pdf", _encrypted_pdf(), "application/pdf")
    assert response.status_code == 202
    record = await _wait_ready(http, owner, f"/api/knowledge/files/{response.json()['id']}")
    assert record["status"] == "failed" and record["error_code"] == "encrypted"
    assert "password" in record["error"].lower()

    corrupt = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n" + bytes(range(256)) * 4
    response = await _upload(http, owner, bot, "broken.pdf", corrupt, "application/pdf")
    record = await _wait_ready(http, owner, f"/api/knowledge/files/{response.json()['id']}")
    assert record["status"] == "failed" and record["error_code"] in {"corrupt", "empty"}


async def test_faqs_crud_and_bulk_import_with_bad_rows_reported(
    http: httpx.AsyncClient, owner_and_bot: tuple[Account, dict]
) -> None:
    owner, bot = owner_and_bot
    # 40 real rows from the bank FAQ set, plus two broken ones.
    with FAQ_CSV.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))[:40]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["question", "answer", "tags"])
    for row in rows:
        writer.writerow([row["Question"], row["Answer"], row["Class"]])
    bad_lines = []
    for bad in (["", "An answer without a question", ""], ["Is this a question?", "", ""]):
        bad_lines.append(buffer.getvalue().count("\n") + 1)  # physical line (answers may span lines)
        writer.writerow(bad)
    response = await http.post(
        "/api/knowledge/faqs/import",
        data={"bot_id": bot["id"]},
        files={"file": ("faqs.csv", buffer.getvalue().encode(), "text/csv")},
        headers=owner.headers,
    )
    assert response.status_code == 202, response.text
    started = response.json()
    distinct = {row["Question"].strip().lower() for row in rows}
    # The bad rows are reported at once, by line; the good ones are imported by a job.
    assert started["progress"]["faqs_total"] == len(distinct) and started["name"] == "faqs.csv"
    assert [error["line"] for error in started["row_errors"]][-2:] == bad_lines
    result = await _wait_ready(http, owner, f"/api/knowledge/faqs/imports/{started['id']}")
    assert result["status"] == "ready" and result["document_count"] == len(distinct), result
    assert result["row_errors"] == started["row_errors"]
    imports = (await http.get(f"/api/knowledge/faqs/imports?bot_id={bot['id']}", headers=owner.headers)).json()
    assert [record["id"] for record in imports] == [started["id"]]

    # A file with no valid row is refused whole, each row's problem listed.
    refused = await http.post(
        "/api/knowledge/faqs/import",
        data={"bot_id": bot["id"]},
        files={"file": ("bad.csv", b"question,answer\nHi,\n", "text/csv")},
        headers=owner.headers,
    )
    assert refused.status_code == 422, refused.text
    assert [d["message"] for d in refused.json()["error"]["details"]] == [
        "line 2: question must be 3–500 characters, it has 2; answer is empty"
    ]

    [top, *_] = await _search(http, owner, bot, rows[1]["Question"])
    assert rows[1]["Answer"][:40] in top["text"]

    faq = (
        await http.post(
            "/api/knowledge/faqs",
            json={
                "bot_id": bot["id"],
                "question": "Do you ship to Norway?",
                "answer": "Yes, in 3 to 5 days.",
                "phrasings": ["Can I order from Oslo?", "do you ship to NORWAY?", "Delivery to Bergen?"],
            },
            headers=owner.headers,
        )
    ).json()
    assert faq["phrasings"] == ["Can I order from Oslo?", "Delivery to Bergen?"]  # the question itself dropped
    updated = await http.patch(
        f"/api/knowledge/faqs/{faq['id']}",
        json={"answer": "Yes, within a week.", "phrasings": ["Can I order from Oslo?"]},
        headers=owner.headers,
    )
    assert updated.status_code == 200 and updated.json()["answer"] == "Yes, within a week."
    assert updated.json()["phrasings"] == ["Can I order from Oslo?"]
    found = await http.get(f"/api/knowledge/faqs?bot_id={bot['id']}&q=Oslo", headers=owner.headers)
    assert [f["id"] for f in found.json()] == [faq["id"]]  # the FAQ list searches phrasings too
    [top, *_] = await _search(http, owner, bot, "shipping to Norway")
    assert "within a week" in top["text"]
    assert (await http.delete(f"/api/knowledge/faqs/{faq['id']}", headers=owner.headers)).status_code == 204
    assert not [p for p in await _search(http, owner, bot, "shipping to Norway") if "Norway" in p["text"]]

    bad = await http.post(
        "/api/knowledge/faqs", json={"bot_id": bot["id"], "question": "?", "answer": ""}, headers=owner.headers
    )
    assert bad.status_code == 422
    for phrasings in (["no"], [f"Variant {n}?" for n in range(21)], "not a list"):
        bad = await http.post(
            "/api/knowledge/faqs",
            json={"bot_id": bot["id"], "question": "Is there parking?", "answer": "Yes.", "phrasings": phrasings},
            headers=owner.headers,
        )
        assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"].startswith("body.phrasings")


async def test_a_crawl_indexes_every_reachable_page_once_and_records_broken_links(
    http: httpx.AsyncClient, owner_and_bot: tuple[Account, dict], site_url: str
) -> None:
    owner, bot = owner_and_bot
    response = await http.post(
        "/api/knowledge/crawl",
        json={"bot_id": bot["id"], "start_url": f"{site_url}/index.html", "delay_s": 0, "max_pages": 100},
        headers=owner.headers,
    )
    assert response.status_code == 202, response.text
    crawl = response.json()
    record = await _wait_ready(http, owner, f"/api/knowledge/crawl/{crawl['id']}")
    assert record["status"] == "ready", record
    pages = (await http.get(f"/api/knowledge/crawl/{crawl['id']}/pages?limit=500", headers=owner.headers)).json()
    fetched = [page["url"] for page in pages if page["status"] == "fetched"]
    assert len(fetched) == len(set(fetched))
    # Every page linked from the site is indexed; the two pages nothing links to are not found.
    linked = {
        f"{site_url}/{path.relative_to(SITE).as_posix()}"
        for path in SITE.rglob("*.html")
        if path.name not in {"architecture.html", "modules.html"}
    }
    assert linked <= {page["url"] for page in pages if page["status"] in {"fetched", "skipped"}}
    failed = {page["url"]: page for page in pages if page["status"] == "failed"}
    assert failed[f"{site_url}/source/glossary.html"]["http_status"] == 404
    assert all(url.startswith(site_url) for url in (page["url"] for page in pages))  # stayed on the site
    assert record["progress"]["fetched"] == len(fetched) and record["chunk_count"] > len(fetched)

    [top, *_] = await _search(http, owner, bot, "weighted ensemble simulation framework")
    assert top["url"].startswith(site_url) and top["source"] == crawl["id"]

    # A re-crawl asks with the stored validators and re-embeds nothing.
    assert (await http.post(f"/api/knowledge/crawl/{crawl['id']}/recrawl", headers=owner.headers)).status_code == 202
    again = await _wait_ready(http, owner, f"/api/knowledge/crawl/{crawl['id']}")
    assert again["status"] == "ready" and again["progress"]["not_modified"] == len(fetched)
    assert again["chunk_count"] == record["chunk_count"]


async def test_ssrf_targets_are_refused_before_anything_runs(
    http: httpx.AsyncClient, owner_and_bot: tuple[Account, dict], site_url: str
) -> None:
    owner, bot = owner_and_bot
    port = site_url.rsplit(":", 1)[1]
    # Only 127.0.0.1/32 is allow-listed in the test stack: other loopback forms stay refused.
    for url in (
        f"http://[::1]:{port}/",
        f"http://127.0.0.2:{port}/",
        f"http://2130706434:{port}/",
        "file:///etc/passwd",
    ):
        response = await http.post(
            "/api/knowledge/crawl", json={"bot_id": bot["id"], "start_url": url}, headers=owner.headers
        )
        assert response.status_code == 422, (url, response.text)
        response = await http.post(
            "/api/knowledge/files/from-url", json={"bot_id": bot["id"], "url": url}, headers=owner.headers
        )
        assert response.status_code == 422, (url, response.text)


async def test_a_file_by_url_is_downloaded_by_its_job(
    http: httpx.AsyncClient, owner_and_bot: tuple[Account, dict], site_url: str
) -> None:
    owner, bot = owner_and_bot
    response = await http.post(
        "/api/knowledge/files/from-url",
        json={"bot_id": bot["id"], "url": f"{site_url}/tutorials/index.html"},
        headers=owner.headers,
    )
    assert response.status_code == 202, response.text
    record = await _wait_ready(http, owner, f"/api/knowledge/files/{response.json()['id']}")
    assert record["status"] == "ready" and record["content_type"] == "html", record


async def test_another_workspace_can_neither_see_nor_search_nor_teach_this_bot(
    http: httpx.AsyncClient, owner_and_bot: tuple[Account, dict]
) -> None:
    owner, bot = owner_and_bot
    stranger = await register(http, workspace="Elsewhere")
    files = (await http.get("/api/knowledge/files", headers=owner.headers)).json()
    assert files
    for path in (f"/api/knowledge/files/{files[0]['id']}", f"/api/knowledge/faqs?bot_id={bot['id']}"):
        response = await http.get(path, headers=stranger.headers)
        assert response.status_code == 404 or response.json() == [], path
    response = await http.post(
        "/api/knowledge/search", json={"bot_id": bot["id"], "query": "password"}, headers=stranger.headers
    )
    assert response.status_code == 404
    response = await _upload(http, stranger, bot, "x.txt", b"hello there, this is text", "text/plain")
    assert response.status_code == 404
    response = await http.delete(f"/api/knowledge/files/{files[0]['id']}", headers=stranger.headers)
    assert response.status_code == 404


async def test_cortex_ingest_uploads_with_an_api_key_and_follows_the_job(
    http: httpx.AsyncClient, owner_and_bot: tuple[Account, dict], running_stack: RunningStack, tmp_path: Path
) -> None:
    owner, bot = owner_and_bot
    key = (
        await http.post("/api/auth/api-keys", json={"name": "cli", "permissions": ["manage"]}, headers=owner.headers)
    ).json()["secret"]
    notes = tmp_path / "returns.md"
    notes.write_text("# Returns\n\nReturn any unopened grinder within 30 days for a full refund of the price.\n")
    command = [sys.executable, "-m", "cortex.cli", "ingest", "--bot", bot["id"], "--url", running_stack.url, str(notes)]
    result = await asyncio.to_thread(
        subprocess.run,
        command,
        capture_output=True,
        text=True,
        timeout=JOB_TIMEOUT_S,
        env={**os.environ, "CORTEX_API_KEY": key},
    )
    assert result.returncode == 0, result.stderr
    assert "ready: 1 documents" in result.stdout
    [top, *_] = await _search(http, owner, bot, "can I send back a grinder?")
    assert "30 days" in top["text"]

    refused = await asyncio.to_thread(
        subprocess.run,
        command,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "CORTEX_API_KEY": "ck_nope"},
    )
    assert refused.returncode != 0 and "401" in refused.stderr
