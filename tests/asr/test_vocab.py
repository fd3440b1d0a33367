"""The vocabulary projection: int8 candidates re-scored in fp32, on a real decode's hidden states."""

from __future__ import annotations

import pytest
import torch
import whisper

from liveloop.asr.recognizer import get_tokenizer, text_decoder_for
from liveloop.asr.vocab import VocabProjection


def test_vocab_projection_int8_candidates_rescored_exactly(model, arctic_clip):
    """Hidden states of a real decode: the best candidates carry fp32 logits, the rest are within int8 error."""
    tok = get_tokenizer(model)
    mel = whisper.log_mel_spectrogram(torch.from_numpy(arctic_clip), padding=480000)[:, :3000]
    with torch.no_grad():
        feats = model.encoder(mel[None])[0]
    dec = text_decoder_for(model, tok, vocab_top_k=0)
    dec.append_audio(feats)
    sot = list(tok.sot_sequence_including_notimestamps)
    ids = tok.encode(" He turned sharply and faced Gregson across the table.")
    with torch.no_grad():
        hidden = dec._forward([*sot, *ids], 0)  # (T, C): every position of the sentence
        weight = model.decoder.token_embedding.weight
        exact = hidden @ weight.T
        fast = VocabProjection(weight, top_k=32)(hidden.clone())
    assert torch.equal(fast.argmax(-1), exact.argmax(-1))
    top = exact.topk(16, dim=-1).indices  # the int8 pick of 32 holds the true best 16 …
    assert torch.allclose(fast.gather(1, top), exact.gather(1, top), atol=1e-4)  # … re-scored in fp32
    err = (fast - exact).abs()
    assert err.mean() < 0.5 and err.max() < 2.0  # the tail keeps int8 logits (7-bit activations, per call)
    lp_fast, lp_exact = fast.log_softmax(-1), exact.log_softmax(-1)
    best = exact.argmax(-1, keepdim=True)
    lp_err = (lp_fast.gather(1, best) - lp_exact.gather(1, best)).abs()  # what the commit rule reads:
    assert lp_err.median() < 1e-3 and lp_err.max() < 0.05  # off only by the tail's share of the normaliser
    assert VocabProjection(weight, top_k=0).exact
    with pytest.raises(ValueError, match="top_k"):
        VocabProjection(weight, top_k=-1)
