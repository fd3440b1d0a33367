"""The /ws protocol codec: bytes and text in, typed results out, malformed frames named."""

from __future__ import annotations

import json

import numpy as np
import pytest

from liveloop.web.ws_codec import (
    MAX_ERRORS_IN_A_ROW,
    MAX_FRAME_BYTES,
    AudioIn,
    MessageIn,
    ProtocolError,
    WsCodec,
    encode_audio,
    encode_event,
)

MS = 1_000_000


def test_binary_pcm_becomes_a_stamped_16k_frame():
    pcm = (np.sin(np.arange(320) / 5) * 10_000).astype("<i2")
    out = WsCodec().feed(pcm.tobytes(), 1_000 * MS)
    assert isinstance(out, AudioIn)
    assert out.frame.sample_rate == 16_000 and out.frame.samples.dtype == np.float32
    assert np.allclose(out.frame.samples * 32768, pcm)
    assert out.frame.capture_ns == 1_000 * MS - 20 * MS  # 320 samples = 20 ms before arrival


def test_frames_read_late_in_a_burst_keep_their_place_in_the_stream():
    codec = WsCodec()
    pcm = np.zeros(320, "<i2").tobytes()
    stamps = [codec.feed(pcm, (k + 1) * 20 * MS).frame.capture_ns for k in range(10)]  # in real time
    assert stamps == [k * 20 * MS for k in range(10)]
    burst = [codec.feed(pcm, 260 * MS).frame.capture_ns for _ in range(3)]  # frames 10-12, all read at 260 ms
    assert burst == [k * 20 * MS for k in range(10, 13)]  # not stamped with the stall
    # the client paused 300 ms (it does not send silence): a new anchor, not stamps in the past
    after = codec.feed(pcm, 600 * MS).frame.capture_ns
    assert after == 600 * MS - 20 * MS
    assert codec.feed(pcm, 620 * MS).frame.capture_ns == 600 * MS


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (b"", "empty_audio"),
        (b"\x01", "empty_audio"),
        (b"\x01\x02\x03", "odd_audio_length"),
        (b"\x00" * (MAX_FRAME_BYTES + 2), "audio_frame_too_long"),
        ("{not json", "bad_json"),
        ("[1, 2]", "not_an_object"),
        ('{"text": "hi"}', "missing_type"),
        ('{"type": "dance"}', "unknown_type"),
        ('{"type": "text", "text": "  "}', "bad_text"),
        ('{"type": "text"}', "bad_text"),
        ("x" * 70_000, "message_too_long"),
    ],
)
def test_malformed_frames_are_named(frame, code):
    out = WsCodec().feed(frame, 0)
    assert isinstance(out, ProtocolError) and out.code == code and not out.fatal
    assert out.to_json()["type"] == "error" and out.message


def test_wrong_version_is_fatal():
    out = WsCodec().feed(json.dumps({"type": "hello", "version": 99}), 0)
    assert isinstance(out, ProtocolError) and out.fatal and "version 1" in out.message


def test_many_bad_frames_in_a_row_become_fatal_but_good_ones_reset():
    codec = WsCodec()
    for _ in range(MAX_ERRORS_IN_A_ROW - 2):
        assert not codec.feed(b"\x01", 0).fatal
    assert isinstance(codec.feed('{"type": "ping"}', 0), MessageIn)
    for _ in range(MAX_ERRORS_IN_A_ROW - 1):
        assert not codec.feed(b"\x01", 0).fatal
    assert codec.feed(b"\x01", 0).fatal
    assert codec.errors == 2 * MAX_ERRORS_IN_A_ROW - 2


def test_encoders():
    assert json.loads(encode_event({"type": "pong", "t": 1})) == {"type": "pong", "t": 1}
    assert encode_audio(np.array([0.5, -1.5], np.float32)) == np.array([16383, -32767], "<i2").tobytes()
    assert encode_audio(np.array([3], np.int16)) == b"\x03\x00"
