"""The Serve applications of serve_config.yaml, deployed onto the stack's Ray with `serve deploy`."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import yaml

from cortex.secret_settings import PRIVATE_SETTINGS_FILE, is_secret_setting
from cortex.serve_tuning import SERVE_CONFIG
from cortex.settings import APPLICATIONS
from cortex.stack.files import write_private
from cortex.stack.ports import http_ok
from cortex.stack.processes import PROJECT_ROOT, StackError, Supervisor

# Serve starting ten applications on 2 busy cores takes ~1 min; 6 min means something is wrong.
READY_TIMEOUT_S = 360


class Serve:
    def __init__(self, supervisor: Supervisor, dashboard_url: str, echo: Callable[[str], None]) -> None:
        self.supervisor = supervisor
        self.settings = supervisor.settings
        self.dashboard_url = dashboard_url
        self.echo = echo

    @property
    def http_url(self) -> str:
        """The gateway's address on this machine."""
        host = "127.0.0.1" if self.settings.http_host in ("0.0.0.0", "") else self.settings.http_host
        return f"http://{host}:{self.settings.http_port}"

    @property
    def private_settings_file(self) -> Path:
        return self.supervisor.home / PRIVATE_SETTINGS_FILE

    def private_settings(self) -> dict[str, str]:
        """The secret CORTEX_* settings of this environment, which the replicas read from the private
        settings file (Settings does): Ray's dashboard shows every application's runtime_env."""
        return {key: value for key, value in os.environ.items() if key.startswith("CORTEX_") and is_secret_setting(key)}

    def private_settings_version(self) -> str:
        """Changes when a secret setting does (so `up` redeploys), without telling anything of them: an
        HMAC under the root secret."""
        text = json.dumps(self.private_settings(), sort_keys=True)
        return hmac.new(self.settings.resolved_secret_key().encode(), text.encode(), hashlib.sha256).hexdigest()[:16]

    def config(self) -> dict[str, Any]:
        """serve_config.yaml with this stack's HTTP address and its non-secret environment filled in."""
        config = yaml.safe_load(SERVE_CONFIG.read_text())
        config["http_options"]["host"] = self.settings.http_host
        config["http_options"]["port"] = self.settings.http_port
        env_vars = {
            key: value for key, value in os.environ.items() if key.startswith("CORTEX_") and not is_secret_setting(key)
        }
        env_vars.update(
            {
                "CORTEX_HOME": str(self.supervisor.home),
                "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1",
                # A changed source tree changes the config, so `up` after an edit redeploys the code.
                "CORTEX_CODE_VERSION": code_version(),
                "CORTEX_PRIVATE_SETTINGS_VERSION": self.private_settings_version(),
            }
        )
        for app in config["applications"]:
            runtime_env = app.setdefault("runtime_env", {})
            runtime_env.setdefault("env_vars", {}).update(env_vars)
        return config

    def write_files(self) -> Path:
        """The private settings file and run/serve_config.yaml (returned), both 0600 from their creation."""
        write_private(self.private_settings_file, json.dumps(self.private_settings(), indent=2))
        config_path = self.supervisor.run_dir / "serve_config.yaml"
        # No secret in it, yet it says how Cortex runs: the stack's owner's alone, like the home.
        write_private(config_path, yaml.safe_dump(self.config(), sort_keys=False))
        return config_path

    def deploy(self) -> None:
        """`serve deploy` the config, then wait until every application runs and the gateway answers."""
        config_path = self.write_files()
        serve = Path(sys.executable).parent / "serve"
        result = subprocess.run(
            [str(serve), "deploy", str(config_path), "-a", self.dashboard_url],
            capture_output=True,
            text=True,
            env=self.supervisor.env(),
            check=False,
        )
        if result.returncode != 0:
            raise StackError(f"serve: deploy failed: {(result.stderr or result.stdout).strip()[-300:]}")
        deadline = time.monotonic() + READY_TIMEOUT_S
        statuses: dict[str, str] = {}
        while time.monotonic() < deadline:
            statuses = self.statuses()
            failed = {name: s for name, s in statuses.items() if s == "DEPLOY_FAILED"}
            if failed:
                raise StackError(
                    f"serve: applications failed to deploy: {', '.join(failed)} (see {self.dashboard_url}/#/serve)"
                )
            running = len(statuses) == len(APPLICATIONS) and all(s == "RUNNING" for s in statuses.values())
            if running and http_ok(f"{self.http_url}/api/auth/healthz"):
                self.echo(f"  serve      {len(statuses)} applications running on {self.http_url}")
                return
            time.sleep(1)
        raise StackError(f"serve: applications not running after {READY_TIMEOUT_S}s: {statuses}")

    def statuses(self) -> dict[str, str]:
        """Each Serve application's status from the Ray dashboard ({} when unreachable)."""
        try:
            response = httpx.get(
                f"{self.dashboard_url}/api/serve/applications/",
                headers=self.supervisor.ray_auth_headers(),
                timeout=5,
                follow_redirects=True,
            )
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError):
            return {}
        return {name: app.get("status", "UNKNOWN") for name, app in (body.get("applications") or {}).items()}


def code_version() -> str:
    """Digest of the Python sources Serve runs (cortex/, deployments/, graphs/)."""
    digest = hashlib.sha256()
    for folder in ("cortex", "deployments", "graphs"):
        for path in sorted((PROJECT_ROOT / folder).rglob("*")):
            if path.suffix in (".py", ".sql") and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(PROJECT_ROOT)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
