"""Chrome / Perfetto trace of a run (the JSON "Trace Event Format").

Each node is a thread row; each processed event a complete ("X") slice with
its sequence number and knob; control events are instant ("i") marks. The
recorder keeps the newest `capacity` records, so tracing a long run stays
bounded. Open the file at https://ui.perfetto.dev or chrome://tracing.
"""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path
from typing import Any


class TraceRecorder:
    def __init__(self, process_name: str = "liveloop", capacity: int = 200_000) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.process_name = process_name
        self._records: deque[tuple[str, str, str, int, int, int, str | None]] = deque(maxlen=capacity)
        self._tids: dict[str, int] = {}

    def _tid(self, node: str) -> int:
        tid = self._tids.get(node)
        if tid is None:
            tid = self._tids[node] = len(self._tids) + 1
        return tid

    def complete(self, node: str, port: str, t_ns: int, dur_ns: int, seq: int, mode: str | None) -> None:
        self._records.append(("X", node, port, t_ns, dur_ns, seq, mode))

    def instant(self, node: str, name: str, t_ns: int, seq: int) -> None:
        self._records.append(("i", node, name, t_ns, 0, seq, None))

    def __len__(self) -> int:
        return len(self._records)

    def to_dict(self) -> dict[str, Any]:
        events: list[dict[str, Any]] = [
            {"name": "process_name", "ph": "M", "ts": 0, "pid": 1, "tid": 0, "args": {"name": self.process_name}}
        ]
        for ph, node, name, t_ns, dur_ns, seq, mode in self._records:
            tid = self._tid(node)
            ev: dict[str, Any] = {
                "name": name or node,
                "cat": "node",
                "ph": ph,
                "ts": t_ns / 1e3,
                "pid": 1,
                "tid": tid,
                "args": {"seq": seq},
            }
            if ph == "X":
                ev["dur"] = dur_ns / 1e3
                if mode is not None:
                    ev["args"]["mode"] = mode
            else:
                ev["s"] = "t"
            events.append(ev)
        for node, tid in self._tids.items():
            events.append({"name": "thread_name", "ph": "M", "ts": 0, "pid": 1, "tid": tid, "args": {"name": node}})
        return {"traceEvents": events, "displayTimeUnit": "ms"}

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict()))
        return path
