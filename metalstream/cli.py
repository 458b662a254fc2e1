"""The ``metalstream`` command line.

``history`` and ``events tail`` are the audit tools: they read the event store directly, so they
work whenever NATS is reachable, whether or not a control plane is running. ``dev`` starts the
local stack (see README).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from core.errors import DomainError, StoreUnavailable
from core.ids import split_object_id
from metalstream import audit, logs, registry, settings, wiring
from projections import history as history_view


class UsageError(Exception):
    """Bad command-line input; the message says what to type instead."""


def _parse_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        msg = f"{text!r} is not a time; use ISO 8601 such as 2026-11-23T14:02:00Z"
        raise argparse.ArgumentTypeError(msg) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _parse_object(text: str) -> tuple[str, str]:
    kind, sep, rest = text.partition(":")
    if not sep:
        kind, rest = "host", text
    if kind not in registry.DEFINITIONS:
        known = ", ".join(sorted(registry.DEFINITIONS))
        msg = f"unknown aggregate type {kind!r}; use one of {known} (e.g. host:default/worker-0)"
        raise UsageError(msg)
    try:
        split_object_id(rest)
    except ValueError as exc:
        msg = f"{text!r}: give the object as <namespace>/<name>, e.g. default/worker-0"
        raise UsageError(msg) from exc
    return kind, rest


def _nats_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Flags over environment: the global ones, and those of ``run`` when it is the command."""
    return {
        "nats": {"urls": args.nats_url or None},
        "log": {"format": args.log_format, "level": args.log_level},
        "kube": {
            "kubeconfig": getattr(args, "kubeconfig", None),
            "namespace": getattr(args, "namespace", None),
        },
        "ironic": {"url": getattr(args, "ironic_url", None)},
        "observability": {"port": getattr(args, "health_port", None)},
    }


async def _history(args: argparse.Namespace, config: settings.Settings) -> int:
    kind, object_id = _parse_object(args.object)
    definition = registry.DEFINITIONS[kind]
    async with wiring.event_store(config) as store:
        records = await wiring.load_history(store, kind, object_id)
    if not records:
        print(f"{kind} {object_id} has no events", file=sys.stderr)
        return 1
    entries = history_view.history(definition, records)
    moment = "now"
    if args.at is not None:
        entries = history_view.until(entries, at=args.at)
        moment = f"at {args.at.isoformat()}"
    elif args.seq is not None:
        entries = history_view.until(entries, position=args.seq)
        moment = f"at stream sequence {args.seq}"
    elif args.version is not None:
        entries = entries[: args.version]
        moment = f"after event #{args.version}"
    state = entries[-1].state if entries else definition.initial
    if args.json:
        sys.stdout.buffer.write(audit.render_json(entries, state=state) + b"\n")
    else:
        print(audit.render_text(entries, state=state, moment=moment))
    return 0


async def _tail(args: argparse.Namespace, config: settings.Settings) -> int:
    async with wiring.event_store(config) as store:
        after = 0 if args.from_start else await store.last_position()
        # Everything after ``after`` is delivered, however late the consumer starts: no race.
        print(f"following {args.filter or 'every event'} after position {after}", file=sys.stderr, flush=True)
        async for record in wiring.follow(store, args.filter, after_position=after):
            print(audit.render_record(record), flush=True)
    return 0


async def _run(args: argparse.Namespace, config: settings.Settings) -> int:
    from metalstream import serving

    return await serving.serve(config)


async def _dev(args: argparse.Namespace, config: settings.Settings) -> int:
    from metalstream import devrun

    code: int = await devrun.run(
        state_dir=args.state_dir, hosts=args.hosts, fresh=args.fresh, wait=not args.no_wait, config=config
    )
    return code


def _host_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        msg = f"{text!r} is not a number of hosts; give a whole number of at least 1, e.g. --hosts 8"
        raise argparse.ArgumentTypeError(msg)
    return count


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="metalstream", description=__doc__)
    parser.add_argument(
        "--nats-url", action="append", help="NATS server URL (repeatable); env METALSTREAM_NATS_URLS"
    )
    parser.add_argument("--log-format", choices=["json", "console", "auto"], default=None)
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default=None)
    sub = parser.add_subparsers(dest="command", required=True)

    hist = sub.add_parser("history", help="an object's full history and its state at any moment")
    hist.add_argument("object", help="<namespace>/<name> of a host, or <type>:<namespace>/<name>")
    when = hist.add_mutually_exclusive_group()
    when.add_argument("--at", type=_parse_time, help="show the state as it was at this time (ISO 8601)")
    when.add_argument("--seq", type=int, help="show the state just after this stream sequence")
    when.add_argument("--version", type=int, help="show the state after the object's N-th event")
    hist.add_argument("--json", action="store_true", help="machine-readable output")
    hist.set_defaults(handler=_history)

    events = sub.add_parser("events", help="the event log")
    events_sub = events.add_subparsers(dest="events_command", required=True)
    tail = events_sub.add_parser("tail", help="follow new events as they are recorded")
    tail.add_argument(
        "filter",
        nargs="?",
        default=None,
        help="a subject (metalstream.host.default.>), an aggregate type (host) or an object (host:ns/name)",
    )
    tail.add_argument("--from-start", action="store_true", help="print the whole log first")
    tail.set_defaults(handler=_tail)

    run = sub.add_parser(
        "run",
        help="run the control plane (settings from METALSTREAM_* variables, see docs/settings.md)",
    )
    run.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster, else $KUBECONFIG)")
    run.add_argument("--ironic-url", help="Ironic API URL, e.g. https://ironic.example:6385")
    run.add_argument("--namespace", help="watch only this namespace (default: all)")
    run.add_argument("--health-port", type=int, help="port of /healthz, /readyz and /metrics")
    run.set_defaults(handler=_run)

    dev = sub.add_parser(
        "dev", help="start every component and the control plane locally and provision example hosts"
    )
    dev.add_argument(
        "--hosts",
        type=_host_count,
        default=None,
        help="emulated servers (default 8, or as many as the state directory already holds)",
    )
    dev.add_argument("--state-dir", default="var/dev", help="where the durable local state lives")
    dev.add_argument("--fresh", action="store_true", help="wipe the state directory and start over")
    dev.add_argument(
        "--no-wait",
        action="store_true",
        help="do not wait for the hosts: say how to continue as soon as everything has started",
    )
    dev.set_defaults(handler=_dev)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = settings.load(overrides=_nats_overrides(args))
    except settings.SettingsError as exc:
        print(f"metalstream: {exc}", file=sys.stderr)
        return 2
    logs.configure(fmt=config.log.format, level=config.log.level)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            code: int = asyncio.run(args.handler(args, config))
            return code
        return 130
    except UsageError as exc:
        print(f"metalstream: {exc}", file=sys.stderr)
        return 2
    except StoreUnavailable as exc:
        print(f"metalstream: event store unavailable: {exc}", file=sys.stderr)
        return 3
    except DomainError as exc:
        print(f"metalstream: {exc}", file=sys.stderr)
        return 4


if __name__ == "__main__":
    raise SystemExit(main())
