"""Packet loss injected at the transport, for tests and benchmarks.

`inject_loss(pc, rate)` wraps the DTLS transport(s) of a peer connection so that
a fraction of outgoing RTP packets is dropped before it reaches the socket (RTCP
and the data channel are left alone). This is the network losing packets, seen
from the receiver: gaps in sequence numbers, NACKs, retransmissions that may be
lost again, keyframe requests.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class LossStats:
    rate: float
    sent: int = 0
    dropped: int = 0

    @property
    def observed(self) -> float:
        return self.dropped / self.sent if self.sent else 0.0


def inject_loss(pc: Any, rate: float, *, seed: int = 0) -> LossStats:
    """Drop `rate` (0..1) of the RTP packets `pc` sends. Call after the transports exist (after accept/offer)."""
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"loss rate must be in [0, 1), got {rate}")
    stats = LossStats(rate)
    rng = random.Random(seed)
    seen: set[int] = set()
    for t in pc.getTransceivers():
        transport = t.sender.transport
        if transport is None or id(transport) in seen:
            continue
        seen.add(id(transport))
        original = transport._send_rtp

        async def lossy(data: bytes, _orig: Any = original) -> None:
            if len(data) > 1 and 192 <= data[1] <= 223:  # RTCP (RFC 5761 demux): never dropped
                await _orig(data)
                return
            stats.sent += 1
            if rng.random() < rate:
                stats.dropped += 1
                return
            await _orig(data)

        transport._send_rtp = lossy
    return stats
