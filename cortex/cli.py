"""`cortex up | down | status | migrate | render-cluster | ingest | crawl`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from cortex.settings import APPLICATIONS, get_settings
from cortex.stack import Stack, StackError


def _up(args: argparse.Namespace) -> int:
    stack = Stack(get_settings())
    print(f"starting Cortex (data in {stack.home})")
    stack.up()
    print()
    print("Cortex is running:")
    print(f"  gateway      {stack.http_url}")
    for app, prefix in APPLICATIONS.items():
        if prefix != "/":
            print(f"  {app:<12} {stack.http_url}{prefix}/docs")
    print(f"  ray          {stack.dashboard_url}")
    print("  stop with    make down")
    return 0


def _down(args: argparse.Namespace) -> int:
    stack = Stack(get_settings())
    stopped = stack.down()
    print("stopped: " + ", ".join(stopped) if stopped else "nothing was running")
    return 0


def _status(args: argparse.Namespace) -> int:
    stack = Stack(get_settings())
    parts = stack.status()
    if args.json:
        print(json.dumps({name: part.as_dict() for name, part in parts.items()}, indent=2))
    else:
        for name, part in parts.items():
            info = part.as_dict()
            print(f"{name:<18} {info['status']:<9} {info['detail'] or ''} {info['url'] or ''}".rstrip())
    # 0 when everything embedded runs, so scripts can wait on `cortex status`.
    return 0 if all(part.running or part.external for part in parts.values()) else 1


def _migrate(args: argparse.Namespace) -> int:
    from cortex.db.migrate import migrate

    applied = asyncio.run(migrate(get_settings()))
    print("\n".join(f"applied {name}" for name in applied) or "up to date")
    return 0


def _render_cluster(args: argparse.Namespace) -> int:
    from cortex.cluster import render_rayservice

    sys.stdout.write(render_rayservice())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cortex", description="Cortex platform command line")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="start the embedded stack and the Serve applications").set_defaults(fn=_up)
    commands.add_parser("down", help="stop everything `up` started (data is kept)").set_defaults(fn=_down)
    status = commands.add_parser("status", help="report each part of the stack")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(fn=_status)
    commands.add_parser("migrate", help="apply pending database migrations").set_defaults(fn=_migrate)
    commands.add_parser(
        "render-cluster", help="print the KubeRay RayService manifest rendered from serve_config.yaml"
    ).set_defaults(fn=_render_cluster)
    from cortex.ingest_cli import add_commands

    add_commands(commands)
    args = parser.parse_args(argv)
    try:
        return int(args.fn(args))
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
