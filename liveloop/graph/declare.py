"""Declaring a graph in TOML.

    [graph]
    name = "audio_knobs"          # optional
    duration_s = 5.0              # optional: stop after this long (else run until the sources end)

    [nodes.mic]
    class = "audio_knobs:SineSource"    # module:Class; the TOML file's folder is importable
    params = { rate_hz = 16000, frame_ms = 20, seconds = 5 }
    budget_ms = 5                       # optional node budget (service time)
    restart = { on_error = "restart", max_restarts = 3, backoff_ms = 10 }   # optional

    [[edges]]
    from = "mic.audio"
    to = "energy.audio"
    policy = "drop_oldest(4)"      # optional: block(n) | latest | drop_oldest(n); default: the input's own

    [[budgets]]
    name = "mic_to_sink"           # optional
    from = "mic.audio"
    to = "sink.level"
    ms = 30
    kind = "data"                  # optional: data | interrupt | flush

Every unknown key, missing port, type mismatch and lossless cycle is rejected
with a `GraphDeclarationError` that names the key and the fix.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import tomllib
from collections.abc import Collection
from pathlib import Path
from typing import Any

from liveloop.graph.channel import parse_policy
from liveloop.graph.clock import Clock
from liveloop.graph.errors import GraphDeclarationError, GraphValidationError
from liveloop.graph.event import EventKind
from liveloop.graph.graph import Graph
from liveloop.graph.node import Node, OnError, RestartPolicy

TOP_KEYS = {"graph", "nodes", "edges", "budgets"}
GRAPH_KEYS = {"name", "duration_s"}
NODE_KEYS = {"class", "params", "budget_ms", "restart"}
EDGE_KEYS = {"from", "to", "policy"}
BUDGET_KEYS = {"name", "from", "to", "ms", "kind"}
RESTART_KEYS = {"on_error", "max_restarts", "backoff_ms", "backoff_factor"}


def _check_keys(where: str, table: Any, allowed: set[str], required: Collection[str] = ()) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise GraphDeclarationError(f"{where} must be a table, got {type(table).__name__}")
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise GraphDeclarationError(f"{where}: unknown key {unknown[0]!r}; allowed keys are {sorted(allowed)}")
    missing = sorted(set(required) - set(table))
    if missing:
        raise GraphDeclarationError(f"{where}: missing required key {missing[0]!r}")
    return table


def load_class(spec: str, where: str) -> type[Node]:
    mod_name, colon, cls_name = spec.partition(":")
    if not colon:
        mod_name, _, cls_name = spec.rpartition(".")
    if not mod_name or not cls_name:
        raise GraphDeclarationError(f"{where}: class {spec!r} must be 'module:Class' (or 'module.Class')")
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as exc:
        raise GraphDeclarationError(f"{where}: cannot import module {mod_name!r} for class {spec!r}: {exc}") from exc
    cls = getattr(mod, cls_name, None)
    if cls is None:
        raise GraphDeclarationError(f"{where}: module {mod_name!r} has no class {cls_name!r}")
    if not (inspect.isclass(cls) and issubclass(cls, Node)):
        raise GraphDeclarationError(f"{where}: {spec!r} is not a liveloop Node subclass")
    return cls


def graph_from_dict(
    doc: dict[str, Any], *, clock: Clock | None = None, trace: bool = False, source: str = "<toml>"
) -> tuple[Graph, float | None]:
    """Build a graph from a parsed TOML document; returns it and its `duration_s` (or None)."""
    _check_keys(source, doc, TOP_KEYS)
    gconf = _check_keys(f"{source} [graph]", doc.get("graph", {}), GRAPH_KEYS)
    duration = gconf.get("duration_s")
    if duration is not None and not (isinstance(duration, int | float) and duration > 0):
        raise GraphDeclarationError(f"[graph] duration_s must be a number > 0, got {duration!r}")
    g = Graph(str(gconf.get("name", Path(source).stem)), clock=clock, trace=trace)
    nodes = doc.get("nodes", {})
    if not isinstance(nodes, dict) or not nodes:
        raise GraphDeclarationError(f"{source}: [nodes] must declare at least one node as [nodes.<name>]")
    for name, conf in nodes.items():
        where = f"[nodes.{name}]"
        _check_keys(where, conf, NODE_KEYS, {"class"})
        cls = load_class(conf["class"], where)
        params = conf.get("params", {})
        if not isinstance(params, dict):
            raise GraphDeclarationError(f"{where} params must be a table, got {type(params).__name__}")
        _check_params(cls, params, where)
        try:
            node = cls(name=name, **params)
        except (TypeError, ValueError) as exc:
            raise GraphDeclarationError(f"{where}: {cls.__name__}({params}) rejected its parameters: {exc}") from exc
        if "restart" in conf:
            r = _check_keys(f"{where} restart", conf["restart"], RESTART_KEYS)
            try:
                restart = RestartPolicy(**{**r, "on_error": OnError(r.get("on_error", "stop_graph"))})
            except ValueError as exc:
                raise GraphDeclarationError(f"{where} restart: {exc}") from exc
            node.restart = restart  # type: ignore[misc]
        g.add(node, name)
        if "budget_ms" in conf:
            g.node_budget(name, ms=float(conf["budget_ms"]))
    for i, e in enumerate(doc.get("edges", [])):
        where = f"[[edges]] #{i + 1}"
        _check_keys(where, e, EDGE_KEYS, {"from", "to"})
        try:
            policy = parse_policy(e["policy"]) if "policy" in e else None
        except ValueError as exc:
            raise GraphDeclarationError(f"{where} policy: {exc}") from exc
        try:
            g.connect(e["from"], e["to"], policy=policy)
        except GraphValidationError as exc:
            raise GraphValidationError(f"{where}: {exc}") from None
    for i, b in enumerate(doc.get("budgets", [])):
        where = f"[[budgets]] #{i + 1}"
        _check_keys(where, b, BUDGET_KEYS, {"from", "to", "ms"})
        try:
            kind = EventKind[str(b.get("kind", "data")).upper()]
        except KeyError:
            raise GraphDeclarationError(f"{where} kind must be data, interrupt or flush, got {b['kind']!r}") from None
        try:
            g.budget(b["from"], b["to"], ms=float(b["ms"]), name=b.get("name"), kind=kind)
        except (GraphValidationError, ValueError) as exc:
            raise GraphValidationError(f"{where}: {exc}") from None
    g.validate()
    return g, float(duration) if duration is not None else None


def _check_params(cls: type[Node], params: dict[str, Any], where: str) -> None:
    sig = inspect.signature(cls.__init__)
    if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        return
    accepted = {n for n in sig.parameters if n not in ("self", "name")}
    for key in params:
        if key not in accepted:
            raise GraphDeclarationError(
                f"{where} params: unknown parameter {key!r} for {cls.__name__}; it takes {sorted(accepted)}"
            )


def load_graph(path: str | Path, *, clock: Clock | None = None, trace: bool = False) -> tuple[Graph, float | None]:
    """Read a TOML graph file. Its folder goes on `sys.path` so node classes can live beside it."""
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise GraphDeclarationError(f"graph file {str(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise GraphDeclarationError(f"{path}: not valid TOML: {exc}") from exc
    folder = str(path.resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return graph_from_dict(doc, clock=clock, trace=trace, source=str(path))
