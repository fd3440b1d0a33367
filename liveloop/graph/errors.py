"""Errors raised by the graph runtime.

The hierarchy, by whose fault it is::

    LiveloopError
    ├── GraphDeclarationError      the graph as declared cannot run (names the key and the fix)
    │   └── GraphValidationError   ports, types or cycles that do not fit together
    ├── NodeFailed                 a node raised; carries the node's name, chained `from` the cause
    ├── BudgetExceeded             a deadline scope ran out; carries the budget and the reason
    └── ChannelClosed              a put or get on a channel whose graph has stopped

Every message names the node, port, key or client at fault.
"""

from __future__ import annotations


class LiveloopError(Exception):
    """Base of every error liveloop raises on purpose."""


class GraphDeclarationError(LiveloopError):
    """A graph declaration (Python builder or TOML) is wrong; the message names the key."""


class GraphValidationError(GraphDeclarationError):
    """Ports, types, policies or cycles do not fit together."""


class NodeFailed(LiveloopError):
    """A node raised while processing; `node` names it, `__cause__` is the original error."""

    def __init__(self, node: str, message: str) -> None:
        super().__init__(f"node {node!r} failed: {message}")
        self.node = node


class BudgetExceeded(LiveloopError):
    """A deadline ran out; `budget` names it and `reason` says where the time went."""

    def __init__(self, budget: str, reason: str) -> None:
        super().__init__(f"budget {budget!r} exceeded: {reason}")
        self.budget = budget
        self.reason = reason


class ChannelClosed(LiveloopError):
    """The channel's graph has stopped; nothing more can be put or got."""
