"""The seeing branch of a session graph: camera frames → tracks (thin node adapter).

    video (latest) ──frame──► vision ──tracks (latest)──► agent      ("what do you see?")
                                   └──events──► egress            (tracks with predicted paths, regions)

`VisionNode` runs `liveloop.apps.vision.VisionPipeline.feed` (blocking: a worker
thread) on the newest frame, at most `max_fps` times a second; frames that
arrive meanwhile replace each other on its `latest` input, so it never falls
behind the camera.
"""

from __future__ import annotations

import asyncio
from typing import Any

from liveloop.graph import Event, Input, Latest, Node, NodeContext, Output
from liveloop.graph.clock import NS_PER_S


class VisionNode(Node):
    frame = Input(object, Latest(), doc="camera frames (av.VideoFrame or BGR ndarray); the newest wins")
    tracks = Output(list, doc="the tracks of the frame (PredictedTrack), for the responder")
    events = Output(dict, doc="client events: tracks, regions")

    def __init__(self, pipeline: Any, *, offload: bool = True, name: str = "vision") -> None:
        super().__init__(name)
        self.pipeline = pipeline
        self.offload = offload  # the tracker in a worker thread (tests on a virtual clock run it inline)
        self.period_ns = round(NS_PER_S / pipeline.config.max_fps)

    async def process(self, event: Event, ctx: NodeContext) -> None:
        t0 = ctx.now_ns()
        feed = self.pipeline.feed
        # PVT++: aim the predicted boxes at when they will be used — the graph's measured latency from here
        # to the end of the longest budgeted path they feed (None when nothing downstream is measured yet:
        # the pipeline then uses its own measured use time)
        latency_ns = max(ctx.downstream_latency_ns("events"), ctx.downstream_latency_ns("tracks")) or None
        seen = (
            await asyncio.to_thread(feed, event.data, event.origin_ns, t0, latency_ns)
            if self.offload
            else feed(event.data, event.origin_ns, t0, latency_ns)
        )
        await ctx.emit("tracks", [p.track for p in seen.tracks], parent=event)
        for ev in seen.events:
            await ctx.emit("events", ev, parent=event)
        await ctx.clock.sleep_until(t0 + self.period_ns)  # at most max_fps; newer frames wait on `latest`
