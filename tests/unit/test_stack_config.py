"""What the embedded stack hands to Serve, without starting anything."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml

from cortex.secret_settings import PRIVATE_SETTINGS_FILE, is_secret_setting
from cortex.serve_tuning import SERVE_CONFIG
from cortex.settings import APPLICATIONS, Settings
from cortex.stack import Stack
from cortex.stack.parts import redact


def test_serve_config_declares_every_application_with_fractional_cpus_and_autoscaling() -> None:
    config = yaml.safe_load(SERVE_CONFIG.read_text())
    apps = {app["name"]: app for app in config["applications"]}
    assert {name: app["route_prefix"] for name, app in apps.items()} == APPLICATIONS
    total_cpus = 0.0
    for app in apps.values():
        for deployment in app["deployments"]:
            cpus = deployment["ray_actor_options"]["num_cpus"]
            assert 0 < cpus < 1
            total_cpus += cpus
            scaling = deployment["autoscaling_config"]
            assert scaling["min_replicas"] >= 1 and scaling["max_replicas"] >= scaling["min_replicas"]
            assert scaling["target_ongoing_requests"] > 0
    assert total_cpus <= 1.7, "every deployment must fit on 2 cores with room for a job"


def test_the_deployed_config_carries_our_port_and_home_but_never_the_secret(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CORTEX_SECRET_KEY", "do-not-leak-this-secret-value")
    stack = Stack(Settings(home=tmp_path, http_port=18080), echo=lambda _: None)
    config = stack.serve.config()
    assert config["http_options"]["port"] == 18080
    for app in config["applications"]:
        env = app["runtime_env"]["env_vars"]
        assert env["CORTEX_HOME"] == str(tmp_path.resolve())
        assert env["HF_HUB_OFFLINE"] == "1"
        assert "CORTEX_SECRET_KEY" not in env


SECRETS = {
    "CORTEX_SECRET_KEY": "root-secret-value-0123456789",
    "CORTEX_DATABASE_URL": "postgresql://admin:admin-password-0123@db:5432/cortex",
    "CORTEX_REDIS_URL": "redis://:valkey-password-0123@cache:6379/0",
    "CORTEX_SMTP_URL": "smtp://mailer:smtp-password-0123@relay:587",
    "CORTEX_LLM_API_KEY": "sk-llm-key-0123456789",
    "CORTEX_OIDC_PROVIDERS": '{"google": {"client_id": "id", "client_secret": "oidc-secret-0123456789"}}',
}


def test_serve_applications_get_no_secret_setting_only_the_others(tmp_path: Path, monkeypatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CORTEX_LLM_MODEL", "gpt-test")
    config = Stack(Settings(home=tmp_path), echo=lambda _: None).serve.config()
    shown = yaml.safe_dump(config)
    for name in SECRETS:
        assert name not in shown
        for part in ("0123", "admin-password", "valkey-password"):
            assert part not in shown, (name, part)
    for app in config["applications"]:
        assert app["runtime_env"]["env_vars"]["CORTEX_LLM_MODEL"] == "gpt-test"


def test_the_replicas_read_the_secret_settings_from_the_private_file(tmp_path: Path, monkeypatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    stack = Stack(Settings(home=tmp_path), echo=lambda _: None)
    stack.supervisor.run_dir.mkdir(parents=True)
    stack.serve.write_files()
    private = tmp_path / PRIVATE_SETTINGS_FILE
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE((stack.supervisor.run_dir / "serve_config.yaml").stat().st_mode) == 0o600
    # A replica's environment: the runtime_env only (plus what Ray's processes inherit, which holds no secret).
    for name in SECRETS:
        monkeypatch.delenv(name)
        assert name not in stack.supervisor.env()
    monkeypatch.setenv("CORTEX_HOME", str(tmp_path))
    replica = Settings()
    assert replica.llm_api_key == SECRETS["CORTEX_LLM_API_KEY"]
    assert replica.oidc_providers["google"]["client_secret"] == "oidc-secret-0123456789"
    assert replica.resolved_database_url() == SECRETS["CORTEX_DATABASE_URL"]
    assert replica.resolved_secret_key() == SECRETS["CORTEX_SECRET_KEY"]
    # The environment still wins over the file, as it does over stack.json.
    monkeypatch.setenv("CORTEX_LLM_API_KEY", "sk-from-the-environment")
    assert Settings().llm_api_key == "sk-from-the-environment"


def test_a_changed_secret_redeploys_without_showing_itself(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CORTEX_SECRET_KEY", "root-secret-value-0123456789")
    monkeypatch.setenv("CORTEX_LLM_API_KEY", "sk-first")
    first = Stack(Settings(home=tmp_path), echo=lambda _: None).serve.config()
    monkeypatch.setenv("CORTEX_LLM_API_KEY", "sk-second")
    second = Stack(Settings(home=tmp_path), echo=lambda _: None).serve.config()
    assert first != second and "sk-" not in yaml.safe_dump(second)


@pytest.mark.parametrize(
    "name",
    [
        "secret_key",
        "CORTEX_LLM_API_KEY",
        "database_url",
        "jobs_database_url",
        "redis_url",
        "smtp_url",
        "oidc_providers",
    ],
)
def test_settings_holding_credentials_are_secret(name: str) -> None:
    assert is_secret_setting(name)


@pytest.mark.parametrize("name", ["home", "llm_url", "llm_model", "chroma_url", "signing_key_max_age_days", "env"])
def test_other_settings_are_not(name: str) -> None:
    assert not is_secret_setting(name)


def test_a_long_home_gets_a_short_ray_temp_dir(tmp_path: Path) -> None:
    deep = tmp_path / ("x" * 80)
    stack = Stack(Settings(home=deep), echo=lambda _: None)
    assert len(str(stack.ray_temp_dir)) + 70 <= 107


def test_passwords_are_redacted_in_status() -> None:
    assert redact("postgresql://postgres:hunter2@127.0.0.1:5/cortex") == "postgresql://postgres:***@127.0.0.1:5/cortex"
    assert redact("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_an_edited_source_tree_changes_what_is_deployed(tmp_path: Path, monkeypatch) -> None:
    import cortex.stack.serve as serve_module

    first = Stack(Settings(home=tmp_path), echo=lambda _: None).serve.config()
    monkeypatch.setattr(serve_module, "code_version", lambda: "changed")
    second = Stack(Settings(home=tmp_path), echo=lambda _: None).serve.config()
    version = first["applications"][0]["runtime_env"]["env_vars"]["CORTEX_CODE_VERSION"]
    assert len(version) == 16
    assert second["applications"][0]["runtime_env"]["env_vars"]["CORTEX_CODE_VERSION"] == "changed"


def test_unix_socket_paths_fit_whatever_the_checkout_path(tmp_path: Path) -> None:
    deep = tmp_path / ("checkout-" * 12) / ".cortex"
    stack = Stack(Settings(home=deep), echo=lambda _: None)
    node_id = "c" * 56  # Ray names HAProxy's folder by the 56-character node id
    assert len(str(stack.haproxy_dir / node_id / "admin.sock")) <= 97
    assert len(str(stack.ray_temp_dir)) + 70 <= 107
