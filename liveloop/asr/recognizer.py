"""The streaming recognizer core: samples in, committed words with timestamps out (sans-I/O).

    samples ─► StreamingLogMel ─► CausalEncoder (blocks of chunk_ms) ─► TextDecoder.append_audio
                                                                      └► CommitPolicy.step ─► words

One `Update` per encoded chunk: the words committed by it (final, with start
and end times in the stream), the partial tail (uncommitted, may change), and
how many tentative tokens the re-check revised. A *segment* is the audio since
the last reset; `end_segment()` (end of utterance, end of stream, or the 30 s
position table running out) decodes what is left to end-of-text, commits all
of it and starts a new segment at the next sample. A segment is also closed
at a pause: when the decoder's text has not changed for `pause_reset_s` of
audio while each chunk ends in end-of-text (a real pause, or a decoder that
stopped after a full stop although speech goes on) or in a loop rule's stop
(the next words would repeat the segment's text); the audio after the last
word is fed again into the next segment, so nothing heard is dropped.

A word is committed when all its tokens are committed and the next token
starts a new word (or the segment ended); trailing punctuation joins the word.
Word times come from the alignment heads' cross-attention, median-filtered and
aligned by dynamic time warping, as in whisper's `find_alignment`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch import nn

from liveloop.asr.commit import CommitConfig, CommitPolicy
from liveloop.asr.decoder import TextDecoder
from liveloop.asr.encoder import FRAMES_PER_S, CausalEncoder
from liveloop.asr.features import SAMPLE_RATE, LogMelConfig, StreamingLogMel
from liveloop.asr.lora import is_streaming_tuned

FRAME_MS = 1000 // FRAMES_PER_S  # 20 ms per encoder frame


@dataclass(frozen=True, slots=True)
class StreamConfig:
    chunk_ms: int = 300  # audio per encoder block (a multiple of 20 ms)
    commit: CommitConfig = field(default_factory=CommitConfig)
    max_segment_s: float = 29.0  # close a segment before whisper's 30 s position table ends
    flush_pad_ms: int = 200  # zeros appended when a segment ends (whisper pads clips with silence)
    ref_floor_log10: float | None = None  # see LogMelConfig
    word_timestamps: bool = True
    # close the segment when the decoder's text has not changed and it keeps ending in end-of-text for this
    # long (a pause, or a decoder stuck after a full stop); the audio after the last word starts the next
    # segment. 0: off; None: for a streaming-tuned model 0.9 s, or 0.6 s under the "eot" commit rule
    # (`default_pause_reset_s`); off for the base model (whose end-of-text at the audio's edge only means
    # "wait": resetting there cut pyannote's call into fragments, WER* 35 → 99 %)
    pause_reset_s: float | None = None
    # vocabulary projection: int8 candidates, the best this many re-scored in fp32 (0: fp32 throughout);
    # see vocab.VocabProjection
    vocab_top_k: int = 32
    # a segment's final decode (all its audio is in): after the first word, end-of-text must beat the
    # runner-up token by this many nats, else the runner-up is taken. The streaming objective taught the
    # model "end-of-text while the next word may be incomplete", and on a rare last word it kept that
    # habit at the segment's end (ARCTIC a0007 lost "superlative degree"). None: 1.5 for a
    # streaming-tuned model, 0 (off) for the base model; see decoder.eot_margin_logp
    final_eot_margin: float | None = None

    def __post_init__(self) -> None:
        if self.chunk_ms < FRAME_MS or self.chunk_ms % FRAME_MS:
            raise ValueError(f"chunk_ms must be a positive multiple of {FRAME_MS}, got {self.chunk_ms}")
        if not 1.0 <= self.max_segment_s <= 30.0:
            raise ValueError(f"max_segment_s must be in [1, 30], got {self.max_segment_s}")
        if self.flush_pad_ms < 0:
            raise ValueError(f"flush_pad_ms must be >= 0, got {self.flush_pad_ms}")
        if self.vocab_top_k < 0:
            raise ValueError(f"vocab_top_k must be >= 0, got {self.vocab_top_k}")
        if self.pause_reset_s is not None and self.pause_reset_s < 0:
            raise ValueError(f"pause_reset_s must be >= 0, got {self.pause_reset_s}")
        if self.final_eot_margin is not None and self.final_eot_margin < 0:
            raise ValueError(f"final_eot_margin must be >= 0, got {self.final_eot_margin}")

    @property
    def block_frames(self) -> int:
        return self.chunk_ms // FRAME_MS


@dataclass(frozen=True, slots=True)
class Word:
    word: str  # with its leading space, as whisper writes it
    start_s: float  # in the stream (seconds since the first sample)
    end_s: float
    tokens: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Update:
    words: tuple[Word, ...]  # newly committed
    partial: str  # the uncommitted tail (may still change)
    revised: int  # tentative tokens the re-check dropped
    audio_end_s: float  # stream time up to which audio was encoded
    final: bool  # the segment ended here


def text_decoder_for(model: nn.Module, tokenizer, vocab_top_k: int = 32) -> TextDecoder:
    """whisper's default suppression (non-speech and special tokens; no blank first), timestamps off.

    End-of-text as a segment's first token is allowed for a streaming-tuned model (its objective answers a cut
    with no finished word by end-of-text, so noise alone writes nothing) and suppressed for the base model,
    as whisper does (it never learned that answer: allowed, it stops on half-heard speech)."""
    suppress = [
        *tokenizer.non_speech_tokens,
        tokenizer.transcribe,
        tokenizer.translate,
        tokenizer.sot,
        tokenizer.sot_prev,
        tokenizer.sot_lm,
        tokenizer.no_speech,
        tokenizer.no_timestamps,
        *range(tokenizer.timestamp_begin, model.dims.n_vocab),
    ]
    begin = [*tokenizer.encode(" ")] + ([] if is_streaming_tuned(model) else [tokenizer.eot])
    n_sot = len(tokenizer.sot_sequence_including_notimestamps)
    return TextDecoder(model, suppress, begin, n_sot=n_sot, vocab_top_k=vocab_top_k)


def get_tokenizer(model: nn.Module):
    from whisper.tokenizer import get_tokenizer as whisper_tokenizer

    multilingual = model.dims.n_vocab >= 51865
    return whisper_tokenizer(multilingual, language="en" if multilingual else None, task="transcribe")


def word_timings(
    tokenizer, align: torch.Tensor, text_tokens: Sequence[int], n_sot: int, medfilt_width: int = 7
) -> list[tuple[str, list[int], float, float]]:
    """(word, tokens, start_s, end_s) per whisper word, from alignment-head attention (heads, T_tok, T_audio)."""
    from whisper.timing import median_filter

    from liveloop.asr.timing import dtw

    if not text_tokens:
        return []
    w = align[:, n_sot - 1 : n_sot + len(text_tokens)]  # rows predicting text_0 … text_n-1, then EOT
    std, mean = torch.std_mean(w, dim=-2, keepdim=True, unbiased=False)
    w = (w - mean) / (std + 1e-8)
    if w.shape[-1] >= medfilt_width:
        w = median_filter(w, medfilt_width)
    text_idx, time_idx = dtw(-w.mean(0).double().numpy())
    words, word_tokens = tokenizer.split_to_word_tokens([*text_tokens, tokenizer.eot])
    bounds = np.pad(np.cumsum([len(t) for t in word_tokens[:-1]]), (1, 0))
    jumps = np.pad(np.diff(text_idx), (1, 0), constant_values=1).astype(bool)
    jump_s = time_idx[jumps] / FRAMES_PER_S
    return [
        (words[i], word_tokens[i], float(jump_s[bounds[i]]), float(jump_s[min(bounds[i + 1], len(jump_s) - 1)]))
        for i in range(len(words) - 1)
    ]


def _merge_punctuation(items: list[tuple[str, list[int], float, float]]) -> list[tuple[str, list[int], float, float]]:
    import string

    out: list[tuple[str, list[int], float, float]] = []
    for word, toks, s, e in items:
        if out and word.strip() and all(c in string.punctuation for c in word.strip()) and not word.startswith(" "):
            pw, pt, ps, pe = out[-1]
            out[-1] = (pw + word, pt + list(toks), ps, pe)
        else:
            out.append((word, list(toks), s, e))
    return out


# for a streaming-tuned model (StreamConfig.pause_reset_s = None). A decoder that stopped while speech goes
# on (a wrong word it cannot continue from) holds every later word until the reset: on the dev set at 300 ms
# with end-of-text commits, 1.5 → 0.9 s took p95 latency 863 → 743 ms at WER 13.2 → 12.7 %; 0.6 s cut
# sentences at their short pauses (people's WER 20.9 → 27.8 %). Those were an earlier adapter's numbers.
DEFAULT_PAUSE_RESET_S = 0.9
# the "eot" rule (everything up to end-of-text is already committed, so a reset only closes the segment on the
# words the model still holds back). With the shipped 32-seed adapter at 300 ms (a reset after two unchanged
# chunks instead of three): p50 236 → 213-222 ms, p95 676 → 597-605 ms (nine runs), WER equal (15.1 %); below two
# chunks (0.3 s) WER rises to 23.6 %. The n-token rules lose WER at 0.6 s (n = 2: 9.9 → 11.3 %; 9.4 → 10.8 % after
# the final decode's fix, docs/asr-training.md), so keep 0.9 s
DEFAULT_PAUSE_RESET_EOT_S = 0.6


def default_pause_reset_s(commit: CommitConfig, streaming_tuned: bool) -> float:
    """The pause that closes a segment when StreamConfig.pause_reset_s is None: off for the base model (its
    end-of-text at the audio's edge only means "wait"), shorter under the end-of-text commit rule."""
    if not streaming_tuned:
        return 0.0
    eot_rule = commit.commit_on_eot and commit.n_recheck == 0 and not commit.min_stable
    return DEFAULT_PAUSE_RESET_EOT_S if eot_rule else DEFAULT_PAUSE_RESET_S


DEFAULT_FINAL_EOT_MARGIN = 1.5  # for a streaming-tuned model (StreamConfig.final_eot_margin = None)


class StreamingRecognizer:
    """Causal streaming Whisper over a contiguous 16 kHz float32 stream (see module docstring)."""

    def __init__(self, model: nn.Module, config: StreamConfig | None = None) -> None:
        self.model = model
        self.config = config or StreamConfig()
        self.tokenizer = get_tokenizer(model)
        self.sot = tuple(self.tokenizer.sot_sequence_including_notimestamps)
        self.mel = StreamingLogMel(LogMelConfig(model.dims.n_mels, self.config.ref_floor_log10))
        self.encoder = CausalEncoder(model, self.config.block_frames)
        self.decoder = text_decoder_for(model, self.tokenizer, self.config.vocab_top_k)
        self.policy = CommitPolicy(self.sot, self.config.commit.resolve_for(is_streaming_tuned(model)))
        self.n_samples = 0  # fed since the start of the stream
        self.seg_start = 0  # first sample of the current segment
        self.n_words_emitted = 0  # words of this segment already committed out
        self.encoder_s = 0.0  # compute spent (process time), for benchmarks
        self.decoder_s = 0.0
        self.tokens_revised = 0
        self.pause_resets = 0
        self._seg_samples: list[np.ndarray] = []  # the segment's audio (re-fed after a pause reset)
        self._last_end_s = 0.0  # stream time of the last committed word's end, as aligned (a pause reset cuts there)
        self._out_end_s = 0.0  # … and as it went out (never before an earlier word's)
        self._text_sig: tuple[int, ...] = ()  # the decoder's text (committed + tentative) …
        self._text_frames = 0  # … and the encoder frame count when it last changed
        self._pause_due = False
        pause_s = self.config.pause_reset_s
        if pause_s is None:
            pause_s = default_pause_reset_s(self.config.commit, is_streaming_tuned(model))
        self.pause_frames = round(pause_s * FRAMES_PER_S)  # encoder frames of unchanged text that close a segment
        margin = self.config.final_eot_margin
        if margin is None:
            margin = DEFAULT_FINAL_EOT_MARGIN if is_streaming_tuned(model) else 0.0
        self.final_eot_margin = margin
        if self.config.word_timestamps:
            from liveloop.asr.timing import warm_up

            warm_up()  # compile (or load) the DTW before the first word, not during it

    def set_chunk_ms(self, chunk_ms: int) -> None:
        """Switch the chunk size; it takes effect at the next block boundary (the encoder is block-causal)."""
        self.config = replace(self.config, chunk_ms=chunk_ms)  # validated by StreamConfig
        self.encoder.block_frames = self.config.block_frames

    # -- input ----------------------------------------------------------------
    def feed(self, samples: np.ndarray) -> list[Update]:
        """Append samples (1-D float32, 16 kHz); one Update per chunk that became complete."""
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        out: list[Update] = []
        max_samples = int(self.config.max_segment_s * SAMPLE_RATE)
        later: list[np.ndarray] = []  # input held back while a pause reset's audio is fed again
        while samples.size or later:  # split at the segment limit
            if not samples.size:
                samples = later.pop()
            room = max_samples - (self.n_samples - self.seg_start)
            head, samples = samples[:room], samples[room:]
            self.n_samples += head.size
            if self.pause_frames:  # kept only to be fed again after a pause reset
                self._seg_samples.append(head)
            t0 = time.process_time()
            feats = self.encoder.feed_mel(self.mel.feed(head))
            self.encoder_s += time.process_time() - t0
            bf = self.config.block_frames
            for i in range(0, feats.shape[0], bf):
                out.append(self._decode(feats[i : i + bf], final=False))
            if self.n_samples - self.seg_start >= max_samples or self.decoder.context_left < 64:
                out.extend(self.end_segment())
            elif self._pause_due:
                closed, rest = self._pause_reset()
                out.extend(closed)
                if samples.size:
                    later.append(samples)
                samples = rest  # a loop, not a recursion: one reset can follow another
        return out

    @property
    def has_audio(self) -> bool:
        """Is a segment open (audio that `end_segment` would decode)?"""
        return self.n_samples > self.seg_start

    def _pause_reset(self) -> tuple[list[Update], np.ndarray]:
        """Close the segment; return its last updates and the audio after its last committed word, which the
        caller feeds into a new segment (the stream's sample count is rewound to it)."""
        audio = np.concatenate(self._seg_samples) if self._seg_samples else np.zeros(0, np.float32)
        seg0 = self.seg_start
        # the text stopped changing at _text_frames; its last word ended before that (the model writes a word
        # once it has heard its end, within about a chunk), and word timestamps run early on long segments
        text_frames = self._text_frames
        quiet_from = seg0 + max(0, text_frames - self.config.block_frames) * SAMPLE_RATE // FRAMES_PER_S
        out = self.end_segment()
        self.pause_resets += 1
        cut = min(max(round(self._last_end_s * SAMPLE_RATE), quiet_from, seg0), self.n_samples)
        if cut <= seg0:
            # no progress: the words' timestamps sat at the segment's start and the text was written in its first
            # block. Re-feeding all of it would write the same words again, for ever; cut where the text stopped
            # changing (every committed word had been heard by then).
            cut = min(seg0 + max(1, text_frames) * SAMPLE_RATE // FRAMES_PER_S, self.n_samples)
        rest = audio[cut - seg0 :]
        self.n_samples -= rest.size  # the new segment starts at the cut and takes the rest again
        self.seg_start = self.n_samples
        return out, rest

    def end_segment(self, speech: bool = False) -> list[Update]:
        """Decode what is left of the segment to end-of-text, commit all of it, start a new segment.

        ``speech``: the caller knows the segment holds speech (a voice-activity turn), so a segment with no
        word yet is not closed empty — its first token may not be end-of-text. The streaming-tuned model
        answers "no finished word" with end-of-text, and on a lone short word ("Stop") it can keep doing
        so to the end; whisper's own rule (no end-of-text first) then gets its best reading.
        """
        if self.n_samples == self.seg_start and not self.decoder.cross:
            return []
        t0 = time.process_time()
        pad = self.config.flush_pad_ms * SAMPLE_RATE // 1000
        # the rest of the audio and the pad can complete whole blocks before the partial last one: the decoder
        # hears all of them (it once got only the partial block, and missed up to a chunk of the segment's end)
        feats_last = torch.cat([self.encoder.feed_mel(self.mel.flush(pad)), self.encoder.flush()])
        self.encoder_s += time.process_time() - t0
        self.decoder.block_eot_first = speech
        self.decoder.eot_margin = self.final_eot_margin
        try:
            upd = [self._decode(feats_last, final=True)] if (feats_last.shape[0] or self.decoder.cross) else []
        finally:
            self.decoder.block_eot_first = False
            self.decoder.eot_margin = 0.0
        self.mel.reset()
        self.encoder.reset()
        self.decoder.reset()
        self.policy.reset()
        self.seg_start = self.n_samples
        self.n_words_emitted = 0
        self._seg_samples = []
        self._text_sig, self._text_frames, self._pause_due = (), 0, False
        return upd

    # -- one chunk ------------------------------------------------------------
    def _decode(self, feats: torch.Tensor, final: bool) -> Update:
        t0 = time.process_time()
        self.decoder.append_audio(feats)
        budget = 2 + -(-self.config.chunk_ms * 8 // 1000)  # ≈ 8 tokens per second of new audio
        if final:
            budget = max(1, min(self.decoder.context_left - len(self.policy.committed) - 8, 224))
        res = self.policy.step(self.decoder, final=final, max_new_tokens=budget)
        self.tokens_revised += res.revised
        # an end-of-text the policy trusts closes the last word too (see CommitConfig.commit_on_eot)
        cfg = self.policy.config
        tail_done = (res.eot and cfg.commit_on_eot) or (bool(cfg.min_stable) and res.end_confirmed)
        words = self._new_words(final or (tail_done and not self.policy.tentative))
        if self.pause_frames and not final:
            sig = (*self.policy.committed, *self.policy.tentative)
            # a chunk that ends in end-of-text, or in a loop rule's stop (the next words would repeat this
            # segment's text: "Hello, hello. Hello, hello" on pyannote's call held the decoder there for the
            # rest of the segment), counts towards the pause; a new segment starts without that history
            if sig != self._text_sig or not (res.eot or res.looped):
                self._text_sig, self._text_frames = sig, self.decoder.n_frames
            elif sig and self.decoder.n_frames - self._text_frames >= self.pause_frames:
                self._pause_due = True
        self.decoder_s += time.process_time() - t0
        partial_tokens = self._open_tokens() + self.policy.tentative
        seg_s = self.seg_start / SAMPLE_RATE
        return Update(
            words=words,
            partial=self.tokenizer.decode([t for t in partial_tokens if t < self.tokenizer.eot]),
            revised=res.revised,
            audio_end_s=seg_s + self.decoder.n_frames / FRAMES_PER_S,
            final=final,
        )

    def _split(self) -> list[tuple[str, list[int]]]:
        words, toks = self.tokenizer.split_to_word_tokens(list(self.policy.committed))
        merged = _merge_punctuation([(w, t, 0.0, 0.0) for w, t in zip(words, toks, strict=True)])
        return [(w, t) for w, t, _, _ in merged]

    def _n_complete(self, words: list[tuple[str, list[int]]], final: bool) -> int:
        if final or not words:
            return len(words)
        tent = self.policy.tentative
        nxt = self.tokenizer.decode(tent[:1]) if tent else ""
        return len(words) if nxt.startswith(" ") else len(words) - 1

    def _open_tokens(self) -> list[int]:
        words = self._split()
        return [t for _, toks in words[self.n_words_emitted :] for t in toks]

    def _new_words(self, final: bool) -> tuple[Word, ...]:
        words = self._split()
        n_done = self._n_complete(words, final)
        if n_done <= self.n_words_emitted:
            return ()
        seg_s = self.seg_start / SAMPLE_RATE
        times: list[tuple[float, float]]
        if self.config.word_timestamps:
            text = list(self.policy.committed) + list(self.policy.tentative)
            if self.decoder.tokens != [*self.sot, *text]:
                self.decoder.begin([*self.sot, *text], k=1)  # (rarely) re-run so every position is cached
            align = self.decoder.alignment()
            timed = _merge_punctuation(word_timings(self.tokenizer, align, text, len(self.sot)))
            times = [(s, e) for _, _, s, e in timed]
        else:
            times = []
        new = []
        # a word's times come from the alignment of the text so far; a later alignment (more audio) can put a
        # word before one already committed (the base model on long calls, by up to a second): words come out
        # in order, so their times do too
        prev_end = self._out_end_s
        for i in range(self.n_words_emitted, n_done):
            s, e = times[i] if i < len(times) else (self.decoder.n_frames / FRAMES_PER_S,) * 2
            self._last_end_s = seg_s + e
            start = max(seg_s + s, prev_end)
            prev_end = max(seg_s + e, start)
            new.append(Word(words[i][0], start, prev_end, tuple(words[i][1])))
        self.n_words_emitted = n_done
        self._out_end_s = prev_end
        return tuple(new)

    @property
    def committed_text(self) -> str:
        return self.tokenizer.decode(list(self.policy.committed))
