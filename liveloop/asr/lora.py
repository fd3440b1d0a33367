"""LoRA adapters for the causal Whisper (CarelessWhisper's fine-tuning), and loading them for inference.

Low-rank updates W + (alpha / r)·B·A on the encoder's self-attention and the
decoder's self- and cross-attention projections (query, key, value, out). B
starts at zero, so an untrained adapter is the base model. For inference the
update is merged into a copy of the weights (no extra cost per step); the
shared base model is never modified.

Adapter file (torch.save): {"format": "liveloop-asr-lora-1", "model", "rank",
"alpha", "targets", "chunk_ms", "state": {module name: {"A", "B"}}, "meta"}.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import torch
from torch import Tensor, nn

FORMAT = "liveloop-asr-lora-1"
BUNDLED = Path(__file__).parent / "adapters" / "tiny.en-causal.pt"
PROJ = ("query", "key", "value", "out")
# which attention layers an adapter touches: the encoder's self-attention, the decoder's self-attention and
# the decoder's cross-attention (CarelessWhisper's choice is all three)
LORA_PARTS = ("encoder", "self", "cross")


class LoRALinear(nn.Module):
    """A frozen linear layer plus a trainable low-rank update."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float) -> None:
        super().__init__()
        if rank < 1:
            raise ValueError(f"rank must be >= 1, got {rank}")
        self.base = base
        for p in base.parameters():
            p.requires_grad_(False)
        self.A = nn.Parameter(torch.empty(rank, base.in_features))
        self.B = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))
        self.scale = alpha / rank

    def forward(self, x: Tensor) -> Tensor:
        return self.base(x) + (x @ self.A.T @ self.B.T) * self.scale

    def delta(self) -> Tensor:
        return (self.B @ self.A) * self.scale  # (out, in)


def check_parts(parts: tuple[str, ...]) -> None:
    """`parts` must name distinct members of `LORA_PARTS`, at least one."""
    if not parts or len(set(parts)) < len(parts) or not set(parts) <= set(LORA_PARTS):
        raise ValueError(f"LoRA parts (lora_parts) must be distinct members of {LORA_PARTS}, got {parts}")


def target_names(model: nn.Module, parts: tuple[str, ...] = LORA_PARTS) -> list[str]:
    """Module names of every projection an adapter on `parts` (of `LORA_PARTS`) touches."""
    check_parts(parts)
    names = []
    if "encoder" in parts:
        for i in range(len(model.encoder.blocks)):
            names += [f"encoder.blocks.{i}.attn.{p}" for p in PROJ]
    dec = [a for part, a in (("self", "attn"), ("cross", "cross_attn")) if part in parts]
    for i in range(len(model.decoder.blocks)):
        names += [f"decoder.blocks.{i}.{a}.{p}" for a in dec for p in PROJ]
    return names


def _parent(model: nn.Module, name: str) -> tuple[nn.Module, str]:
    path, _, leaf = name.rpartition(".")
    return model.get_submodule(path), leaf


def add_lora(
    model: nn.Module, rank: int = 8, alpha: float = 16.0, parts: tuple[str, ...] = LORA_PARTS
) -> list[nn.Parameter]:
    """Freeze `model` and wrap the projections of `parts` in LoRALinear (in place); returns the trainable params."""
    names = target_names(model, parts)
    for p in model.parameters():
        p.requires_grad_(False)
    params: list[nn.Parameter] = []
    for name in names:
        parent, leaf = _parent(model, name)
        lin = getattr(parent, leaf)
        if isinstance(lin, LoRALinear):
            raise ValueError(f"{name} already has a LoRA adapter")
        wrapped = LoRALinear(lin, rank, alpha)
        setattr(parent, leaf, wrapped)
        params += [wrapped.A, wrapped.B]
    return params


def adapter_state(model: nn.Module) -> dict[str, dict[str, Tensor]]:
    return {
        name: {"A": m.A.detach().clone(), "B": m.B.detach().clone()}
        for name, m in model.named_modules()
        if isinstance(m, LoRALinear)
    }


def save_adapter(model: nn.Module, path: Path, *, rank: int, alpha: float, chunk_ms: int, meta: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = {
        "format": FORMAT,
        "rank": rank,
        "alpha": alpha,
        "chunk_ms": chunk_ms,
        "state": adapter_state(model),
        "meta": meta,
    }
    tmp = path.with_suffix(".tmp")
    torch.save(blob, tmp)
    tmp.replace(path)


def read_adapter(path: Path) -> dict:
    """An adapter file's contents; anything else is an error that names the file."""
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except OSError:
        raise
    except Exception as exc:  # a file that is not a torch archive fails in pickle, zipfile or struct
        raise ValueError(f"{path}: not a liveloop ASR adapter ({type(exc).__name__}: {exc})") from exc
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise ValueError(f"{path}: not a liveloop ASR adapter (format must be {FORMAT!r})")
    return blob


def average_adapters(paths: list[Path], out: Path, rank: int | None = None) -> dict:
    """One adapter whose update is the mean of the adapters' updates (a "soup" of runs that differ in seed).

    Exact: the A's are stacked and the B's put side by side (scaled 1/k), so each layer's update
    (alpha/r)·B·A is the mean of theirs, at the sum of their ranks. With `rank`, each layer's mean update
    is cut to its `rank` largest singular directions (SVD), which keeps the file as small as one adapter."""
    if not paths:
        raise ValueError("no adapters to average")
    blobs = [read_adapter(p) for p in paths]
    layers = {tuple(sorted(b["state"])) for b in blobs}
    if len(layers) != 1:
        raise ValueError(f"adapters {[str(p) for p in paths]} adapt different layers")
    k = len(blobs)
    state = {}
    for name in blobs[0]["state"]:
        down = torch.cat([blob["state"][name]["A"] for blob in blobs])
        up = torch.cat([blob["state"][name]["B"] * (blob["alpha"] / blob["rank"]) for blob in blobs], 1) / k
        if rank is not None:  # up @ down is the mean update (scale 1); keep its main directions
            u, sv, vh = torch.linalg.svd(up @ down, full_matrices=False)
            up, down = u[:, :rank] * sv[:rank], vh[:rank]
        state[name] = {"A": down.contiguous(), "B": up.contiguous()}
    r = rank if rank is not None else sum(b["rank"] for b in blobs)
    out_blob = {
        **blobs[0],
        "rank": r,
        "alpha": float(r),  # scale alpha / rank = 1: the B's above carry each adapter's own scale
        "state": state,
        "meta": {
            **blobs[0]["meta"],  # the first adapter's recipe, then where each part came from
            "averaged": [{"path": str(p), **_provenance(blob["meta"])} for p, blob in zip(paths, blobs, strict=True)],
            "svd_rank": rank,
        },
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(out_blob, out)
    return out_blob


def _provenance(meta: dict) -> dict:
    """What identifies an averaged adapter's part: its seed, steps and device, or the parts it averaged."""
    keys = ("averaged", "svd_rank") if "averaged" in meta else ("seed", "step", "device")
    return {k: meta[k] for k in keys if k in meta}


def load_lora_state(model: nn.Module, path: Path) -> None:
    """Copy a saved adapter's A/B into the LoRALinear layers of `model` (after `add_lora`, same rank)."""
    blob = read_adapter(path)
    layers = {name: m for name, m in model.named_modules() if isinstance(m, LoRALinear)}
    for name, ab in blob["state"].items():
        layer = layers.get(name)
        if layer is None or layer.A.shape != ab["A"].shape or layer.B.shape != ab["B"].shape:
            raise ValueError(f"{path}: adapter layer {name} does not fit this model (rank {blob['rank']})")
        with torch.no_grad():
            layer.A.copy_(ab["A"])
            layer.B.copy_(ab["B"])


def merged(model: nn.Module, path: Path) -> nn.Module:
    """A copy of `model` with the adapter at `path` merged into its weights (eval mode)."""
    blob = read_adapter(path)
    out = copy.deepcopy(model)
    scale = blob["alpha"] / blob["rank"]
    for name, ab in blob["state"].items():
        parent, leaf = _parent(out, name.removesuffix(".base"))
        lin = getattr(parent, leaf)
        a, b = ab["A"], ab["B"]
        if a.shape[1] != lin.in_features or b.shape[0] != lin.out_features:
            raise ValueError(
                f"{path}: adapter for {name} has shape {tuple(b.shape)}x{tuple(a.shape)}, "
                f"the model's layer is {lin.out_features}x{lin.in_features}"
            )
        with torch.no_grad():
            lin.weight += (b @ a) * scale
    out.eval()
    out.liveloop_adapter = {"path": str(path), **blob.get("meta", {})}  # type: ignore[assignment]
    return out


def is_streaming_tuned(model: nn.Module) -> bool:
    """Was a streaming-objective adapter merged into `model` (`merged`)?"""
    return getattr(model, "liveloop_adapter", None) is not None


_MERGED: dict[tuple[int, str], nn.Module] = {}


def load_adapter_for(model: nn.Module, spec: str | Path | None, chunk_ms: int | None = None) -> nn.Module:
    """'none'/None → the base model; 'auto' → the bundled adapter if it is there and fits, else the base model;
    a path → that adapter merged (cached per process)."""
    if spec is None or str(spec) == "none":
        return model
    if str(spec) == "auto":
        # the bundled adapter was trained for tiny.en: another size (e.g. multilingual base) runs untuned
        if not BUNDLED.exists() or getattr(model, "liveloop_size", "tiny.en") != "tiny.en":
            return model
        path = BUNDLED
    else:
        path = Path(spec)
        if not path.exists():
            raise FileNotFoundError(f"adapter file not found: {path}")
    key = (id(model), str(path.resolve()))
    if key not in _MERGED:
        _MERGED[key] = merged(model, path)
    return _MERGED[key]
