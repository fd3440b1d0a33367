"""`liveloop run GRAPH.toml [--duration S] [--trace out.json] [--metrics out.prom] [--json]`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("run", help="run a graph declared in TOML and print its budgets against measured latency")
    p.add_argument("graph", help="path to the graph's TOML file")
    p.add_argument("--duration", type=float, default=None, help="stop after S seconds (default: the file's, or end)")
    p.add_argument("--trace", metavar="OUT.json", default=None, help="write a Chrome/Perfetto trace of the run")
    p.add_argument("--metrics", metavar="OUT.prom", default=None, help="write the Prometheus text at the end")
    p.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from liveloop.graph.declare import load_graph
    from liveloop.graph.errors import GraphDeclarationError, NodeFailed

    try:
        graph, duration = load_graph(args.graph, trace=bool(args.trace))
    except GraphDeclarationError as exc:
        print(f"liveloop run: {exc}", file=sys.stderr)
        return 2
    try:
        report = asyncio.run(graph.run(duration_s=args.duration or duration))
    except NodeFailed as exc:
        print(f"liveloop run: {exc} (caused by {exc.__cause__!r})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    if args.trace:
        print(f"trace written to {graph.write_trace(args.trace)} (open it at https://ui.perfetto.dev)", file=sys.stderr)
    if args.metrics:
        with open(args.metrics, "w") as f:
            f.write(graph.prometheus_text())
    print(json.dumps(report.to_dict(), indent=2, default=float) if args.json else report.table())
    return 0
