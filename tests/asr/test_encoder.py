from __future__ import annotations

import pytest
import torch
import whisper

from liveloop.asr.encoder import CausalEncoder, block_causal_mask, encode_parallel
from liveloop.asr.features import StreamingLogMel


@pytest.fixture(scope="module")
def mel(arctic_clip) -> torch.Tensor:
    return whisper.log_mel_spectrogram(torch.from_numpy(arctic_clip), padding=480000)[:, :3000]  # (80, 3000)


def test_full_attention_equals_whisper_encoder(model, mel):
    with torch.no_grad():
        ref = model.encoder(mel[None])
        ours = encode_parallel(model, mel[None], block_frames=None)
    torch.testing.assert_close(ours, ref, atol=2e-4, rtol=1e-4)


def test_one_block_prefix_matches_whisper_frames(model, mel):
    """A single block over all 1500 frames is whisper's encoder; streamed in one call it matches too."""
    enc = CausalEncoder(model, block_frames=1500)
    out = torch.cat([enc.feed_mel(mel), enc.flush()])
    with torch.no_grad():
        ref = model.encoder(mel[None])[0]
    assert out.shape == ref.shape
    torch.testing.assert_close(out, ref, atol=2e-4, rtol=1e-4)


@pytest.mark.parametrize("block_frames,mel_step", [(15, 7), (5, 30), (50, 100)])
def test_streaming_cache_equals_block_causal_parallel(model, arctic_clip, block_frames, mel_step):
    """Encoding block by block with the KV cache equals the masked parallel pass: only new audio is encoded."""
    mel = StreamingLogMel().feed(arctic_clip[: 16000 * 2])  # causal features, 2 s
    enc = CausalEncoder(model, block_frames)
    outs = []
    for i in range(0, mel.shape[1], mel_step):
        new = enc.feed_mel(mel[:, i : i + mel_step])
        assert new.shape[0] % block_frames == 0  # whole blocks only
        outs.append(new)
    outs.append(enc.flush())
    stream = torch.cat(outs)
    with torch.no_grad():
        par = encode_parallel(model, mel[None], block_frames)[0]
    assert stream.shape == par.shape == ((mel.shape[1] + 1) // 2, 384)
    torch.testing.assert_close(stream, par, atol=2e-4, rtol=1e-4)
    assert enc.cache[0][0].shape[2] == stream.shape[0]  # per-layer cache holds every frame once


def test_mask_and_limits(model):
    m = block_causal_mask(6, 3)
    assert m[0].tolist() == [True, True, True, False, False, False]
    assert m[5].all()
    with pytest.raises(ValueError, match="block_frames must be >= 1"):
        CausalEncoder(model, 0)
    with pytest.raises(ValueError, match="at most 1500 encoder frames"):
        encode_parallel(model, torch.zeros(1, 80, 3002), 15)
    enc = CausalEncoder(model, 15)
    assert enc.flush().shape == (0, 384)  # nothing fed: nothing out
