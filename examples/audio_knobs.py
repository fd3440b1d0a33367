"""Example nodes for `liveloop run examples/audio_knobs.toml`.

    mic (16 kHz sine sweep, 20 ms frames at real-time pace)
      └─► pitch (autocorrelation pitch tracker with two knob modes) ─► meter (a slow display)

The pitch tracker's `full` mode autocorrelates 4096 samples at 16 kHz; its
`fast` mode works on a 4× decimated copy. The runtime picks `full` while it
fits the 4 ms budget and falls back to `fast` when it does not. The meter stalls
now and then, so its `drop_oldest(2)` input drops frames, and the table shows it.
"""

from __future__ import annotations

import numpy as np

from liveloop.graph import NS_PER_S, DropOldest, Event, Input, Mode, Node, NodeContext, Output

SAMPLE_RATE_HZ = 16_000


class PitchCore:
    """Sans-I/O: feed 20 ms frames, get a pitch estimate (Hz) per frame."""

    def __init__(self, window: int = 4096) -> None:
        self.buf = np.zeros(window, dtype=np.float32)

    def feed(self, frame: np.ndarray, decimate: int) -> float:
        n = len(frame)
        self.buf = np.roll(self.buf, -n)
        self.buf[-n:] = frame
        x = self.buf[::decimate]
        rate = SAMPLE_RATE_HZ / decimate
        ac = np.correlate(x, x, mode="full")[len(x) - 1 :]
        lo, hi = int(rate / 1000), int(rate / 60)  # search 60 Hz … 1 kHz
        lag = lo + int(np.argmax(ac[lo:hi]))
        return rate / lag


class SineSource(Node):
    """A sine sweep with a little noise, emitted at real-time pace, stamped with capture time."""

    audio = Output(np.ndarray, "float32 mono frames at 16 kHz")

    def __init__(
        self,
        name: str | None = None,
        *,
        frame_ms: float = 20,
        seconds: float = 5,
        f0_hz: float = 110,
        f1_hz: float = 440,
    ) -> None:
        super().__init__(name)
        if frame_ms <= 0 or seconds <= 0:
            raise ValueError(f"frame_ms and seconds must be > 0, got {frame_ms}, {seconds}")
        self.frame = int(SAMPLE_RATE_HZ * frame_ms / 1000)
        self.seconds, self.f0, self.f1 = seconds, f0_hz, f1_hz

    async def run(self, ctx: NodeContext) -> None:
        rng = np.random.default_rng(0)
        total = int(self.seconds * SAMPLE_RATE_HZ)
        start = ctx.now_ns()
        phase = 0.0
        for i0 in range(0, total, self.frame):
            t = (i0 + np.arange(self.frame)) / SAMPLE_RATE_HZ
            f = self.f0 + (self.f1 - self.f0) * t / self.seconds
            ph = phase + 2 * np.pi * np.cumsum(f) / SAMPLE_RATE_HZ
            phase = float(ph[-1])
            x = (0.5 * np.sin(ph) + 0.01 * rng.standard_normal(self.frame)).astype(np.float32)
            captured = start + (i0 + self.frame) * NS_PER_S // SAMPLE_RATE_HZ
            await ctx.clock.sleep_until(captured)  # the frame exists once its last sample is captured
            await ctx.emit("audio", x, origin_ns=captured)


class Pitch(Node):
    audio = Input(np.ndarray)
    pitch = Output(float, "Hz")
    modes = (
        Mode("full", quality=1.0, cost_hint_ms=3.0, params=(("decimate", 1),)),
        Mode("fast", quality=0.5, cost_hint_ms=0.3, params=(("decimate", 4),)),
    )

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.core = PitchCore()

    async def process(self, event: Event, ctx: NodeContext) -> None:
        assert ctx.mode is not None
        await ctx.emit("pitch", self.core.feed(event.data, ctx.mode.param("decimate")), parent=event)


class Meter(Node):
    """A display that stalls for `stall_ms` every `stall_every` updates."""

    pitch = Input(float, DropOldest(2))

    def __init__(self, name: str | None = None, *, stall_every: int = 25, stall_ms: float = 60) -> None:
        super().__init__(name)
        self.n, self.stall_every, self.stall_ms = 0, stall_every, stall_ms
        self.last_hz = float("nan")

    async def process(self, event: Event, ctx: NodeContext) -> None:
        self.n += 1
        self.last_hz = event.data
        if self.stall_every and self.n % self.stall_every == 0:
            await ctx.clock.sleep(self.stall_ms / 1e3)
