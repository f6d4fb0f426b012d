"""`cortex ingest` and `cortex crawl`: teach a bot from the command line, with a progress bar.

They go through the knowledge API with an API key (role admin), so the command line can do
exactly what the dashboard can and nothing more; the work itself runs as the same Ray jobs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cortex.client import ApiClient, ApiError
from cortex.settings import get_settings

POLL_S = 1.0


def add_commands(commands: Any) -> None:
    ingest = commands.add_parser("ingest", help="upload files (or a .jsonl collection) into a bot's knowledge")
    ingest.add_argument("--bot", required=True, help="the bot's id")
    ingest.add_argument("paths", nargs="+", type=Path, help="files to upload")
    _connection_options(ingest)
    ingest.set_defaults(fn=_ingest)

    crawl = commands.add_parser("crawl", help="crawl a web site into a bot's knowledge")
    crawl.add_argument("--bot", required=True, help="the bot's id")
    crawl.add_argument("start_url")
    crawl.add_argument("--sitemap", default=None, help="sitemap URL (default: those robots.txt lists)")
    crawl.add_argument("--include", action="append", default=[], help="path glob (or re:regex) to keep; repeatable")
    crawl.add_argument("--exclude", action="append", default=[], help="path glob (or re:regex) to skip; repeatable")
    crawl.add_argument("--max-depth", type=int, default=5)
    crawl.add_argument("--max-pages", type=int, default=500)
    crawl.add_argument("--delay", type=float, default=1.0, help="seconds between requests to the site")
    crawl.add_argument("--schedule", choices=["daily", "weekly", "monthly"], default=None)
    _connection_options(crawl)
    crawl.set_defaults(fn=_crawl)


def _connection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=None, help="Cortex gateway (default: this machine's stack)")
    parser.add_argument("--api-key", default=None, help="an admin API key (default: $CORTEX_API_KEY)")
    parser.add_argument("--no-wait", action="store_true", help="submit and return without following progress")


def _client(args: argparse.Namespace) -> ApiClient:
    key = args.api_key or os.environ.get("CORTEX_API_KEY")
    if not key:
        raise SystemExit("error: give --api-key or set CORTEX_API_KEY (create one in the dashboard: API keys)")
    return ApiClient(args.url or get_settings().resolved_public_url(), token=key)


@contextlib.contextmanager
def _errors_as_exit() -> Iterator[None]:
    """An error answer ends the command with one line, not a traceback."""
    try:
        yield
    except ApiError as exc:
        raise SystemExit(f"error: {exc.status} {exc.reason}") from exc


def _follow(client: ApiClient, path: str, label: str) -> dict[str, Any]:
    """Poll a source until its job ends, drawing its progress; returns the final record."""
    from tqdm import tqdm

    bar = tqdm(desc=label, unit="doc", leave=True)

    def draw(record: dict[str, Any]) -> None:
        progress = record.get("progress") or {}
        total = progress.get("documents_total") or progress.get("found")
        done = progress.get("documents_done") or progress.get("fetched", 0) + progress.get("not_modified", 0)
        if total:
            bar.total = total
        bar.n = done or 0
        bar.set_postfix_str(f"{record['status']} {progress.get('stage', '')}".strip(), refresh=True)

    try:
        return client.follow(path, on_progress=draw, poll_s=POLL_S)
    finally:
        bar.close()


def _report(record: dict[str, Any]) -> int:
    if record["status"] == "ready":
        print(f"  ready: {record['document_count']} documents, {record['chunk_count']} chunks")
        for error in record.get("row_errors") or []:
            print(f"  skipped line {error['line']}: {error['message']}")
        return 0
    print(f"  {record['status']}: {record.get('error') or ''}", file=sys.stderr)
    return 1


def _ingest(args: argparse.Namespace) -> int:
    failures = 0
    with _client(args) as client, _errors_as_exit():
        for path in args.paths:
            if not path.is_file():
                print(f"{path}: not a file", file=sys.stderr)
                failures += 1
                continue
            with path.open("rb") as handle:
                source = client.post(
                    "/api/knowledge/files", data={"bot_id": args.bot}, files={"file": (path.name, handle)}
                )
            print(f"{path}: source {source['id']} ({source['content_type']}), job {source['job_id']}")
            if args.no_wait:
                continue
            failures += _report(_follow(client, f"/api/knowledge/files/{source['id']}", path.name))
    return 1 if failures else 0


def _crawl(args: argparse.Namespace) -> int:
    body = {
        "bot_id": args.bot,
        "start_url": args.start_url,
        "sitemap_url": args.sitemap,
        "include": args.include,
        "exclude": args.exclude,
        "max_depth": args.max_depth,
        "max_pages": args.max_pages,
        "delay_s": args.delay,
        "schedule": args.schedule,
    }
    with _client(args) as client, _errors_as_exit():
        source = client.post("/api/knowledge/crawl", json=body)
        print(f"crawl {source['id']} of {args.start_url}, job {source['job_id']}")
        if args.no_wait:
            return 0
        record = _follow(client, f"/api/knowledge/crawl/{source['id']}", "pages")
        progress = record.get("progress") or {}
        print(
            f"  pages: {progress.get('fetched', 0)} fetched, {progress.get('not_modified', 0)} unchanged, "
            f"{progress.get('failed', 0)} failed, {progress.get('skipped', 0)} skipped"
        )
        return _report(record)
