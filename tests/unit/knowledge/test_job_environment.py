"""A Ray job's runtime_env (shown on Ray's dashboard) carries the settings it reads, and no secret."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cortex import jobs
from cortex.jobs import ray_auth_headers
from cortex.secret_settings import is_secret_setting
from cortex.settings import Settings

SECRETS = {
    "CORTEX_DATABASE_URL": "postgresql://postgres:admin-pw-123@db:5432/cortex",
    "CORTEX_JOBS_DATABASE_URL": "postgresql://cortex_knowledge_jobs:jobs-pw-123@db:5432/cortex",
    "CORTEX_SECRET_KEY": "root-secret-123",
    "CORTEX_LLM_API_KEY": "sk-llm-key-123",
    "CORTEX_OIDC_PROVIDERS": json.dumps({"google": {"client_id": "id", "client_secret": "oidc-secret-123"}}),
    "CORTEX_REDIS_URL": "redis://:redis-pw-123@cache:6379/0",
    "CORTEX_API_KEY": "ck_admin-key-123",
    "CORTEX_SMTP_URL": "smtp://mailer:smtp-pw-123@mail:25",
}
KNOBS = {
    "CORTEX_HOME": "/srv/cortex",
    "CORTEX_ENV": "production",
    "CORTEX_CHROMA_URL": "http://chroma:8000",
    "CORTEX_OBJECT_STORE_URL": "s3://bucket/originals",
    "CORTEX_FETCH_ALLOW_NETWORKS": '["10.1.0.0/16"]',
    "CORTEX_INGEST_EMBED_BATCH": "32",
    "CORTEX_EMBEDDER_BACKEND": "onnx-int8",
}


def test_a_jobs_environment_holds_the_settings_it_reads_and_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {**SECRETS, **KNOBS, "CORTEX_STACK_ID": "abc", "CORTEX_HTTP_PORT": "8000"}.items():
        monkeypatch.setenv(name, value)
    env = jobs.job_environment()
    assert {key: value for key, value in env.items() if key.startswith("CORTEX_")} == KNOBS
    text = json.dumps(env)
    for value in (
        "admin-pw-123",
        "jobs-pw-123",
        "root-secret",
        "sk-llm",
        "oidc-secret",
        "redis-pw",
        "ck_admin",
        "smtp-pw",
    ):
        assert value not in text
    assert env["HF_HUB_OFFLINE"] == "1"


def test_every_setting_passed_to_jobs_exists_and_none_is_a_secret() -> None:
    fields = Settings.model_fields
    passed = set(jobs.JOB_SETTINGS)
    assert passed <= set(fields)
    assert not {"database_url", "jobs_database_url", "secret_key", "llm_api_key", "oidc_providers"} & passed
    assert not {"redis_url", "smtp_url", "llm_url"} & passed


def test_jobs_log_in_as_their_own_role_derived_from_the_admin_dsn(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, database_url="postgresql://postgres:pw@db:5432/cortex", secret_key="k" * 40)
    url = settings.resolved_jobs_database_url()
    assert url.startswith("postgresql://cortex_knowledge_jobs:") and url.endswith("@db:5432/cortex")
    assert settings.service_role_password("knowledge") not in url, "not the knowledge service's password"
    explicit = "postgresql://jobs:pw@elsewhere/cortex"
    assert Settings(home=tmp_path, jobs_database_url=explicit).resolved_jobs_database_url() == explicit


def test_each_schemas_jobs_log_in_as_that_schemas_jobs_role(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, database_url="postgresql://postgres:pw@db:5432/cortex", secret_key="k" * 40)
    mining = settings.resolved_jobs_database_url("helper")
    assert mining.startswith("postgresql://cortex_helper_jobs:") and mining.endswith("@db:5432/cortex")
    assert settings.service_role_password("helper_jobs") in mining
    assert settings.service_role_password("helper") not in mining, "not the helper service's password"
    assert settings.service_role_password("knowledge_jobs") not in mining
    explicit = "postgresql://miner:pw@elsewhere/cortex"
    assert Settings(home=tmp_path, helper_jobs_database_url=explicit).resolved_jobs_database_url("helper") == explicit
    assert is_secret_setting("helper_jobs_database_url") and is_secret_setting("CORTEX_HELPER_JOBS_DATABASE_URL")


def test_the_launcher_sends_the_clusters_token_read_when_it_connects(tmp_path: Path) -> None:
    """Ray's clients keep the token they found on first use in a process; the launcher reads it
    from the environment whenever it makes a client, so a token set later is still sent."""
    token_file = tmp_path / "ray_auth_token"
    token_file.write_text("s3cret-token\n")
    assert ray_auth_headers({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token_file)}) == {
        "Authorization": "Bearer s3cret-token"
    }
    assert ray_auth_headers({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "direct"}) == {
        "Authorization": "Bearer direct"
    }
    assert ray_auth_headers({"RAY_AUTH_TOKEN_PATH": str(token_file)}) == {}, "no token mode: nothing sent"
    assert ray_auth_headers({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(tmp_path / "gone")}) == {}
