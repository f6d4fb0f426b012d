"""Which settings are secret, defined once, and the stack's private file the secret ones are read from.

A secret setting never goes where others can read it: a Serve application's or a Ray job's
runtime_env (Ray's dashboard shows both), serve_config.yaml, a log line. `cortex up` writes the
secret settings it was given to `<home>/private_settings.json` (mode 0600, cortex/stack/files.py);
`Settings` reads that file below the environment, so the replicas and the jobs, which get only
the non-secret settings and CORTEX_HOME in their runtime_env, still find them. In Kubernetes
there is no such file: the pods' environment holds them (a Secret), and Ray's workers inherit it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from pydantic_settings import BaseSettings, EnvSettingsSource

#: The file under the stack's home: {"CORTEX_NAME": "the value as the environment gave it"}.
PRIVATE_SETTINGS_FILE = "private_settings.json"

# A setting is secret when its value is, or may carry, a credential. By name: a key, secret,
# password, token or DSN; and these, whose values carry passwords (a DSN's, a URL's
# user:password@) or OIDC client secrets.
_SECRET_SUFFIXES = ("_key", "_secret", "_secrets", "_password", "_token", "_dsn")
_SECRET_SETTINGS = frozenset(
    {"database_url", "jobs_database_url", "helper_jobs_database_url", "redis_url", "smtp_url", "oidc_providers"}
)


def is_secret_setting(name: str) -> bool:
    """Whether a setting (`llm_api_key` or `CORTEX_LLM_API_KEY`) is or may carry a credential."""
    setting = name.lower().removeprefix("cortex_")
    return setting in _SECRET_SETTINGS or setting.endswith(_SECRET_SUFFIXES)


class PrivateSettingsSource(EnvSettingsSource):
    """The secret settings in a stack's private file, read as the environment would be (JSON values
    for lists and objects). Nothing else in the file counts."""

    def __init__(self, settings_cls: type[BaseSettings], home: Path) -> None:
        self.path = home.expanduser().resolve() / PRIVATE_SETTINGS_FILE
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        try:
            values = json.loads(self.path.read_text())
        except (OSError, ValueError):  # no stack here (Kubernetes), or not this user's
            return {}
        if not isinstance(values, dict):
            return {}
        return {name.lower(): str(value) for name, value in values.items() if is_secret_setting(name)}
