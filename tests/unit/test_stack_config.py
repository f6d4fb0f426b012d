"""What the embedded stack hands to Serve, without starting anything."""

from __future__ import annotations

from pathlib import Path

import yaml

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
