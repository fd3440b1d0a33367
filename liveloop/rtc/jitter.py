"""Incoming audio without aiortc's 80 ms hold.

aiortc (1.16) gives every audio receiver a `JitterBuffer(capacity=16, prefetch=4)`:
a packet's frame is handed to the decoder only once four later frames have
arrived, so the user's voice reaches the agent 80 ms after it reached the
server, and every capture time mapped from RTP inherits the delay (the server
would see that speech ended 80 ms later than it did, and under-report
voice-to-voice by as much).

An Opus packet is a whole frame, so `PacketAudioBuffer` hands each packet on as
it arrives; a packet older than the newest one seen (late, duplicated) is
dropped and counted. It keeps no packets at all. `use_packet_audio_buffers(pc)`
puts one into each audio receiver of a peer connection (the attribute is
aiortc's private one; when it is missing, nothing is changed and False says so).
"""

from __future__ import annotations

import logging
from typing import Any

from aiortc.jitterbuffer import JitterFrame
from aiortc.rtp import RtpPacket
from aiortc.utils import uint16_add

log = logging.getLogger(__name__)
_ATTR = "_RTCRtpReceiver__jitter_buffer"  # aiortc.rtcrtpreceiver.RTCRtpReceiver's private jitter buffer


class PacketAudioBuffer:
    """Each audio packet out at once (sans-I/O): ``add(packet) -> (pli, frame)`` like aiortc's JitterBuffer."""

    capacity = 1

    def __init__(self) -> None:
        self._last_seq: int | None = None
        self.late = 0

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        seq = packet.sequence_number
        if self._last_seq is not None:
            ahead = uint16_add(seq, -self._last_seq)  # 1 for the next packet; a wrap-around is fine
            if ahead == 0 or ahead >= 0x8000:  # a duplicate, or older than what went out already
                self.late += 1
                return False, None
        self._last_seq = seq
        return False, JitterFrame(data=getattr(packet, "_data", b""), timestamp=packet.timestamp)


def use_packet_audio_buffers(pc: Any) -> bool:
    """Give each audio receiver of `pc` a `PacketAudioBuffer` (call after setRemoteDescription)."""
    changed = False
    for t in pc.getTransceivers():
        if t.kind != "audio":
            continue
        receiver = t.receiver
        if not hasattr(receiver, _ATTR):
            log.warning("aiortc's receiver has no %s: incoming audio keeps aiortc's jitter buffer", _ATTR)
            return False
        setattr(receiver, _ATTR, PacketAudioBuffer())
        changed = True
    return changed
