"""Doors into the graph: silence fill (no event loop) and the never-waiting offer."""

from __future__ import annotations

import numpy as np
import pytest

from liveloop.apps.ingress import GapFiller, Ingress, MicIngress
from liveloop.graph import Block, DropOldest, EventKind, VirtualClock
from liveloop.rtc.audio import PcmFrame

MS = 1_000_000


def frame(start_ms: int, n: int = 320) -> PcmFrame:
    return PcmFrame(np.ones(n, np.float32), 16_000, start_ms * MS)


def test_a_gap_is_filled_with_silence_stamped_where_the_audio_stopped():
    g = GapFiller(gap_ms=100)
    assert g.feed(frame(0)) is not None  # 0–20 ms
    assert g.idle(80 * MS) is None  # 60 ms without audio: not a gap yet
    fill = g.idle(150 * MS)
    assert fill is not None and fill.capture_ns == 20 * MS and len(fill.samples) == 130 * 16
    assert not fill.samples.any() and g.filled_ms == 130.0
    assert g.feed(frame(100)) is None  # late audio that the silence already covers
    assert g.feed(frame(150)) is not None and g.late_frames == 1
    with pytest.raises(ValueError, match="gap_ms must be > 0"):
        GapFiller(gap_ms=0)


def test_offer_never_waits_and_counts_what_its_policy_drops():
    clock = VirtualClock()
    full = Ingress("typed", policy=Block(2), clock=clock)
    assert full.offer("a") and full.offer("b")
    assert not full.offer("c")  # block: refused, counted
    assert full.buffer.stats.drops == 1 and full.depth == 2
    lossy = Ingress("mic", policy=DropOldest(2), clock=clock)
    for x in "abc":
        assert lossy.offer(x)
    assert lossy.buffer.stats.drops == 1 and lossy.depth == 2
    assert lossy.control(EventKind.INTERRUPT)


def test_audio_waiting_in_the_door_is_not_a_gap():
    clock = VirtualClock()
    mic = MicIngress("mic", policy=DropOldest(8), clock=clock)
    assert mic.gaps.feed(frame(0)) is not None  # delivered: 0–20 ms
    mic.offer(frame(20), origin_ns=20 * MS)  # arrived, not delivered yet (the loop was busy)
    assert mic.fill_due(200 * MS) is None  # filling now would make the waiting voice late, then dropped
    assert mic._inbox.get_nowait() is not None  # the door delivers it
    fill = mic.fill_due(200 * MS)
    assert fill is not None and fill.capture_ns == 20 * MS


def test_audio_waiting_in_the_door_counts_in_the_graphs_lag():
    from liveloop.graph import Collect, Graph

    clock = VirtualClock(start_ns=1_000 * MS)
    g = Graph("g", clock=clock)
    mic = MicIngress("mic", policy=DropOldest(8), clock=clock)
    g.add(mic)
    g.add(Collect(), "sink")
    g.connect("mic.out", "sink.inp")
    g.build()  # not running: nothing is delivered
    assert g.lag_ns() == 0
    mic.offer(frame(400), origin_ns=400 * MS)
    mic.offer(frame(420), origin_ns=420 * MS)
    assert g.lag_ns() == 600 * MS  # the oldest waiting frame was captured at 400 ms
    assert g.lag_ns(["sink"]) == 0
    mic.close()  # end of stream waits in the same lane: not data, no age
    assert g.lag_ns(now_ns=1_100 * MS) == 700 * MS
