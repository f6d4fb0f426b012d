"""`cortex up | down | status | migrate | demo | render-cluster | ingest | crawl`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from cortex.demo import OWNER_EMAIL, Demo, DemoError, ensure_demo, new_password
from cortex.settings import APPLICATIONS, Settings, get_settings
from cortex.stack import Stack, StackError


def _up(args: argparse.Namespace) -> int:
    settings = get_settings()
    stack = Stack(settings)
    print(f"starting Cortex (data in {stack.home})")
    stack.up()
    demo = None
    if settings.demo and not args.no_demo:
        demo = _build_demo(settings, reset=False)
    print()
    print("\n".join(summary(stack.http_url, stack.dashboard_url, demo)))
    return 0


def summary(http_url: str, ray_dashboard_url: str, demo: Demo | None) -> list[str]:
    """What `cortex up` prints last: where to click, how to sign in, the API docs, how to stop."""
    lines = ["Cortex is running:"]
    if demo is not None:
        lines.append(f"  demo page    {demo.page_url}   <- chat with the demo bot here")
    lines.append(f"  dashboard    {http_url}/dashboard")
    if demo is not None:
        lines += _credentials(demo)
    lines.append("  API docs")
    for app, prefix in APPLICATIONS.items():
        if prefix != "/":
            lines.append(f"    {app:<10} {http_url}{prefix}/docs")
    lines.append(f"  ray          {ray_dashboard_url}")
    lines.append("  stop with    make down")
    return lines


def _credentials(demo: Demo) -> list[str]:
    if demo.password:
        return [
            f"  sign in as   {demo.owner_email}  password {demo.password}",
            "               (shown this once: note it; `cortex demo --new-password` makes another)",
        ]
    return [f"  sign in as   {demo.owner_email}  (forgot the password? `cortex demo --new-password`)"]


def _build_demo(settings: Settings, *, reset: bool) -> Demo | None:
    """The demo, or None with a one-line reason: a demo that fails must not fail `up` itself."""
    try:
        return ensure_demo(settings, reset=reset, echo=print)
    except DemoError as exc:
        print(f"  demo       not built: {exc} (retry: cortex demo)", file=sys.stderr)
        return None


def _demo(args: argparse.Namespace) -> int:
    settings = get_settings()
    if args.new_password:
        try:
            password = new_password(settings)
        except DemoError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"sign in as {OWNER_EMAIL}  password {password}  (every earlier session has ended)")
        return 0
    demo = _build_demo(settings, reset=args.reset)
    if demo is None:
        return 1
    print(f"  demo page    {demo.page_url}")
    print(f"  dashboard    {demo.dashboard_url}")
    print("\n".join(_credentials(demo)))
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


def build_parser() -> argparse.ArgumentParser:
    """Every `cortex` command and its options."""
    parser = argparse.ArgumentParser(prog="cortex", description="Cortex platform command line")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start the embedded stack and the Serve applications")
    up.add_argument("--no-demo", action="store_true", help="do not build the demo (also: CORTEX_DEMO=0)")
    up.set_defaults(fn=_up)
    commands.add_parser("down", help="stop everything `up` started (data is kept)").set_defaults(fn=_down)
    status = commands.add_parser("status", help="report each part of the stack")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(fn=_status)
    commands.add_parser("migrate", help="apply pending database migrations").set_defaults(fn=_migrate)
    demo = commands.add_parser(
        "demo", help="build the demo workspace, bot and page on the running stack (once; idempotent)"
    )
    choice = demo.add_mutually_exclusive_group()
    choice.add_argument(
        "--reset", action="store_true", help="delete the demo's bot and knowledge, build it again, new password"
    )
    choice.add_argument("--new-password", action="store_true", help="give the demo owner a new password")
    demo.set_defaults(fn=_demo)
    commands.add_parser(
        "render-cluster", help="print the KubeRay RayService manifest rendered from serve_config.yaml"
    ).set_defaults(fn=_render_cluster)
    from cortex.ingest_cli import add_commands

    add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args))
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
