"""The real decoder: against whisper's greedy decode, its batched beam against single sequences; the final
decode's end-of-text margin."""

from __future__ import annotations

import numpy as np
import torch
import whisper

from liveloop.asr.commit import CommitPolicy
from liveloop.asr.decoder import eot_margin_logp
from liveloop.asr.recognizer import get_tokenizer, text_decoder_for


def test_real_decoder_beam_steps_equal_single_sequence_decoding(model, arctic_clip):
    """The batched beam cache (reordered by parent each step) gives the log-probs of decoding each
    hypothesis alone."""
    tok = get_tokenizer(model)
    mel = whisper.log_mel_spectrogram(torch.from_numpy(arctic_clip), padding=480000)[:, :3000]
    with torch.no_grad():
        feats = model.encoder(mel[None])[0][:160]
    dec = text_decoder_for(model, tok, vocab_top_k=0)
    dec.append_audio(feats)
    prefix = [*tok.sot_sequence_including_notimestamps, *tok.encode(" He turned")]
    dec.begin(prefix, k=1)
    dec.beam_start(len(prefix))
    a, b, c = tok.encode(" sharply")[0], tok.encode(" sharp")[0], tok.encode(",")[0]
    rows1 = dec.beam_step([0, 0], [a, b])
    rows2 = dec.beam_step([1, 0, 0], [c, c, b])  # parents reordered and repeated
    for row, seq in [
        (rows1[0], [a]),
        (rows1[1], [b]),
        (rows2[0], [b, c]),
        (rows2[1], [a, c]),
        (rows2[2], [a, b]),
    ]:
        single, _ = dec.begin([*prefix, *seq], k=1)
        assert np.allclose(row, single[0], atol=1e-4)
    assert dec.tokens == [*prefix, a, b]  # the single-sequence cache is begin's own


def test_real_decoder_final_step_equals_whisper_greedy(model, arctic_clip):
    """Full audio, full attention, final step: the policy + TextDecoder reproduce whisper.decode exactly."""
    tok = get_tokenizer(model)
    mel = whisper.log_mel_spectrogram(torch.from_numpy(arctic_clip), padding=480000)[:, :3000]
    ref = whisper.decode(model, mel, whisper.DecodingOptions(language="en", without_timestamps=True, fp16=False))
    with torch.no_grad():
        feats = model.encoder(mel[None])[0]
    dec = text_decoder_for(model, tok)
    dec.append_audio(feats)
    pol = CommitPolicy(tuple(tok.sot_sequence_including_notimestamps))
    r = pol.step(dec, final=True, max_new_tokens=100)
    assert r.eot
    assert pol.committed == ref.tokens
    assert (
        tok.decode(pol.committed).strip() == ref.text.strip() == "He turned sharply and faced Gregson across the table."
    )


def test_eot_margin_drops_a_narrow_end_of_text_only():
    eot = 3
    narrow = torch.tensor([0.1, 0.2, 0.1, 0.6]).log()  # end-of-text beats token 1 by log 3 ≈ 1.1 nats
    wide = torch.tensor([0.01, 0.02, 0.01, 0.96]).log()  # by log 48 ≈ 3.9 nats
    other = torch.tensor([0.1, 0.5, 0.1, 0.3]).log()  # end-of-text is not the argmax
    out = eot_margin_logp(torch.stack([narrow, wide, other]), eot, margin=1.5)
    assert out[0, eot] == -np.inf and int(out[0].argmax()) == 1
    torch.testing.assert_close(out[0].exp().sum(), torch.tensor(1.0))  # renormalised
    torch.testing.assert_close(out[1:], torch.stack([wide, other]))
    rows = torch.stack([wide, other])
    assert eot_margin_logp(rows, eot, margin=1.5) is rows  # nothing narrow: returned as it is
