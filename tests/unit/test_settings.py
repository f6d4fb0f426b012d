"""Settings: env knobs, derived DSNs, refusal of default secrets in production."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from cortex.settings import Settings


def test_production_refuses_a_missing_or_default_secret() -> None:
    with pytest.raises(ValidationError, match="CORTEX_SECRET_KEY"):
        Settings(env="production")
    with pytest.raises(ValidationError):
        Settings(env="production", secret_key="change-me")
    assert Settings(env="production", secret_key="s" * 40).secret_key


def test_env_vars_override_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORTEX_HTTP_PORT", "9123")
    monkeypatch.setenv("CORTEX_REDIS_URL", "redis://cache:6379/2")
    settings = Settings()
    assert settings.http_port == 9123
    assert settings.resolved_redis_url() == "redis://cache:6379/2"


def test_an_external_url_wins_over_the_embedded_stack_state(tmp_path: Path) -> None:
    (tmp_path / "stack.json").write_text('{"redis_url": "redis://127.0.0.1:1/0", "chroma_url": "http://x:1"}')
    settings = Settings(home=tmp_path, redis_url="redis://external:6379/0")
    assert settings.resolved_redis_url() == "redis://external:6379/0"
    assert settings.resolved_chroma_url() == "http://x:1"


def test_a_missing_part_names_the_setting_to_fix(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="CORTEX_DATABASE_URL"):
        Settings(home=tmp_path).resolved_database_url()


def test_each_service_gets_its_own_login_role_and_password(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, database_url="postgresql://admin:pw@db.internal:5432/cortex")
    auth = settings.service_database_url("auth")
    core = settings.service_database_url("core")
    assert auth.startswith("postgresql://cortex_auth:") and auth.endswith("@db.internal:5432/cortex")
    assert settings.service_role_password("auth") != settings.service_role_password("core")
    assert "admin" not in auth and "cortex_core" in core


def test_the_local_secret_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    first = Settings(home=tmp_path).resolved_secret_key()
    assert first == Settings(home=tmp_path).resolved_secret_key()
    assert len(first) >= 48
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_a_trusted_proxy_that_is_not_a_network_is_refused_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """A typo fails the settings with the variable's name, not every login with a 500."""
    monkeypatch.setenv("CORTEX_TRUSTED_PROXIES", '["10.0.0.0/8", "10.0.0.300/32"]')
    with pytest.raises(ValidationError, match="CORTEX_TRUSTED_PROXIES: '10.0.0.300/32'"):
        Settings()
    monkeypatch.setenv("CORTEX_TRUSTED_PROXIES", '["10.0.0.0/8", "fd00::/8"]')
    assert Settings().trusted_proxies == ["10.0.0.0/8", "fd00::/8"]


def _first_read(home: str, barrier: Any, out: Any) -> None:
    barrier.wait()
    try:
        out.put(Settings(home=Path(home), secret_key="").resolved_secret_key())
    except Exception as error:  # noqa: BLE001 - the test reports what a racing service would have hit
        out.put(f"failed: {error!r}")


def test_services_starting_together_on_a_new_home_agree_on_one_root_secret(tmp_path: Path) -> None:
    """`make run` starts several processes on a fresh home at once: each must read the same whole key."""
    context = multiprocessing.get_context("fork")
    for round_ in range(40):
        home = tmp_path / f"home-{round_}"
        barrier, out = context.Barrier(8), context.Queue()
        processes = [context.Process(target=_first_read, args=(str(home), barrier, out)) for _ in range(8)]
        for process in processes:
            process.start()
        keys = {out.get(timeout=30) for _ in processes}
        for process in processes:
            process.join()
        assert len(keys) == 1, keys
        [key] = keys
        assert len(key) >= 48 and not key.startswith("failed"), key
        assert (home / "secret_key").stat().st_mode & 0o777 == 0o600
        assert [path.name for path in home.iterdir()] == ["secret_key"], "no draft is left behind"
