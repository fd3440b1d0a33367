"""Graph nodes: `Tracker` (frames → tracks) and `Predictor` (tracks → tracks at use time + trajectories).

    camera/rtc ──frames (latest)──► vision.Tracker ──tracks (latest)──► vision.Predictor ──tracks──► consumers
                                                                                       └─trajectories─► policy

Frames are ``(H, W, 3) uint8`` NumPy arrays (BGR by default; say ``channel_order=
ChannelOrder.RGB`` in `TrackerConfig` for RGB) or ``av.VideoFrame``s; the event's
``origin_ns`` is the capture time. The frame edge is latest-wins: when the
tracker is busy, older frames are dropped (and counted by the runtime), never
queued. A bad frame (wrong type, shape, dtype, size) is dropped and counted in
``Tracker.bad_frames`` with the reason in ``last_error``; the graph keeps going.

Knob: "detect every k frames" (ApproxDet). The runtime picks the best `Mode`
whose measured cost fits the time left on the frame's budget (33 ms per frame at
30 fps by default in DESIGN.md): k = 1 (detector on every frame), 3 or 6 (KCF
between detections).

The cores are CPU-bound (5–20 ms a frame); they run in a worker thread
(``asyncio.to_thread``) so the event loop keeps serving audio meanwhile. One
frame is in flight per node at a time (the runtime awaits `process`), so the
cores are never used from two threads at once.

`Predictor` moves each track to ``now + ctx.downstream_latency_ns("tracks")``:
the measured latency from its output to the end of the budgeted paths it feeds.

`VideoFileSource` plays a video file into a graph at its frame rate (on the
graph's clock), for demos and tests.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from liveloop.graph import Input, Latest, Mode, Node, NodeContext, Output
from liveloop.graph.event import Event
from liveloop.vision.predictor import PredictorConfig, PredictorCore
from liveloop.vision.tracker import TrackerConfig, TrackerCore
from liveloop.vision.types import BadFrame, PredictionBatch, TrackBatch

log = logging.getLogger(__name__)

TRACKER_MODES = (
    Mode("detect_every_1", quality=1.0, cost_hint_ms=10.0, params=(("detect_every", 1),)),
    Mode("detect_every_3", quality=0.7, cost_hint_ms=6.0, params=(("detect_every", 3),)),
    Mode("detect_every_6", quality=0.5, cost_hint_ms=4.0, params=(("detect_every", 6),)),
)


class Tracker(Node):
    """Detection + SORT tracking with an appearance tracker between detections."""

    frames = Input(object, Latest(), doc="np.ndarray (H, W, 3) uint8 or av.VideoFrame; origin_ns = capture time")
    tracks = Output(TrackBatch, doc="the tracks of each processed frame")
    modes = TRACKER_MODES

    def __init__(self, config: TrackerConfig | None = None, name: str | None = None, *, offload: bool = True) -> None:
        super().__init__(name or "tracker")
        self.config = config or TrackerConfig()
        self.offload = offload
        self.core: TrackerCore | None = None
        self.bad_frames = 0
        self.last_error: str | None = None

    async def setup(self, ctx: NodeContext) -> None:
        # loading the detector reads model files: keep it off the event loop
        self.core = await asyncio.to_thread(TrackerCore, self.config)

    async def process(self, event: Event, ctx: NodeContext) -> None:
        core = self.core
        if core is None:
            raise RuntimeError(f"node {self.name!r}: process() before setup()")
        k = int(ctx.mode.param("detect_every", self.config.detect_every)) if ctx.mode else self.config.detect_every
        try:  # the core checks and converts the frame (as_bgr), in the worker thread too
            if self.offload:
                tracks = await asyncio.to_thread(core.feed, event.data, event.origin_ns, k)
            else:
                tracks = core.feed(event.data, event.origin_ns, k)
        except BadFrame as exc:
            self.bad_frames += 1
            self.last_error = f"node {self.name!r} dropped frame seq {event.seq} from {event.source!r}: {exc}"
            log.warning(self.last_error)
            return
        size = core.frame_size
        assert size is not None  # set by a successful feed
        await ctx.emit("tracks", TrackBatch(event.origin_ns, size, tuple(tracks), k), parent=event)


class Predictor(Node):
    """PVT++: tracks moved to the time they are used, plus 1 s trajectory forecasts."""

    tracks_in = Input(TrackBatch, Latest(), doc="from vision.Tracker")
    tracks = Output(PredictionBatch, doc="tracks predicted to now + downstream latency")
    trajectories = Output(PredictionBatch, doc="the same batch, for consumers of the forecasts (policy)")

    def __init__(self, config: PredictorConfig | None = None, name: str | None = None) -> None:
        super().__init__(name or "predictor")
        self.config = config or PredictorConfig()
        self.core: PredictorCore | None = None
        self.extra_latency_ns = 0  # added to the measured downstream latency (e.g. a known network hop)

    async def setup(self, ctx: NodeContext) -> None:
        self.core = PredictorCore(self.config)

    async def process(self, event: Event, ctx: NodeContext) -> None:
        core = self.core
        if core is None:
            raise RuntimeError(f"node {self.name!r}: process() before setup()")
        batch = event.data
        if not isinstance(batch, TrackBatch):
            raise TypeError(f"node {self.name!r} takes TrackBatch on 'tracks_in', got {type(batch).__name__}")
        latency = max(ctx.downstream_latency_ns("tracks"), ctx.downstream_latency_ns("trajectories"))
        now = ctx.now_ns()
        predicted = core.feed(list(batch.tracks), now, latency + self.extra_latency_ns)
        out = PredictionBatch(batch.captured_ns, now + latency + self.extra_latency_ns, batch.frame_size,
                              tuple(predicted))  # fmt: skip
        await ctx.emit("tracks", out, parent=event)
        await ctx.emit("trajectories", out, parent=event)


class VideoFileSource(Node):
    """Plays a video file (any format PyAV reads) as frames at its own rate on the graph's clock."""

    frames = Output(object, doc="av.VideoFrame; origin_ns = the time it was 'captured'")

    def __init__(
        self, path: str | Path, name: str | None = None, *, max_frames: int = 0, realtime: bool = True
    ) -> None:
        super().__init__(name or "video")
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"video file {self.path} does not exist")
        self.max_frames = max_frames
        self.realtime = realtime
        self.sent = 0

    async def run(self, ctx: NodeContext) -> None:
        import av

        with av.open(str(self.path)) as container:
            stream = container.streams.video[0]
            fps = float(stream.average_rate or 30)
            t0 = ctx.now_ns()
            for i, frame in enumerate(container.decode(video=0)):
                if self.max_frames and i >= self.max_frames:
                    break
                due = t0 + int(i * 1e9 / fps)
                if self.realtime:
                    await ctx.clock.sleep_until(due)
                await ctx.emit("frames", frame, origin_ns=due if self.realtime else ctx.now_ns())
                self.sent += 1
