"""The demo `make run` opens: a workspace, a bot that knows Cortex's own docs, a page that embeds it.

`cortex demo` (and `cortex up`, on first start) builds it through the public HTTP APIs, the way a
newcomer would by hand: register an owner, create a bot, add FAQs, create a widget key for the
demo page's origins, upload README.md and docs/*.md (one `.jsonl` collection, indexed by the
real Ray ingestion job) and follow the job to the end. Only ids and the public widget key are
kept, in `<home>/demo.json` and in Redis (the widget application reads the key there to render
`/demo`, also in a cluster where it cannot see this machine's files). The owner's password is
printed once and stored nowhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import asyncpg
import httpx
import redis
from redis.exceptions import RedisError

from cortex.client import FINISHED, ApiClient, ApiError
from cortex.settings import Settings
from cortex.stack import PROJECT_ROOT
from cortex.time_zones import known_time_zones
from cortex.widget.demo_page import REDIS_KEY

OWNER_EMAIL = "demo@cortex.local"
WORKSPACE_NAME = "Cortex demo"
BOT_NAME = "Cortex guide"
DEMO_PATH = "/demo"
DOCS_COLLECTION = "cortex-docs.jsonl"
# `<!-- doc-test: … -->` and `<!-- settings:… -->` lines: instructions for tests and generators.
_MARKER = re.compile(r"^\s*<!-- (doc-test|settings):.*-->\s*$")
# The docs' one ingestion job takes under a minute on two idle cores; fifteen means it is stuck.
INGEST_TIMEOUT_S = 900
POLL_S = 1.0

SUGGESTED_QUESTIONS = [
    "How do I embed the widget?",
    "How do I add my website?",
    "How do I connect my own LLM?",
    "What does make run start?",
]

# Written for the demo. `{url}` is the gateway's public URL. The first questions are the
# suggested ones word for word, so the questions a newcomer clicks first get the exact answer
# (an FAQ match answers directly); each FAQ has a few other ways to ask it, as an owner would add
# (written apart from bench/data/answers, whose questions none repeats); other questions are
# answered from the docs.
FAQS: list[dict[str, Any]] = [
    {
        "question": "How do I embed the widget?",
        "phrasings": ["How do I add the chat to my site?", "Where do I paste the script tag?"],
        "answer": (
            "Paste one line into every page of your site, just before the closing `body` tag: a `script` "
            "tag that loads `{url}/embed.js`, with your bot's public key (`pk_…`) in its `data-bot-key` "
            "attribute. The dashboard writes it for you: **Bots → your bot → Embed → Copy snippet**. Then "
            "add your site's origin (for example `https://www.example.com`) to the key's allowed origins: "
            "Cortex refuses every other site, so the widget shows nowhere else. This page embeds me exactly "
            "so. More in docs/embedding.md."
        ),
        "tags": ["widget"],
    },
    {
        "question": "How do I add my website?",
        "phrasings": ["Can the bot read my website?", "How do I crawl my site?"],
        "answer": (
            "Let your bot crawl it: **Bots → your bot → Knowledge → Website**, enter the start URL and "
            "pick a re-crawl schedule (daily, weekly or monthly; only changed pages are indexed again). "
            "The crawler follows robots.txt and your sitemaps. From the command line, with an admin API "
            "key in `CORTEX_API_KEY`:\n\n"
            "```\ncortex crawl --bot YOUR_BOT_ID https://www.example.com --max-pages 200 --schedule weekly\n```\n\n"
            "More in docs/teaching.md."
        ),
        "tags": ["knowledge"],
    },
    {
        "question": "How do I connect my own LLM?",
        "phrasings": ["Can I use OpenAI, vLLM or Ollama?", "How do I change the model that answers?"],
        "answer": (
            "Without one, Cortex answers with your documents' own sentences, cited. For any "
            "OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, a hosted model) set `CORTEX_LLM_URL` (the "
            "base URL, without `/v1`), `CORTEX_LLM_API_KEY` and `CORTEX_LLM_MODEL`, and restart with "
            "`make down` and `make run`: bots on the `auto` backend (the default) then write their answers "
            "with it (**Bots → your bot → Settings**). If the endpoint fails before answering, the bot "
            "falls back to the small local model. More in docs/llm-and-calendar.md."
        ),
        "tags": ["llm"],
    },
    {
        "question": "What does make run start?",
        "phrasings": ["What runs on my machine after make run?"],
        "answer": (
            "Everything on this machine, from Python packages: Postgres, Valkey (Redis), Chroma, an SMTP "
            "sink that keeps mail in `.cortex/mail`, a local Ray head with its dashboard, and ten Ray "
            "Serve applications behind one gateway at {url}. Your data stays in `.cortex/` across "
            "restarts; `make down` stops everything and `make status` reports each part."
        ),
        "tags": ["setup"],
    },
    {
        "question": "How do I teach the bot from my own files?",
        "phrasings": ["How do I upload documents?", "Which files can the bot learn from?"],
        "answer": (
            "Upload them in **Bots → your bot → Knowledge → Files**: PDF, DOCX, HTML, Markdown, TXT, CSV, "
            "or a `.jsonl` collection. Each upload runs a Ray ingestion job and the file turns *ready* "
            "once it is searchable; the **Search tester** shows what the bot will find. From the command "
            "line: `cortex ingest --bot YOUR_BOT_ID manual.pdf`. More in docs/teaching.md."
        ),
        "tags": ["knowledge"],
    },
    {
        "question": "Can I call my bot with the OpenAI Python client?",
        "phrasings": ["Is there an OpenAI-compatible API?"],
        "answer": (
            "Yes. Point the client at `{url}/v1`, pass an API key (dashboard: **API and widget keys**) as "
            "`api_key` and the bot's id as the model:\n\n"
            '```\nfrom openai import OpenAI\n\nclient = OpenAI(base_url="{url}/v1", api_key="ck_…")\n'
            'reply = client.chat.completions.create(\n    model="YOUR_BOT_ID", '
            'messages=[{{"role": "user", "content": "Hello"}}]\n)\n```\n\n'
            "Answers go through the same pipeline as this widget, citations included. More in docs/api.md."
        ),
        "tags": ["api"],
    },
    {
        "question": "How do I change how the widget looks?",
        "phrasings": ["How do I change the widget's colour?"],
        "answer": (
            "In **Bots → your bot → Appearance**: colour, position (bottom right or left), launcher "
            "text, title, avatar and up to four suggested questions, with a live preview. The same fields "
            "are `appearance` in `PATCH /api/bots/{{bot_id}}`."
        ),
        "tags": ["widget"],
    },
    {
        "question": "How do I deploy Cortex on Kubernetes?",
        "phrasings": ["Does Cortex run on KubeRay?"],
        "answer": (
            "With KubeRay. `cortex render-cluster` renders the RayService manifest from serve_config.yaml "
            "(committed as `cluster/base/rayservice.yaml`); `kubectl apply -k cluster/base` deploys it once "
            "a `cortex-secrets` Secret holds the secret key and the Redis and SMTP URLs. "
            "More in docs/operators.md."
        ),
        "tags": ["operations"],
    },
    {
        # Asking to book is booking: "Can I book an appointment?" goes to the scheduling run, not here.
        "question": "Which calendars can bookings use?",
        "phrasings": ["Does Cortex work with Google Calendar?", "Can I connect Outlook or a CalDAV calendar?"],
        "answer": (
            "Bookings land in Cortex's built-in calendar (**Bookings** in the dashboard) and, once you "
            "connect them, in Google Calendar, Outlook (Microsoft 365) or any CalDAV server such as "
            "Nextcloud or Radicale: **Bookings → Calendars**. Before offering a time the bot checks the "
            "busy times of every connected calendar, and the database refuses a double booking. The "
            "visitor gets a confirmation mail with a calendar invitation and links to move or cancel. "
            "Try it here: ask me to book a demo call tomorrow at 10."
        ),
        "tags": ["calendar"],
    },
]

WELCOME = (
    "Hi! I'm the Cortex guide. I know Cortex's documentation: ask me how to embed this widget, teach a "
    "bot, or connect your own LLM. I can also book you a demo call."
)
# The demo bot books (workflows' scheduling run): a 30-minute "Demo call", every day 08:00-20:00 in
# this machine's time zone, so "Can I book an appointment for tomorrow at 10?" books on a fresh clone
# whenever it is asked (the widget reads "10" in the visitor's zone: the same machine's, on `make run`).
DEMO_SERVICE = {"name": "Demo call", "duration_min": 30, "description": "A 30-minute tour of Cortex with the team."}
DEMO_HOURS = {str(day): [["08:00", "20:00"]] for day in range(1, 8)}
SYSTEM_PROMPT = (
    "You are the guide of Cortex, an open-source AI customer-chat platform. Answer from the documentation "
    "passages you are given, briefly, and say so when they do not cover the question."
)


S = TypeVar("S")


class DemoError(RuntimeError):
    """The demo could not be built; the message says which step and why."""


@dataclass
class Demo:
    """What `cortex demo` built. `password` is set only in the run that chose it, and never saved."""

    workspace_id: str
    owner_email: str
    bot_id: str
    widget_key_id: str
    public_key: str
    page_url: str
    dashboard_url: str
    doc_sections: int = 0  # sections of the docs indexed (0: the docs' ingestion failed)
    password: str | None = None

    def record(self) -> dict[str, Any]:
        """The fields kept in demo.json: ids and the public key, no secret."""
        kept = asdict(self)
        kept.pop("password")
        return kept


def demo_file(settings: Settings) -> Path:
    return settings.home_dir / "demo.json"


def load(settings: Settings) -> Demo | None:
    """The demo recorded under this home, or None when there is none (or the record is unreadable)."""
    try:
        return Demo(**json.loads(demo_file(settings).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def demo_origins(settings: Settings) -> list[str]:
    """The origins the demo page is served from: the public URL's, and its loopback twin.

    A browser sends `http://localhost:8000` or `http://127.0.0.1:8000` depending on what was
    typed, and the widget key matches origins exactly, so a loopback gateway gets both.
    """
    parts = urlsplit(settings.resolved_public_url())
    origin = f"{parts.scheme}://{parts.netloc}"
    origins = [origin]
    twins = {"127.0.0.1": "localhost", "localhost": "127.0.0.1"}
    if parts.hostname in twins:
        port = f":{parts.port}" if parts.port else ""
        origins.append(f"{parts.scheme}://{twins[parts.hostname]}{port}")
    return origins


def documents() -> list[Path]:
    """The documentation the demo bot is taught: README.md and docs/*.md."""
    return [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]


def ensure_demo(
    settings: Settings,
    *,
    reset: bool = False,
    echo: Callable[[str], None] = print,
    base_url: str | None = None,
) -> Demo:
    """The demo, built if this home has none (or `reset`); idempotent otherwise."""
    base = (base_url or settings.resolved_public_url()).rstrip("/")
    with _unreachable_as_demo_error():
        existing = load(settings)
        if existing is not None and not reset:
            _publish_key(settings, existing.public_key)
            if not _key_works(base, existing.public_key, demo_origins(settings)[0]):
                echo("  demo       its widget key no longer works (bot deleted?): run `cortex demo --reset`")
            return existing
        with ApiClient(base) as api:
            return _build(settings, api, base, echo)


def new_password(settings: Settings) -> str:
    """Give the demo owner a fresh password (every session ends) and return it."""
    password = _random_password()
    with _unreachable_as_demo_error():
        changed = asyncio.run(_set_password(settings, OWNER_EMAIL, password))
    if not changed:
        raise DemoError(f"there is no demo owner ({OWNER_EMAIL}) yet: run `cortex demo`")
    return password


@contextlib.contextmanager
def _unreachable_as_demo_error() -> Iterator[None]:
    """A stopped stack or an unreachable part is a one-line DemoError, not a traceback."""
    try:
        yield
    except DemoError:
        raise
    except ApiError as exc:
        raise DemoError(str(exc)) from exc
    except (httpx.HTTPError, RedisError, asyncpg.PostgresError, OSError, RuntimeError) as exc:
        # RuntimeError: settings name no database or Redis (no stack has run under this home).
        raise DemoError(f"{type(exc).__name__}: {exc} (is the stack running? `cortex status`)") from exc


# -- building ----------------------------------------------------------------------------------


def _build(settings: Settings, api: ApiClient, base: str, echo: Callable[[str], None]) -> Demo:
    password = _random_password()
    echo(f"  demo       building: workspace {WORKSPACE_NAME!r}, bot {BOT_NAME!r}, {len(FAQS)} FAQs, the docs")
    # The owner may exist (a reset, or demo.json was lost): then the account is taken over with a
    # new password. Sign-up answers alike either way, so the database says which it is.
    existed = asyncio.run(_set_password(settings, OWNER_EMAIL, password))
    if not existed:
        api.post(
            "/api/auth/register",
            expect=(202,),
            json={
                "email": OWNER_EMAIL,
                "password": password,
                "workspace_name": WORKSPACE_NAME,
                "display_name": "Demo owner",
            },
        )
    # The operator vouches for the demo's own address (demo@cortex.local reaches no inbox): the demo
    # owner is verified, so its widget key may list the demo page's origins.
    asyncio.run(_mark_verified(settings, OWNER_EMAIL))
    tokens = api.post("/api/auth/login", expect=(200,), json={"email": OWNER_EMAIL, "password": password})
    api.sign_in(tokens)
    if existed:
        # Clearing the workspace's bots takes their knowledge and keys along.
        for bot in api.get("/api/bots"):
            api.delete(f"/api/bots/{bot['id']}", expect=(204, 404))
            echo(f"  demo       removed the old demo bot {bot['id']}")
    bot = api.post(
        "/api/bots",
        expect=(201,),
        json={
            "name": BOT_NAME,
            "welcome_message": WELCOME,
            "system_prompt": SYSTEM_PROMPT,
            "appearance": {
                "title": BOT_NAME,
                "launcher_text": "Ask the Cortex guide",
                "primary_color": "#0f766e",
                "suggested_questions": SUGGESTED_QUESTIONS,
            },
            # `auto`: the configured endpoint when there is one; otherwise the extractive backend,
            # which answers with the docs' own sentences and invents nothing.
            "llm": {"backend": "auto"},
        },
    )
    for faq in FAQS:
        api.post(
            "/api/knowledge/faqs",
            expect=(201,),
            json={
                "bot_id": bot["id"],
                "question": faq["question"],
                "answer": faq["answer"].format(url=base),
                "tags": faq["tags"],
                "phrasings": faq["phrasings"],
            },
        )
    _open_bookings(api, bot["id"], echo)
    key = api.post(
        "/api/auth/widget-keys", expect=(201,), json={"bot_id": bot["id"], "allowed_origins": demo_origins(settings)}
    )
    sections = _teach_docs(api, bot["id"], echo)
    demo = Demo(
        workspace_id=tokens["workspace"]["id"],
        owner_email=OWNER_EMAIL,
        bot_id=bot["id"],
        widget_key_id=key["id"],
        public_key=key["public_key"],
        page_url=base + DEMO_PATH,
        dashboard_url=base + "/dashboard",
        doc_sections=sections,
    )
    path = demo_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(demo.record(), indent=2) + "\n")
    _publish_key(settings, demo.public_key)
    demo.password = password
    return demo


def _open_bookings(api: ApiClient, bot_id: str, echo: Callable[[str], None]) -> None:
    """The demo bot books demo calls: its booking settings and its one service, through the workflows API."""
    time_zone = local_time_zone()
    api.request(
        "PUT",
        f"/api/langgraph/schedule/settings/{bot_id}",
        expect=(200,),
        json={"time_zone": time_zone, "hours": DEMO_HOURS, "min_notice_min": 60, "horizon_days": 60},
    )
    api.post("/api/langgraph/schedule/services", expect=(201,), json={"bot_id": bot_id, **DEMO_SERVICE})
    echo(f"  demo       bookings open: {DEMO_SERVICE['name']!r}, every day 08:00-20:00 ({time_zone})")


def local_time_zone() -> str:
    """This machine's IANA time zone (TZ, the /etc/localtime link, /etc/timezone); UTC when none is known."""
    candidates = [os.environ.get("TZ", "").removeprefix(":")]
    with contextlib.suppress(OSError):
        candidates.append(os.readlink("/etc/localtime").partition("zoneinfo/")[2])
    with contextlib.suppress(OSError):
        candidates.append(Path("/etc/timezone").read_text().strip())
    known = known_time_zones()
    return next((name for name in candidates if name in known), "UTC")


def _teach_docs(api: ApiClient, bot_id: str, echo: Callable[[str], None]) -> int:
    """Upload the docs as one collection, wait for its ingestion job with a progress line; sections indexed.

    One `.jsonl` collection, one document per section: a single Ray job (eight files would be
    eight jobs, each loading the embedding model: minutes instead of well under one on two
    cores), and each citation names its section ("Quickstart › Two commands").
    """
    collection = "".join(json.dumps(section) + "\n" for section in sections_of_docs())
    source = api.post(
        "/api/knowledge/files",
        expect=(202,),
        data={"bot_id": bot_id},
        files={"file": (DOCS_COLLECTION, collection.encode(), "application/jsonl")},
    )
    interactive = sys.stdout.isatty()
    label = "  demo       teaching the guide Cortex's docs:"

    def show(record: dict[str, Any]) -> None:
        if interactive and record["status"] not in FINISHED:
            progress = record.get("progress") or {}
            total = progress.get("documents_total")
            count = f"{progress.get('documents_done', 0)}/{total} sections" if total else record["status"]
            print(f"\r{label} {count}".ljust(78), end="", flush=True)

    try:
        record = api.follow(
            f"/api/knowledge/files/{source['id']}", on_progress=show, poll_s=POLL_S, timeout_s=INGEST_TIMEOUT_S
        )
    except TimeoutError as exc:
        raise DemoError(f"the docs were not indexed: {exc}") from exc
    if interactive:
        print("\r" + " " * 78 + "\r", end="")
    if record["status"] != "ready":
        echo(f"{label} {record['status']}: {record.get('error') or 'see the Ray dashboard'}")
        return 0
    echo(f"{label} {record['document_count']} sections ready")
    return int(record["document_count"])


def sections_of_docs() -> list[dict[str, str]]:
    """README.md and docs/*.md as collection documents: one per `## ` section, titled "Doc › Section"."""
    from markdown_it import MarkdownIt

    markdown = MarkdownIt("commonmark")
    sections: list[dict[str, str]] = []
    for path in documents():
        relative = path.relative_to(PROJECT_ROOT).as_posix()
        text = _for_readers(path.read_text())
        lines = text.splitlines()
        tokens = markdown.parse(text)
        # Each heading's first line and text (the inline token after heading_open); a code block's
        # "## " lines are not headings, which is what markdown-it knows and a line scan does not.
        headings = [
            (token.tag, token.map[0], tokens[index + 1].content.strip())
            for index, token in enumerate(tokens)
            if token.type == "heading_open" and token.map is not None
        ]
        doc_title = next((title for tag, _, title in headings if tag == "h1"), path.stem)
        starts = [(0, "")] + [(line, title) for tag, line, title in headings if tag == "h2"]
        for (start, heading), (end, _) in zip(starts, [*starts[1:], (len(lines), "")], strict=True):
            body = lines[start:end]
            if not any(part.strip() and not part.startswith("#") for part in body):  # nothing but headings
                continue
            slug = re.sub(r"[^a-z0-9]+", "-", heading.lower()).strip("-")
            sections.append(
                {
                    "id": f"{relative}#{slug}" if slug else relative,
                    "title": f"{doc_title} › {heading}" if heading else doc_title,
                    "text": "\n".join(body).strip(),
                }
            )
    return sections


def _for_readers(markdown: str) -> str:
    """The doc without the comments that mark its samples for the tests (they would show in citations)."""
    return "".join(line for line in markdown.splitlines(keepends=True) if not _MARKER.match(line))


def _random_password() -> str:
    # 16 URL-safe characters: ~96 bits, far past the policy; regenerated in the unlikely case it
    # contains the email's local part, which the policy refuses.
    while True:
        password = secrets.token_urlsafe(12)
        if OWNER_EMAIL.split("@")[0] not in password.lower():
            return password


async def _set_password(settings: Settings, email: str, password: str) -> bool:
    """The auth service's operator reset, run in this process against the stack's database."""
    from cortex.auth.service import AccountService

    async with _auth_service(settings, AccountService) as accounts:
        return await accounts.set_password(email=email, password=password)


async def _mark_verified(settings: Settings, email: str) -> bool:
    """The auth service's operator verification of an address, run in this process."""
    from cortex.auth.service import VerificationService

    async with _auth_service(settings, VerificationService) as verification:
        return await verification.mark_verified(email=email)


@contextlib.asynccontextmanager
async def _auth_service(settings: Settings, service: Callable[..., S]) -> AsyncIterator[S]:
    """One part of the auth service over its own pool and Redis client, closed afterwards."""
    import redis.asyncio as aioredis

    from cortex.db.pool import create_pool

    pool = await create_pool(settings.service_database_url("auth"), settings, schema="auth")
    client = aioredis.Redis.from_url(settings.resolved_redis_url())
    try:
        yield service(db=pool, redis=client, settings=settings)
    finally:
        await client.aclose()
        await pool.close()


def _publish_key(settings: Settings, public_key: str) -> None:
    with redis.Redis.from_url(settings.resolved_redis_url()) as client:
        client.set(REDIS_KEY, public_key)


def _key_works(base: str, public_key: str, origin: str) -> bool:
    """Whether a visitor on the demo page would get a token (the bot and its key still exist)."""
    try:
        with ApiClient(base, timeout_s=30) as api:
            api.post(
                "/api/auth/visitor-token", expect=(200,), json={"public_key": public_key}, headers={"Origin": origin}
            )
    except (ApiError, httpx.HTTPError):
        return False
    return True
