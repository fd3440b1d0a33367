"""liveloop.graph — the timed event graph runtime.

Events (`Event`, `EventKind`) travel on bounded edges (`Block`, `Latest`,
`DropOldest`) between nodes (`Node` with `Input`/`Output` ports and `Mode`
knobs) of a `Graph`, on one injectable `Clock`. Budgets, goodput, Prometheus
text and Perfetto traces come with every graph. See DESIGN.md §3.
"""

from liveloop.graph.budget import CostModel, PathBudget, pick_mode
from liveloop.graph.channel import Block, Channel, DropOldest, Latest, Policy, parse_policy
from liveloop.graph.clock import NS_PER_MS, NS_PER_S, Clock, MonotonicClock, VirtualClock
from liveloop.graph.errors import (
    BudgetExceeded,
    ChannelClosed,
    GraphDeclarationError,
    GraphValidationError,
    LiveloopError,
    NodeFailed,
)
from liveloop.graph.event import Event, EventKind, Hop, oldest
from liveloop.graph.graph import Edge, Graph
from liveloop.graph.metrics import LatencyStats, prometheus_text
from liveloop.graph.node import Input, Mode, Node, OnError, Output, RestartPolicy
from liveloop.graph.nodes import Collect, Inlet, Map, Outlet, Subgraph
from liveloop.graph.report import RunReport
from liveloop.graph.runtime import NodeContext

__all__ = [
    "NS_PER_MS",
    "NS_PER_S",
    "Block",
    "BudgetExceeded",
    "Channel",
    "ChannelClosed",
    "Clock",
    "Collect",
    "CostModel",
    "DropOldest",
    "Edge",
    "Event",
    "EventKind",
    "Graph",
    "GraphDeclarationError",
    "GraphValidationError",
    "Hop",
    "Inlet",
    "Input",
    "LatencyStats",
    "Latest",
    "LiveloopError",
    "Map",
    "Mode",
    "MonotonicClock",
    "Node",
    "NodeContext",
    "NodeFailed",
    "OnError",
    "Outlet",
    "Output",
    "PathBudget",
    "Policy",
    "RestartPolicy",
    "RunReport",
    "Subgraph",
    "VirtualClock",
    "oldest",
    "parse_policy",
    "pick_mode",
    "prometheus_text",
]
