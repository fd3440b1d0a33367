"""The vision node with a stand-in pipeline, on a virtual clock (the real tracker: tests/vision, tests/e2e)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from liveloop.apps.see import VisionNode
from liveloop.graph import Latest
from liveloop.testing import NodeHarness

MS = 1_000_000


@dataclass
class Config:
    max_fps: float = 10.0


@dataclass
class Seen:
    tracks: list[Any]
    events: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Track:
    track: str


class Pipeline:
    config = Config()

    def __init__(self) -> None:
        self.fed: list[tuple[Any, int]] = []
        self.latencies: list[int | None] = []

    def feed(self, frame: Any, capture_ns: int, now_ns: int, latency_ns: int | None = None) -> Seen:
        self.fed.append((frame, capture_ns))
        self.latencies.append(latency_ns)
        return Seen([Track(f"person@{frame}")], [{"type": "tracks", "tracks": [frame]}])


async def test_the_newest_frame_wins_and_the_rate_is_capped():
    pipe = Pipeline()
    node = VisionNode(pipe, offload=False)
    async with NodeHarness(node, budgets={("frame", "tracks"): 33}) as h:
        await h.feed("frame", "f0", at_s=0.0)
        for k in range(1, 5):  # four frames while the node waits out its 100 ms period: only the last is kept
            await h.feed("frame", f"f{k}", at_s=0.01 * k)
        await h.idle()
    assert [f for f, _ in pipe.fed] == ["f0", "f4"]
    assert pipe.latencies == [None, None]  # nothing budgeted downstream of the node: the pipeline measures its own
    assert h.data("tracks") == [["person@f0"], ["person@f4"]]
    assert h.data("events")[0]["type"] == "tracks"
    assert h.report is not None
    (b,) = h.report.budgets()
    assert b["count"] == 2
    assert isinstance(node.inputs["frame"].policy, Latest)
