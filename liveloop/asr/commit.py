"""The streaming commit rule: CarelessWhisper's, over a growing audio prefix (sans-I/O: no torch).

`CommitPolicy` is a plain class over any `LogitSource` (`decoder.TextDecoder`;
tests drive it with scripted log-probs). On each chunk:

    prefix = SOT … + committed tokens        tentative = the last n (= 2) emitted tokens
    1. re-check: score prefix + tentative on the new audio; keep tentative[i] while
       its log-prob did not drop or it is still the argmax; truncate at the first that fails
    2. greedy (or, with `beam` > 1, a beam search) from there until end-of-text or
       a stop rule: the next token's cross-attention sits within `edge_frames` of
       the audio edge, or jumps back in time (a loop) — both for the base model
       only by default —, or it would repeat an n-gram, or `max_new_tokens` per
       chunk, or its probability is under `min_prob`
    3. commit all but the last n tokens (all of them when the stream ends;
       with `commit_on_eot`, also when greedy decoding reached end-of-text —
       a model fine-tuned on the streaming objective writes only words that
       ended before the edge, so that end-of-text should say the tail is
       complete. It trades accuracy for latency: a word misheard on its
       first chunk is final at once (and, before the recognizer's pause
       reset, the decoder conditioned on it could stop for the rest of the
       segment). On the dev set at 300 ms, shipped adapter: WER 15.1 vs
       9.4 %, latency p50 / p95 116 / 319 vs 567 / 988 ms. Off by default;
       `CommitConfig.from_spec("eot")`).
       With `hold_below = p > 0`: a token under probability p on the latest
       audio is not committed, nor anything after it, until a re-check finds
       it at p or more (or, with `hold_checks = k`, it survived k re-checks).
       Unsure words — a homophone before its context, a word heard from its
       first frames — wait, sure ones go at once. On the dev set at 300 ms,
       "eot+p50k1": WER 11.3 % at p50 / p95 145 / 522 ms (plain "eot": 15.1 %).
       With `min_stable = k > 0` instead: commit each tentative token once it
       survived k re-checks on new audio (stability in time rather than n
       tokens of right context, which for a model that writes only ended
       words means waiting for the *next* words to end); the last word of a
       pause is complete when end-of-text comes again after the same text
       (`StepResult.end_confirmed`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

DEFAULT_MAX_BACK_FRAMES = 25  # the jump-back loop rule for the base model (CommitConfig.max_back_frames = None)
DEFAULT_EDGE_FRAMES = 2  # the audio-edge stop rule for the base model (CommitConfig.edge_frames = None)


@dataclass(frozen=True, slots=True)
class CommitConfig:
    n_recheck: int = 2  # CarelessWhisper's n: tokens kept tentative and re-checked on new audio
    max_new_tokens: int = 12  # greedy steps per chunk
    # a token attending within this many frames of the audio edge stops the chunk (wait for more audio). None:
    # 2 for the base model, off (0) for a streaming-tuned one (resolved by the recognizer, `resolve_for`): the
    # tuned model writes only words that ended before the edge and stops with end-of-text itself, so the rule
    # only delayed its words by a chunk (dev set at 300 ms, n = 2: WER 9.4 % either way, latency p50 / p95
    # 722 / 1131 → 567 / 988 ms; end-of-text commits 224 / 618 → 116 / 319 ms, WER 15.1 % either way)
    edge_frames: int | None = None
    min_prob: float = 0.0  # stop below this probability (0: off)
    # stop when attention jumps back more than this many frames (a loop starting; 0: off). None: 25 for the
    # base model, off for a streaming-tuned one (resolved by the recognizer, `resolve_for`): the tuned model's
    # alignment heads jump back within a segment without looping, and each false stop held its words back
    # until a pause reset (on the dev set at 300 ms, end-of-text commits: p95 latency 1182 → 863 ms, WER equal)
    max_back_frames: int | None = None
    no_repeat_ngram: int = 4  # stop before repeating an n-gram of this segment (0: off)
    max_token_run: int = 2  # stop before a token's (run + 1)-th consecutive repeat (0: off)
    # commit the whole tail when greedy decoding ends in end-of-text (lower latency, a little more WER: docstring)
    commit_on_eot: bool = False
    # > 0: commit a tentative token once it survived this many re-checks on new audio, instead of
    # waiting for n_recheck tokens after it (see the docstring; meant for a streaming-tuned model)
    min_stable: int = 0
    # beam width (1: greedy). End-of-text ends a hypothesis only where it is that hypothesis's best token, as in
    # greedy decoding: the streaming-tuned model gives end-of-text a large share at every word boundary, and a
    # beam that may end anywhere keeps the short readings (see `_beam_tail`). It runs in every streaming step
    # when the stop rules that need each token's attention are off (edge, jump-back, min_prob: the resolved
    # defaults for a streaming-tuned model); with them on (the base model), only a segment's final decode
    beam: int = 1
    # > 0: a tentative token whose probability (on the latest audio) is under this is not committed before the
    # segment's end, and neither is anything after it; it is re-checked on each new chunk like any tentative
    # token, and commits once it reaches the bar (or survived `hold_checks` re-checks, when that is > 0)
    hold_below: float = 0.0
    hold_checks: int = 0

    @classmethod
    def from_spec(cls, spec: str) -> CommitConfig:
        """A commit rule by name: "N" (keep the last N tokens tentative: CarelessWhisper's n, default 2), "eot"
        (commit everything when greedy decoding ends in end-of-text: the lowest latency, n = 0), "N+eot" (both),
        "sK" (commit a token once it survived K re-checks); then optionally "+pPP" (hold a token under PP %
        probability, and what follows it, until it reaches that or, with "kK", survived K re-checks: `hold_below`)
        and "+beamB" (beam search of width B, `beam`), e.g. "2+beam3", "eot+p50k1"."""
        m = re.fullmatch(
            r"(?:(\d+)(\+eot)?|(eot)|s(\d+))(?:\+p(\d\d?)(?:k(\d+))?)?(?:\+beam([1-9]\d*))?", spec.strip().lower()
        )
        if m is None:
            raise ValueError(
                f"commit rule {spec!r}: expected N, eot, N+eot or sK, optionally +pPP[kK] and +beamB "
                "(e.g. 2, eot, 1+eot, s1, eot+p50k1, 2+beam3)"
            )
        n, plus_eot, eot, k, hold, hold_k, beam = m.groups()
        extra: dict[str, float | int] = {"beam": int(beam)} if beam is not None else {}
        if hold is not None:
            extra |= {"hold_below": int(hold) / 100, "hold_checks": int(hold_k or 0)}
        if eot:
            return cls(n_recheck=0, commit_on_eot=True, **extra)
        if k is not None:
            return cls(min_stable=int(k), **extra)
        return cls(n_recheck=int(n), commit_on_eot=bool(plus_eot), **extra)

    def resolve_for(self, streaming_tuned: bool) -> CommitConfig:
        """The config with its model-dependent defaults (None) filled in."""
        back, edge = self.max_back_frames, self.edge_frames
        return replace(
            self,
            max_back_frames=(0 if streaming_tuned else DEFAULT_MAX_BACK_FRAMES) if back is None else back,
            edge_frames=(0 if streaming_tuned else DEFAULT_EDGE_FRAMES) if edge is None else edge,
        )

    @property
    def edge(self) -> int:
        """The edge rule's frames: `edge_frames`, or the base model's default while it is unresolved (None)."""
        return DEFAULT_EDGE_FRAMES if self.edge_frames is None else self.edge_frames

    def __post_init__(self) -> None:
        if self.n_recheck < 0:
            raise ValueError(f"n_recheck must be >= 0, got {self.n_recheck}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if (self.edge_frames or 0) < 0:
            raise ValueError(f"edge_frames must be >= 0, got {self.edge_frames}")
        if self.beam < 1:
            raise ValueError(f"beam must be >= 1, got {self.beam}")
        if self.min_stable < 0:
            raise ValueError(f"min_stable must be >= 0, got {self.min_stable}")
        if (self.max_back_frames or 0) < 0 or self.no_repeat_ngram < 0 or self.max_token_run < 0:
            raise ValueError("max_back_frames, no_repeat_ngram and max_token_run must be >= 0")
        if not 0.0 <= self.min_prob < 1.0:
            raise ValueError(f"min_prob must be in [0, 1), got {self.min_prob}")
        if not 0.0 <= self.hold_below < 1.0 or self.hold_checks < 0:
            raise ValueError(
                f"hold_below must be in [0, 1) and hold_checks >= 0, got {self.hold_below}, {self.hold_checks}"
            )


class LogitSource(Protocol):
    """What the commit rule needs from a decoder (a scripted one in tests)."""

    eot: int

    def begin(self, tokens: Sequence[int], k: int) -> tuple[np.ndarray, np.ndarray]:
        """Run `tokens`; return log-probs (k, V) at the last k positions and each token's attended frame."""
        ...

    def extend(self, token: int) -> tuple[np.ndarray, int]:
        """Append one token; return the next log-probs (V,) and the frame this token attends to."""
        ...

    def truncate(self, n_tokens: int) -> None:
        """Forget every token after the first `n_tokens`."""
        ...

    def beam_start(self, n_prefix: int) -> None:
        """Start a beam over the first `n_prefix` tokens of the last `begin` (one hypothesis: that prefix)."""
        ...

    def beam_step(self, parents: Sequence[int], tokens: Sequence[int]) -> np.ndarray:
        """Hypothesis b is the previous step's hypothesis `parents[b]` plus `tokens[b]`; return each one's
        next log-probs (B, V). The single-sequence cache of `begin`/`extend` is left as it was."""
        ...

    @property
    def n_frames(self) -> int: ...


@dataclass(slots=True)
class StepResult:
    committed: list[int]  # tokens committed by this step (final)
    tentative: list[int]  # the uncommitted tail after this step
    revised: int  # tentative tokens dropped by the re-check
    eot: bool  # greedy decoding reached end-of-text
    end_confirmed: bool = False  # end-of-text again right after an unchanged text: the last word has ended
    looped: bool = False  # decoding stopped because the next token would repeat text (a loop rule, not the edge)


@dataclass(slots=True)
class CommitPolicy:
    """CarelessWhisper's streaming decoding rule (see module docstring)."""

    sot: tuple[int, ...]
    config: CommitConfig = field(default_factory=CommitConfig)
    committed: list[int] = field(default_factory=list)
    tentative: list[int] = field(default_factory=list)
    tentative_logp: list[float] = field(default_factory=list)
    tentative_kept: list[int] = field(default_factory=list)  # re-checks each tentative token survived
    _eot_before: bool = False  # the previous step ended in end-of-text

    def reset(self) -> None:
        self.committed.clear()
        self.tentative.clear()
        self.tentative_logp.clear()
        self.tentative_kept.clear()
        self._eot_before = False

    def step(self, src: LogitSource, final: bool = False, max_new_tokens: int | None = None) -> StepResult:
        """Re-check the tentative tail on the new audio, extend greedily, commit all but the last n."""
        cfg = self.config
        prefix = [*self.sot, *self.committed]
        seq = prefix + self.tentative
        logp, frames = src.begin(seq, k=len(self.tentative) + 1)  # (n_tent + 1, V), (len(seq),)
        keep = 0
        for i, tok in enumerate(self.tentative):
            row = logp[i]
            if row[tok] >= self.tentative_logp[i] or int(row.argmax()) == tok:
                self.tentative_logp[i] = float(row[tok])
                self.tentative_kept[i] += 1
                keep += 1
            else:
                break
        revised = len(self.tentative) - keep
        if revised:
            del self.tentative[keep:], self.tentative_logp[keep:], self.tentative_kept[keep:]
            src.truncate(len(prefix) + keep)
        n_seq = len(prefix) + keep
        nxt, nxt_frame = logp[keep], int(frames[n_seq - 1])
        seen = frames[len(self.sot) - 1 : n_seq - 1]
        last_frame = int(seen.max()) if len(seen) else -1
        budget = max_new_tokens or cfg.max_new_tokens
        if cfg.beam > 1 and (final or self.beam_streams):
            toks, lps, eot, looped = self._beam_tail(src, n_seq, nxt, budget)
        else:
            toks, lps, eot, looped = self._greedy_tail(src, final, nxt, nxt_frame, last_frame, budget)
        self.tentative += toks
        self.tentative_logp += lps
        self.tentative_kept += [0] * len(toks)
        end_confirmed = eot and not revised and len(self.tentative) == keep and self._eot_before
        self._eot_before = eot
        whole = final or (eot and cfg.commit_on_eot)
        if whole:
            n_commit = len(self.tentative)
        elif cfg.min_stable:
            n_commit = 0
            while n_commit < len(self.tentative) and self.tentative_kept[n_commit] >= cfg.min_stable:
                n_commit += 1
        else:
            n_commit = max(0, len(self.tentative) - cfg.n_recheck)
        if cfg.hold_below > 0 and not final:
            floor = float(np.log(cfg.hold_below))
            for i in range(n_commit):
                sure = self.tentative_logp[i] >= floor
                if not sure and not (cfg.hold_checks and self.tentative_kept[i] >= cfg.hold_checks):
                    n_commit = i
                    break
        newly = self.tentative[:n_commit]
        self.committed.extend(newly)
        del self.tentative[:n_commit], self.tentative_logp[:n_commit], self.tentative_kept[:n_commit]
        return StepResult(
            committed=newly,
            tentative=list(self.tentative),
            revised=revised,
            eot=eot,
            end_confirmed=end_confirmed,
            looped=looped,
        )

    @property
    def beam_streams(self) -> bool:
        """Does the beam run in streaming steps too? Only without the stop rules that read each token's
        attention or probability (the beam has neither per hypothesis)."""
        cfg = self.config
        return not (cfg.edge or cfg.max_back_frames or cfg.min_prob)

    def _greedy_tail(
        self, src: LogitSource, final: bool, nxt: np.ndarray, nxt_frame: int, last_frame: int, budget: int
    ) -> tuple[list[int], list[float], bool, bool]:
        """Greedy from the cached sequence until end-of-text or a stop rule; returns the new tokens, their
        log-probs, and whether it ended in end-of-text or at a loop rule."""
        toks: list[int] = []
        lps: list[float] = []
        for _ in range(budget):
            tok = int(nxt.argmax())
            if tok == src.eot:
                return toks, lps, True, False
            stop = self._stop(src, final, tok, float(nxt[tok]), nxt_frame, last_frame, pending=toks)
            if stop:
                return toks, lps, False, stop == "loop"
            toks.append(tok)
            lps.append(float(nxt[tok]))
            last_frame = max(last_frame, nxt_frame)
            nxt, nxt_frame = src.extend(tok)  # nxt_frame: where the *next* token attends
        return toks, lps, False, False

    def _beam_tail(
        self, src: LogitSource, n_seq: int, first: np.ndarray, budget: int
    ) -> tuple[list[int], list[float], bool, bool]:
        """Beam search from the first `n_seq` tokens; returns the best continuation's tokens,
        their log-probs, and whether it ended in end-of-text or at a loop rule.

        A hypothesis ends where its best token is end-of-text (scored with that log-prob), or where its next
        token would trip a loop rule (scored with that token's log-prob: the cost of stopping there, as greedy
        decoding stops), or at the token budget. As in whisper's beam search, the candidates of all hypotheses
        are taken best first: an ending one joins the ended, the others fill the beam up to `beam`; the
        search stops once `beam` have ended, and the ended are ranked by mean log-prob per token
        (whisper's default length normalisation).
        End-of-text that is not a hypothesis's best token is not a candidate: the streaming-tuned model gives
        it a large share at every word boundary (it learned "the next word may be unfinished"), and with it
        as a candidate the beam ended sentences after a few words (dev set, 5 s chunks: 39 % WER, greedy 4.7 %).
        """
        width = self.config.beam
        done: list[tuple[float, list[int], list[float], str]] = []  # (score, tokens, log-probs, why it ended)
        live: list[tuple[float, list[int], list[float]]] = [(0.0, [], [])]  # (sum of log-probs, tokens, log-probs)
        rows = first[None]
        src.beam_start(n_seq)
        base = [*self.committed, *self.tentative]
        for _ in range(budget):
            cands: list[tuple[float, int, int, str]] = []  # (sum of log-probs, parent, token, "" or why it ends)
            for h, (total, toks, _lps) in enumerate(live):
                row = rows[h]
                order = np.argpartition(-row, min(width, row.size - 1))[: width + 1]
                order = order[np.argsort(-row[order])]
                if int(order[0]) == src.eot:  # where greedy decoding would stop, this hypothesis ends
                    cands.append((total + float(row[src.eot]), h, src.eot, "eot"))
                    continue
                for tok in (int(t) for t in order if int(t) != src.eot):
                    why = "loop" if self._loop_stop([*base, *toks], tok) else ""
                    cands.append((total + float(row[tok]), h, tok, why))
            # as whisper's beam: best first, an ending candidate ends its hypothesis, the rest fill the beam
            cands.sort(key=lambda c: -c[0])
            grow: list[tuple[float, int, int, str]] = []
            for cand in cands:
                total, h, _tok, why = cand
                if why:
                    done.append((total / (len(live[h][1]) + 1), live[h][1], live[h][2], why))
                else:
                    grow.append(cand)
                    if len(grow) == width:  # ending candidates below the beam's last are not kept
                        break
            if len(done) >= width or not grow:
                break
            live = [(total, [*live[h][1], tok], [*live[h][2], total - live[h][0]]) for total, h, tok, _ in grow]
            rows = src.beam_step([h for _, h, _, _ in grow], [tok for _, _, tok, _ in grow])
        else:
            done += [(total / max(1, len(toks)), toks, lps, "budget") for total, toks, lps in live]
        if not done:  # a guard: every hypothesis gives a candidate, so a stop leaves something ended
            done = [(0.0, [], [], "loop")]
        _, toks, lps, why = max(done, key=lambda d: d[0])
        return toks, lps, why == "eot", why == "loop"

    def _loop_stop(self, text: list[int], tok: int) -> bool:
        """Would `tok` after `text` repeat a token too often or an n-gram of the segment (the loop rules)?"""
        cfg = self.config
        seq = [*text, tok]
        if cfg.max_token_run and len(seq) > cfg.max_token_run and len(set(seq[-cfg.max_token_run - 1 :])) == 1:
            return True
        n = cfg.no_repeat_ngram
        if n and len(seq) >= 2 * n:
            last = tuple(seq[-n:])
            return any(tuple(seq[i : i + n]) == last for i in range(len(seq) - n))
        return False

    def _stop(
        self,
        src: LogitSource,
        final: bool,
        tok: int,
        logp: float,
        frame: int,
        last_frame: int,
        pending: Sequence[int] = (),
    ) -> str:
        """The stop rules: "edge" (wait for audio), "loop" (going back in time or repeating), "unsure", or ""."""
        cfg = self.config
        if not final and cfg.edge and frame >= src.n_frames - cfg.edge:
            return "edge"  # the next token would come from the last frames: wait for more audio
        if not final and cfg.max_back_frames and last_frame >= 0 and frame < last_frame - cfg.max_back_frames:
            return "loop"  # attention jumped back: the start of a repetition loop
        if self._loop_stop([*self.committed, *self.tentative, *pending], tok):
            return "loop"  # the same token again and again, or an n-gram of this segment again
        return "unsure" if not final and cfg.min_prob > 0 and float(np.exp(logp)) < cfg.min_prob else ""
