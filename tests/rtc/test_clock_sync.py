"""RTP timestamps → graph clock: unwrapping and the pure offset estimator (no event loop)."""

from __future__ import annotations

import pytest

from liveloop.rtc.clock_sync import OffsetConfig, OffsetEstimator, RtpUnwrapper

MS = 1_000_000


def test_unwrap_crosses_the_32_bit_wrap_and_tolerates_reorder():
    u = RtpUnwrapper()
    near = (1 << 32) - 960
    assert u.feed(near) == near
    assert u.feed(0) == 1 << 32  # wrapped forward
    assert u.feed(near + 480) == near + 480  # a late packet from before the wrap
    assert u.feed(960) == (1 << 32) + 960


@pytest.mark.parametrize("bad", [-1, 1 << 32, 1 << 40])
def test_unwrap_rejects_out_of_range(bad):
    with pytest.raises(ValueError, match="RTP timestamp must be"):
        RtpUnwrapper().feed(bad)


def test_offset_is_capture_time_plus_the_smallest_transit():
    est = OffsetEstimator(OffsetConfig(clock_rate_hz=48_000))
    start_rtp = 123_456
    capture0 = 1_000 * MS
    transit = [30, 12, 45, 10, 22, 60, 10, 15]  # ms of network + jitter delay per packet
    out = []
    for i, d in enumerate(transit):
        rtp = start_rtp + i * 960  # 20 ms per packet
        out.append(est.feed(rtp, capture0 + i * 20 * MS + d * MS))
    # after the 10 ms packet, every estimate is the true capture time + 10 ms: jitter removed
    for i in range(3, len(transit)):
        assert out[i] == capture0 + i * 20 * MS + 10 * MS
    assert est.offset_ns == capture0 + 10 * MS


def test_offset_window_follows_a_clock_step():
    est = OffsetEstimator(OffsetConfig(clock_rate_hz=1000, window_s=1.0))
    for i in range(50):  # 50 ms apart, 5 ms transit
        est.feed(i * 50, i * 50 * MS + 5 * MS)
    # the path gets 40 ms slower for good: after the window the estimate follows
    for i in range(50, 100):
        cap = est.feed(i * 50, i * 50 * MS + 45 * MS)
    assert cap == 99 * 50 * MS + 45 * MS


def test_offset_config_is_validated():
    with pytest.raises(ValueError, match="clock_rate_hz must be > 0"):
        OffsetConfig(clock_rate_hz=0)
    with pytest.raises(ValueError, match="window_s must be > 0"):
        OffsetConfig(window_s=0)
