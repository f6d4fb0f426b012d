"""One settings object for the whole platform; every knob is an env var ``CORTEX_*``.

The embedded stack (``cortex up``) writes the addresses of the servers it started into
``<home>/stack.json``; a URL set in the environment always wins over that file, which is how
an operator swaps an embedded part for an external one.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, InitSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from cortex.secret_settings import PrivateSettingsSource

#: The services that own a Postgres schema (the widget owns none).
SCHEMAS: tuple[str, ...] = ("auth", "core", "knowledge", "helper", "workflows", "analytics", "marketing")

#: Login roles with fewer rights than their schema's service, each named like a service's role
#: (cortex_<name>), that the Ray jobs working in that schema log in as: the ingestion jobs', granted
#: only the knowledge tables they write, and the pattern-mining job's, granted only what mining reads
#: and writes in the helper's schema.
JOB_ROLES: dict[str, str] = {"knowledge": "knowledge_jobs", "helper": "helper_jobs"}

#: Every Serve application, with the route prefix that is the gateway's routing table.
APPLICATIONS: dict[str, str] = {
    "auth": "/api/auth",
    "core": "/api",
    "live": "/api/live",
    "knowledge": "/api/knowledge",
    "helper": "/api/helper",
    "workflows": "/api/langgraph",
    "analytics": "/api/analytics",
    "marketing": "/api/marketing",
    "widget": "/",
    "openai": "/v1",
}

_INSECURE_SECRETS = {"", "change-me", "changeme", "secret", "dev"}

#: How the sentence embedder runs (cortex/models/embedder.py).
EmbedderBackend = Literal["torch", "onnx", "onnx-int8"]


class Settings(BaseSettings):
    """Platform settings. Read once per process with :func:`get_settings`."""

    model_config = SettingsConfigDict(env_prefix="CORTEX_", extra="ignore")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Below the environment: the secret settings `cortex up` keeps in the stack's home
        # (cortex/secret_settings.py), which the arguments or the environment may name.
        init = init_settings.init_kwargs if isinstance(init_settings, InitSettingsSource) else {}
        home = Path(init.get("home") or os.environ.get("CORTEX_HOME") or cls.model_fields["home"].default)
        private = PrivateSettingsSource(settings_cls, home)
        return (init_settings, env_settings, private, dotenv_settings, file_secret_settings)

    env: Literal["local", "test", "production"] = Field(
        "local", description="local and test allow generated secrets; production refuses them"
    )
    home: Path = Field(Path(".cortex"), description="data dir of the embedded stack (survives down/up)")
    demo: bool = Field(True, description="`cortex up` builds the demo workspace, bot and page when there is none")

    # -- external parts: each one set replaces the embedded part --------------------------
    database_url: str | None = Field(None, description="Postgres admin DSN used for migrations")
    services_database_url: str | None = Field(
        None,
        description="the Postgres server the services and jobs log in to, each as its own role: a URL "
        "without credentials (postgresql://host:5432/db); unset: the admin DSN's server",
    )
    jobs_database_url: str | None = Field(
        None,
        description="DSN Ray ingestion jobs connect with; unset: the admin DSN's server as the role "
        "cortex_knowledge_jobs, which may write only what ingestion writes",
    )
    helper_jobs_database_url: str | None = Field(
        None,
        description="DSN the pattern-mining job connects with; unset: the admin DSN's server as the role "
        "cortex_helper_jobs, which may read the helper's outcomes and write only patterns and its run's record",
    )
    redis_url: str | None = Field(None, description="Redis/Valkey URL")
    chroma_url: str | None = Field(None, description="Chroma server URL")
    smtp_url: str | None = Field(None, description="SMTP relay, smtp://host:port")
    ray_address: str | None = Field(None, description="address of an existing Ray cluster (host:port)")

    # -- the HTTP gateway ----------------------------------------------------------------
    http_host: str = Field("127.0.0.1", description="address the Serve gateway binds")
    http_port: int = Field(8000, description="port of the Serve gateway")
    public_url: str | None = Field(None, description="URL visitors reach the gateway at")
    cors_origins: list[str] = Field(
        default_factory=list, description="origins allowed to call the owner APIs from a browser"
    )
    # 10 MiB: large enough for a chat message or a JSON import, small enough that a flood of
    # oversized bodies cannot exhaust a replica. File uploads have their own limit.
    max_body_bytes: int = Field(10 * 1024 * 1024, description="largest request body accepted")
    # Loopback: HAProxy on the replica's own node. In a cluster whose HAProxy reaches replicas on
    # other nodes, add the nodes' (pods') network.
    trusted_proxies: list[str] = Field(
        default_factory=lambda: ["127.0.0.0/8", "::1/128"],
        description="CIDRs of the proxies (Serve's HAProxy) whose X-Forwarded-For is believed",
    )
    trusted_proxy_count: int = Field(
        0, description="proxies in front of Serve's HAProxy that append to X-Forwarded-For (an ingress: 1)"
    )
    log_level: str = Field("INFO", description="root log level")

    # -- embedded stack ports (used only for parts that are embedded) -----------------------
    postgres_port: int = Field(54329, description="embedded Postgres port")
    redis_port: int = Field(63790, description="embedded Valkey port")
    chroma_port: int = Field(8001, description="embedded Chroma port")
    smtp_port: int = Field(2525, description="embedded SMTP sink port")
    ray_port: int = Field(6389, description="embedded Ray GCS port")
    ray_dashboard_port: int = Field(8265, description="embedded Ray dashboard port")

    # -- data layer ------------------------------------------------------------------------
    # A replica serves up to ~100 concurrent requests; 10 connections keep Postgres at
    # 8 apps x replicas x 10 well under its default max_connections of 100 per small node.
    db_pool_min: int = Field(1, description="asyncpg pool minimum per replica")
    db_pool_max: int = Field(10, description="asyncpg pool maximum per replica")
    db_command_timeout_s: float = Field(10.0, description="statement timeout seen by the client")

    # -- event bus ---------------------------------------------------------------------------
    bus_max_deliveries: int = Field(5, description="deliveries before an event is dead-lettered")
    bus_retry_base_s: float = Field(1.0, description="first retry delay; doubles per delivery")
    bus_poll_interval_s: float = Field(0.5, description="outbox relay poll interval")

    secret_key: str | None = Field(None, description="root secret; generated under home in local mode")

    # -- chat ------------------------------------------------------------------------------------
    llm_url: str | None = Field(None, description="OpenAI-compatible endpoint; unset: extractive answers")
    llm_api_key: str | None = Field(None, description="API key for CORTEX_LLM_URL")
    llm_model: str = Field("", description="model name sent to CORTEX_LLM_URL")
    # What a tenant's bot may spend of the operator's LLM key (cortex/core/llm_limits.py).
    llm_allowed_models: list[str] = Field(
        default_factory=list,
        description="models a bot may name for CORTEX_LLM_URL; empty: only CORTEX_LLM_MODEL (a bot's empty "
        "model means that one)",
    )
    # 1024 tokens: ~750 words, longer than any chat answer should be, yet a fraction of what a
    # tenant could otherwise make each answer cost (the schema's own ceiling is 4096).
    llm_max_tokens: int = Field(1024, ge=16, description="most tokens a bot may ask a model for in one answer")
    # free: the default bot budget (2M tokens a month: a few thousand answers with their passages); pro: 10x.
    llm_budget_ceilings: dict[str, int] = Field(
        default_factory=lambda: {"free": 2_000_000, "pro": 20_000_000},
        description=(
            "monthly LLM tokens per workspace plan: no bot's budget may exceed it, and the workspace's bots "
            "together stop at it (a plan not listed gets free's)"
        ),
    )
    retrieval_timeout_s: float = Field(2.0, description="chat answers without knowledge after this")
    guidance_timeout_s: float = Field(0.3, description="chat answers without helper guidance after this")
    # 5 s: a booking turn reads the rules and free/busy of every connected calendar (each bounded by
    # CORTEX_CALENDAR_TIMEOUT_S) and may book; longer than that, the visitor is better served by a person.
    chat_booking_timeout_s: float = Field(
        5.0,
        gt=0,
        description="a booking turn (workflows' Scheduler) slower than this gets the fixed 'cannot book now' "
        "reply offering a person or the lead form",
    )
    chat_helper: bool = Field(
        True,
        description="chat embeds the question once and asks the helper on every turn (off: no analysis and no "
        "guidance; knowledge embeds the question)",
    )
    # 30 min: a conversation idle longer is over for the helper; its next turn starts a fresh analysis.
    helper_analysis_ttl_s: int = Field(
        1800,
        ge=1,
        description="the helper's cached analysis of a conversation expires after this long without a turn",
    )
    # 5 s: a pattern or experiment an owner changes steers the bot within seconds, while a replica
    # reads each bot's patterns, experiments and statistics at most once per 5 s (never in a turn).
    helper_refresh_s: float = Field(
        5.0,
        gt=0,
        description="how long the Guide answers from its cached copy of a bot's patterns, experiments and "
        "statistics before reading them again (in the background; a failed read keeps the last copy)",
    )
    # A day: mining needs a day's closed conversations to say anything new, and a candidate it
    # proposes needs days of exploration traffic before its statistics mean anything.
    helper_mining_interval_s: float = Field(
        86_400,
        ge=60,
        description="how often the pattern-mining job runs for each workspace with helper data "
        "(owners and admins can also start a run: POST /api/helper/mining/runs)",
    )
    helper_advice_retention_days: int = Field(
        30,
        ge=1,
        description="days the helper keeps what it saw and advised per turn (the owner's view of a conversation)",
    )
    # 30 min, as the helper's analysis: a visitor silent that long has left; the closing labels the
    # outcome (resolved, lead, booked, escalated or abandoned) that the helper learns from.
    conversation_idle_close_s: float = Field(
        1800,
        gt=0,
        description="a conversation without a message for this long is closed and its outcome labelled "
        "(conversation.closed); its visitor writing again reopens it",
    )
    # 15 s: each look is one indexed query per core replica, and conversations close within
    # seconds of their idle time rather than a whole interval later.
    conversation_close_interval_s: float = Field(
        15.0, gt=0, description="how often each core replica looks for idle conversations to close"
    )
    # 0.95 cosine (all-MiniLM-L6-v2): rewordings of one question ("when do you open?" / "what time
    # do you open?") score 0.93-0.98, while questions that differ in one fact ("deliver to Paris?" /
    # "deliver to Berlin?") score ~0.85-0.9 and must not share an answer.
    answer_cache_similarity: float = Field(0.95, ge=0.5, le=1.0, description="answer cache hit threshold")
    answer_cache_ttl_s: int = Field(24 * 3600, ge=0, description="how long a cached answer is reused (0: no cache)")
    # Proxies close an idle connection after 30-60 s by default; a comment every 15 s keeps a
    # quiet conversation's stream open through them.
    live_heartbeat_s: float = Field(15.0, description="keep-alive comment interval of a live conversation stream")
    # Below the gateway's request_timeout_s (120 s in serve_config.yaml): the stream ends cleanly
    # and the client resumes with Last-Event-ID, instead of being cut by the proxy. Also bounds
    # how long a stream outlives a revoked or expired token.
    live_stream_max_s: float = Field(100.0, description="a live conversation stream ends after this; clients resume")

    # -- knowledge fetching ----------------------------------------------------------------
    fetch_allow_networks: list[str] = Field(
        default_factory=list,
        description="CIDRs or host names the crawler and URL uploads may reach although private, "
        "e.g. 127.0.0.1/32 for local testing",
    )
    # 20 MiB: a long HTML page or a sizeable PDF, yet small enough to hold in a job's memory.
    fetch_max_bytes: int = Field(20 * 1024 * 1024, description="largest response body fetched from a URL")
    # 30 s for the whole fetch (DNS, redirects, body): a slow site must not stall a crawl.
    fetch_timeout_s: float = Field(30.0, description="total time allowed for one URL fetch")
    # 5 hops: enough for real chains (http->https, www., trailing slash) and ends a loop quickly.
    fetch_max_redirects: int = Field(5, description="redirects followed per fetch, each one re-checked")

    # -- connected calendars (workflows) --------------------------------------------------------
    # 5 s: a healthy CalDAV server or provider API answers a free/busy query in well under a second;
    # a slot search waits no longer than this for a calendar that is down before answering without it.
    calendar_timeout_s: float = Field(5.0, gt=0, description="how long one connected calendar may take to answer")
    calendar_allow_networks: list[str] = Field(
        default_factory=list,
        description="CIDRs or host names a CalDAV URL may point to although private, e.g. 127.0.0.1/32 "
        "for a local Radicale (cloud metadata addresses are refused regardless)",
    )
    # 10 minutes: long enough to sign in to the provider and consent, short enough that a leaked
    # authorize URL is soon worthless.
    calendar_oauth_state_ttl_s: int = Field(600, description="how long a calendar OAuth authorize link stays valid")
    google_client_id: str | None = Field(None, description="Google OAuth client id for connecting Google Calendars")
    google_client_secret: str | None = Field(None, description="Google OAuth client secret")
    google_oauth_url: str = Field(
        "https://accounts.google.com/o/oauth2/v2/auth", description="Google's OAuth authorization endpoint"
    )
    google_token_url: str = Field("https://oauth2.googleapis.com/token", description="Google's OAuth token endpoint")
    google_api_url: str = Field("https://www.googleapis.com", description="base URL of the Google Calendar API")
    ms_client_id: str | None = Field(
        None, description="Microsoft Entra app (client) id for connecting Outlook calendars"
    )
    ms_client_secret: str | None = Field(None, description="Microsoft Entra app client secret")
    ms_tenant: str = Field("common", description="Microsoft Entra tenant of the OAuth endpoints (common: any account)")
    ms_login_url: str = Field(
        "https://login.microsoftonline.com", description="base URL of Microsoft's identity platform"
    )
    ms_graph_url: str = Field("https://graph.microsoft.com", description="base URL of Microsoft Graph")

    # -- workflows' scheduling runs (the chat's booking conversations) ---------------------------
    # 4: each booking turn writes a few checkpoints, one at a time per replica (the saver holds a
    # lock around each); a handful of connections covers the turns a replica runs at once.
    workflows_checkpoint_pool_max: int = Field(
        4, ge=1, le=50, description="psycopg connections of one replica's LangGraph checkpointer"
    )
    # 2 h: a booking conversation left for longer starts afresh (the offered times are stale by then).
    workflows_run_idle_s: float = Field(
        7200.0, gt=0, description="a scheduling run waiting longer than this for the visitor is abandoned"
    )

    # -- workflows' durable tasks and mailed links ------------------------------------------------
    # 5 s: a task is woken at commit; the poll only finds retries and reminders that came due.
    workflows_task_poll_s: float = Field(5.0, gt=0, description="how often the task loop looks for due tasks")
    # 2 min: far above the longest run (a webhook's timeout); a `running` task older than this was
    # left by a replica that died, and runs again.
    workflows_task_lease_s: float = Field(
        120.0, gt=0, description="a task still running after this is taken to be abandoned and is retried"
    )
    # 30 s, doubling per attempt up to an hour: a receiver that is briefly down gets its call within
    # a minute, one that is down for hours is not hammered.
    workflows_task_retry_base_s: float = Field(30.0, gt=0, description="first retry delay of a failed task")
    workflows_task_retry_max_s: float = Field(3600.0, gt=0, description="longest delay between a task's retries")
    # 10 s: a webhook receiver acknowledges; it does its own work after answering.
    workflows_webhook_timeout_s: float = Field(10.0, gt=0, description="how long an owner's webhook may take")
    workflows_webhook_allow_networks: list[str] = Field(
        default_factory=list,
        description="CIDRs or host names an owner's webhook URL may point to although private, e.g. "
        "127.0.0.1/32 for local testing (cloud metadata addresses are refused regardless)",
    )
    workflows_link_per_ip_per_min: int = Field(
        30, description="reschedule/cancel link pages (public) per client IP per minute"
    )

    # -- auth --------------------------------------------------------------------------------
    jwt_issuer: str = Field("cortex", description="iss of every token Cortex signs")
    access_token_ttl_s: int = Field(15 * 60, description="member access token lifetime")
    refresh_token_ttl_s: int = Field(30 * 24 * 3600, description="refresh token (and session) lifetime")
    visitor_token_ttl_s: int = Field(60 * 60, description="widget visitor token lifetime")
    # 90 days, renewed at every token exchange: a returning visitor keeps their conversations,
    # one who stays away a season starts afresh as a new visitor.
    visitor_credential_ttl_days: int = Field(
        90, ge=1, le=400, description="an anonymous visitor's signed credential lives this long after its last use"
    )
    signing_key_max_age_days: int = Field(30, description="the signing key is rotated when older")
    password_min_length: int = Field(10, description="shortest password accepted")
    # Login attempts per account from one client IP: a burst of 5, then one every 12 s. Limiting
    # per account and IP, not per account alone, means nobody can lock a chosen account out by
    # failing its logins from their own machine.
    login_per_account_ip_per_min: int = Field(
        5, description="login attempts per account from one client IP per minute (and password changes)"
    )
    # Per account from every IP together, 4x the above: one IP never reaches it, so it takes an
    # attacker with many addresses, and caps them at ~29,000 guesses a day against one account,
    # while the common-password check removes the 30,000 most likely passwords.
    login_per_account_per_min: int = Field(
        20, description="login attempts per account per minute from all client IPs together"
    )
    login_per_ip_per_min: int = Field(30, description="login/register attempts per client IP per minute")
    # Each invitation mails an address the workspace chose: 10 a minute staffs a team, and keeps
    # a workspace from using Cortex to send mail to strangers in bulk.
    invites_per_workspace_per_min: int = Field(10, description="invitations a workspace may send per minute")
    # A day covers "I'll check my mail tonight"; after that the owner asks for a new link.
    email_verification_ttl_s: int = Field(24 * 3600, description="how long a mailed address-verification link works")
    # Half an hour: long enough to open the mail, short enough that a link found later in an old
    # inbox (or a mail archive) no longer opens the account.
    password_reset_ttl_s: int = Field(30 * 60, description="how long a mailed password-reset link works")
    # A week: invitees are often away for a few days; an older one is sent again by an admin.
    invitation_ttl_s: int = Field(7 * 24 * 3600, description="how long an invitation to a workspace can be accepted")
    # Mail to one address on request (verification resends, password resets): a burst of 3, then
    # one every 20 s, so nobody can use Cortex to flood an inbox.
    account_mails_per_address_per_min: int = Field(
        3, description="verification or password-reset mails one address may be sent per minute"
    )
    mail_from: str = Field("Cortex <no-reply@cortex.local>", description="sender of the mail Cortex sends")
    rate_limits: dict[str, dict[str, int]] = Field(
        default_factory=lambda: {
            "free": {"workspace": 600, "api_key": 300, "visitor": 20, "bot": 300, "ip": 600},
            "pro": {"workspace": 6000, "api_key": 3000, "visitor": 60, "bot": 3000, "ip": 1200},
        },
        description="requests per minute per plan: members and API keys share `workspace`, each API key "
        "also has `api_key`; visitors never touch `workspace`: each has `visitor`, and a bot's visitors "
        "share `bot` (a missing `bot` means `workspace`)",
    )
    # 60 a minute: a page load mints one token, and a household or office behind one address
    # rarely opens more than one chat a second.
    visitor_token_per_ip_per_min: int = Field(
        60, description="visitor tokens minted per client IP per minute (from every widget key together)"
    )
    oidc_allow_http_loopback: bool = Field(
        False, description="allow an http:// OIDC issuer on 127.0.0.1/localhost (local testing only)"
    )
    oidc_providers: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description='OIDC logins: {"google": {"client_id", "client_secret"}} or '
        '{"<name>": {"discovery_url", "client_id", "client_secret"}}',
    )

    # -- knowledge ----------------------------------------------------------------------------
    object_store_url: str | None = Field(
        None, description="where uploaded originals are kept: s3://bucket/prefix, or unset for <home>/objects"
    )
    s3_endpoint_url: str | None = Field(None, description="S3-compatible endpoint (MinIO, Ceph, ...) for s3:// URLs")
    ray_dashboard_url: str | None = Field(None, description="Ray job API; unset: the embedded head's dashboard")
    # 50 MiB: a long PDF manual or a help-desk export fits; a video does not.
    upload_max_bytes: int = Field(50 * 1024 * 1024, description="largest file accepted for ingestion")
    # BM25 and dense scores are z-normalised and mixed: on BEIR SciFact 0.5 scored best
    # (nDCG@10 0.731; 0.4 and 0.6 within 0.003; reciprocal rank fusion 0.723), see bench/knowledge.py.
    hybrid_dense_weight: float = Field(0.5, ge=0.0, le=1.0, description="weight of dense vs lexical in hybrid search")
    ingest_embed_batch: int = Field(64, description="chunks per embedding batch in ingestion jobs")

    # -- the sentence embedder -----------------------------------------------------------------
    # onnx (fp32): torch's vectors exactly, ~1.25x torch's throughput on 2 cores and a tenth of its
    # single-query latency (19 vs 263 ms). onnx-int8 is ~1.5x and moves SciFact nDCG@10 by under
    # 0.001, but it shifts cosine similarities by a few hundredths, and every threshold here (a
    # passage counting as evidence, an FAQ answering directly, the answer cache) was calibrated on
    # exact vectors: a warranty paraphrase fell from 0.30 to 0.29. See bench/results/embedder.json.
    embedder_backend: EmbedderBackend = Field(
        "onnx",
        description="how all-MiniLM-L6-v2 runs: sentence-transformers on PyTorch, or its weights exported to "
        "ONNX Runtime (onnx-int8: with int8 weights); torch is the fallback when an export fails",
    )
    # A Ray replica with num_cpus 0.3 is limited to one OpenMP thread, yet it sees both cores and
    # the model's matrix products use them; 0 keeps every core (set it lower to leave room for the LLM).
    embedder_threads: int = Field(0, ge=0, description="threads one embedder computes with (0: every core)")
    model_cache_dir: Path | None = Field(
        None, description="where the embedder's ONNX export is kept; unset: $XDG_CACHE_HOME/cortex or ~/.cache/cortex"
    )

    @model_validator(mode="after")
    def _refuse_default_secrets_in_production(self) -> Settings:
        if self.env == "production" and (self.secret_key or "") in _INSECURE_SECRETS:
            raise ValueError("CORTEX_SECRET_KEY must be set to a strong value in production")
        if self.env == "production" and self.oidc_allow_http_loopback:
            raise ValueError("CORTEX_OIDC_ALLOW_HTTP_LOOPBACK is for local testing, never production")
        return self

    @model_validator(mode="after")
    def _trusted_proxies_are_networks(self) -> Settings:
        # Checked here, once: a typo would otherwise fail every login and visitor token (client_ip).
        for network in self.trusted_proxies:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"CORTEX_TRUSTED_PROXIES: {network!r} is not an IP network (CIDR)") from None
        return self

    @model_validator(mode="after")
    def _every_plan_has_a_budget_ceiling(self) -> Settings:
        if "free" not in self.llm_budget_ceilings:  # the plan of a new workspace, and every unlisted plan's
            raise ValueError('CORTEX_LLM_BUDGET_CEILINGS needs a "free" entry: plans not listed get its ceiling')
        return self

    # -- derived ---------------------------------------------------------------------------
    @property
    def home_dir(self) -> Path:
        return self.home.expanduser().resolve()

    def resolved_public_url(self) -> str:
        """Where browsers reach the gateway (OIDC callbacks, embed snippets)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.http_host in ("0.0.0.0", "") else self.http_host
        return f"http://{host}:{self.http_port}"

    def stack_state(self) -> dict[str, str]:
        """Addresses written by the embedded stack, or {} when it has not run."""
        path = self.home_dir / "stack.json"
        if not path.exists():
            return {}
        return json.loads(path.read_text())

    def _resolve(self, name: str) -> str | None:
        return getattr(self, name) or self.stack_state().get(name)

    def resolved_database_url(self) -> str:
        return _require(self._resolve("database_url"), "database_url")

    def resolved_redis_url(self) -> str:
        return _require(self._resolve("redis_url"), "redis_url")

    def resolved_chroma_url(self) -> str:
        return _require(self._resolve("chroma_url"), "chroma_url")

    def resolved_smtp_url(self) -> str:
        return _require(self._resolve("smtp_url"), "smtp_url")

    def resolved_secret_key(self) -> str:
        """The root secret; in local/test mode generated once and kept under home."""
        if self.secret_key:
            return self.secret_key
        path = self.home_dir / "secret_key"
        if not path.exists():
            # Written whole under a private name, then linked into place: a process starting at the
            # same moment reads either no file or the whole key, never an empty one, and the first
            # link wins (a second writer's key is dropped, not swapped in under running services).
            path.parent.mkdir(parents=True, exist_ok=True)
            draft = path.with_name(f".secret_key.{os.getpid()}.{secrets.token_hex(4)}")
            fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(fd, "w") as handle:
                    handle.write(secrets.token_urlsafe(48))
                os.link(draft, path)
            except FileExistsError:
                pass
            finally:
                draft.unlink(missing_ok=True)
        return path.read_text().strip()

    def resolved_ray_dashboard_url(self) -> str:
        """Where Ray's job API answers: set explicitly, next to CORTEX_RAY_ADDRESS, or the embedded head."""
        if self.ray_dashboard_url:
            return self.ray_dashboard_url.rstrip("/")
        host = self.ray_address.split(":")[0] if self.ray_address else "127.0.0.1"
        return f"http://{host}:{self.ray_dashboard_port}"

    def resolved_object_store_url(self) -> str:
        return self.object_store_url or (self.home_dir / "objects").as_uri()

    def service_role(self, schema: str) -> str:
        return f"cortex_{schema}"

    def service_role_password(self, schema: str) -> str:
        """Each service's login role gets a password derived from the root secret."""
        key = self.resolved_secret_key().encode()
        return hmac.new(key, f"db-role:{schema}".encode(), hashlib.sha256).hexdigest()

    def resolved_jobs_database_url(self, schema: str = "knowledge") -> str:
        """Where a Ray job working in `schema` connects: as that schema's jobs role (JOB_ROLES), never as
        the service; an explicit DSN (CORTEX_JOBS_DATABASE_URL, CORTEX_HELPER_JOBS_DATABASE_URL) wins."""
        explicit = {"knowledge": self.jobs_database_url, "helper": self.helper_jobs_database_url}.get(schema)
        return explicit or self.service_database_url(JOB_ROLES[schema])

    def service_database_url(self, schema: str) -> str:
        """DSN for a service: the admin DSN with the service's own login role."""
        parts = urlsplit(self.services_database_url or self.resolved_database_url())
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        user = quote(self.service_role(schema))
        password = quote(self.service_role_password(schema))
        netloc = f"{user}:{password}@{host}{port}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _require(value: str | None, name: str) -> str:
    if not value:
        raise RuntimeError(
            f"{name} is not configured: set CORTEX_{name.upper()} or start the embedded stack (cortex up)"
        )
    return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; tests clear the cache after changing env)."""
    return Settings()
