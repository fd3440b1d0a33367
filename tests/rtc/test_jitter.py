"""Incoming audio packets go to the decoder as they arrive (no event loop)."""

from __future__ import annotations

from aiortc import RTCPeerConnection
from aiortc.rtp import RtpPacket

from liveloop.rtc.jitter import PacketAudioBuffer, use_packet_audio_buffers


def packet(seq: int, ts: int) -> RtpPacket:
    p = RtpPacket(payload_type=111, sequence_number=seq, timestamp=ts)
    p._data = b"opus%d" % seq  # type: ignore[attr-defined]  # what aiortc's depayloader leaves on it
    return p


def test_every_packet_is_a_frame_at_once_and_late_ones_are_dropped():
    buf = PacketAudioBuffer()
    for seq, ts in [(65534, 0), (65535, 960), (0, 1920)]:  # across the sequence-number wrap
        pli, frame = buf.add(packet(seq, ts))
        assert not pli and frame is not None and frame.timestamp == ts and frame.data == b"opus%d" % seq
    assert buf.add(packet(65535, 960)) == (False, None)  # late
    assert buf.add(packet(0, 1920)) == (False, None)  # duplicate
    assert buf.late == 2
    assert buf.add(packet(5, 6720))[1] is not None  # a gap (loss) is not waited for


async def test_the_peer_connections_audio_receivers_get_it():
    pc = RTCPeerConnection()
    try:
        pc.addTransceiver("audio", direction="recvonly")
        pc.addTransceiver("video", direction="recvonly")
        assert use_packet_audio_buffers(pc)
        (audio,) = [t for t in pc.getTransceivers() if t.kind == "audio"]
        assert isinstance(audio.receiver._RTCRtpReceiver__jitter_buffer, PacketAudioBuffer)
    finally:
        await pc.close()
