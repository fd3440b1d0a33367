"""Compiled inference: the U-Net and short denoising chains traced once per batch shape (TorchScript).

Why: the policy's U-Net is small (reach-grasp: ≈ 320k parameters in ≈ 150 small
ops), so in eager PyTorch the Python dispatch around each op costs more than the
arithmetic: ≈ 4 ms per network evaluation on this CPU with one thread, ≈ 1.7 ms
traced, with bit-identical outputs. A traced call also runs without holding the
GIL, so a decision in a worker thread no longer competes with the event loop
for it op by op (under load that contention, not the arithmetic, was what made
a 3-step decision take hundreds of milliseconds).

    CompiledPolicy(net, schedule, clip, backend=Backend.TORCHSCRIPT)
      .prepare(batch, chains)                   trace now (at load), not during the first decision
      .eps(x, t, cond)                          the traced net for x's batch size, or None if not prepared
      .chain(timesteps, kind, batch)            a prepared whole chain (≤ MAX_CHAIN_NFE steps) or None

Two backends run what was traced:

    TORCHSCRIPT   torch.jit.trace; bit-identical to eager PyTorch
    ONNXRUNTIME   the trace exported to ONNX (in memory) and run by ONNX Runtime (a dependency already,
                  for the voice): ≈ 2× faster again on this CPU (a 3-step warm chain ≈ 2.5 ms instead of
                  ≈ 5 ms); outputs equal eager PyTorch to float32 rounding (≈ 1e-7), not bit for bit

A chain is the whole walk ``x_{t0} → … → x̂_0`` (``NoiseSchedule.walk``: every
network evaluation and every DDPM/DDIM step) in one graph: one call, one
release of the GIL per decision. Only prepared chains are used (compiling on
first use would stall that decision), and long ones are never compiled whole
(exporting a 10-step chain to ONNX takes ≈ 13 s here, the 100-step DDPM chain
far longer): they run the compiled net step by step.

Only prepared batch sizes are compiled: evaluation runs many batch sizes, and
tracing each would cost more than it saves. Traced modules share the eager
net's parameters; a net in training mode always runs eagerly.
"""

from __future__ import annotations

import enum
import io
import threading
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from liveloop.policy.schedulers import NoiseSchedule, StepKind

MAX_CHAIN_NFE = 10  # longer chains are walked in Python over the traced net

Compiled = Callable[..., torch.Tensor]  # tensors in (CPU for ONNX Runtime), one tensor out


class Backend(enum.Enum):
    TORCHSCRIPT = "torchscript"
    ONNXRUNTIME = "onnxruntime"


# The faster of the two here (measured at load 4 on 2 cores, one thread: a warm 3-step RTI decision
# p50/p99 3.5/4.1 ms with ONNX Runtime against 10.7/19.0 ms traced; the 100-step cold start 133 against
# 277 ms). Off the CPU, TorchScript runs regardless.
DEFAULT_BACKEND = Backend.ONNXRUNTIME


class _Chain(nn.Module):
    """One fixed walk down a timestep list, as a module so that tracing keeps the net's parameters shared."""

    def __init__(
        self, net: nn.Module, schedule: NoiseSchedule, timesteps: tuple[int, ...], kind: StepKind, clip: bool
    ) -> None:
        super().__init__()
        self.net = net
        self.schedule = schedule
        self.timesteps = timesteps
        self.kind = kind
        self.clip = clip

    def _eps(self, x: torch.Tensor, t: int, cond: torch.Tensor) -> torch.Tensor:
        return self.net(x, torch.full((x.shape[0],), t, dtype=torch.long, device=x.device), cond)

    def forward(self, x: torch.Tensor, cond: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        # x (B, H, A), cond (B, C), noise (n_noise, B, H, A): one draw per stochastic step
        return self.schedule.walk(self._eps, x, cond, self.timesteps, self.kind, list(noise.unbind(0)), self.clip)


class CompiledPolicy:
    """Traced net per batch size and traced short chains; see the module docstring. Thread-safe."""

    def __init__(
        self,
        net: nn.Module,
        schedule: NoiseSchedule,
        clip: bool,
        *,
        horizon: int,
        action_dim: int,
        cond_dim: int,
        backend: Backend = Backend.TORCHSCRIPT,
    ) -> None:
        self.backend = backend
        self.net = net
        self.schedule = schedule
        self.clip = clip
        self.shape = (horizon, action_dim)
        self.cond_dim = cond_dim
        self.batches: set[int] = set()
        self._nets: dict[int, Compiled] = {}
        self._chains: dict[tuple[int, tuple[int, ...], StepKind], Compiled] = {}
        self._lock = threading.Lock()

    def _example(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        dev = next(self.net.parameters()).device
        return torch.zeros(batch, *self.shape, device=dev), torch.zeros(batch, self.cond_dim, device=dev)

    def prepare(self, batch: int = 1, chains: Iterable[tuple[tuple[int, ...], StepKind]] = ()) -> None:
        """Compile the net for ``batch`` and the given (timesteps, kind) chains; run each twice (profiling)."""
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        with self._lock:
            self.batches.add(batch)
        x, cond = self._example(batch)
        t = torch.zeros(batch, dtype=torch.long, device=x.device)
        with torch.inference_mode():
            net = self._net(batch)
            for _ in range(2):  # the profiling executor optimises on the second run
                net(x, t, cond)
            for ts, kind in chains:
                chain = self._chain(tuple(ts), kind, batch)
                if chain is not None:
                    noise = torch.zeros(_noise_draws(tuple(ts), kind), *x.shape, device=x.device)
                    for _ in range(2):
                        chain(x, cond, noise)

    def _net(self, batch: int) -> Compiled:
        with self._lock:
            traced = self._nets.get(batch)
            if traced is None:
                x, cond = self._example(batch)
                t = torch.zeros(batch, dtype=torch.long, device=x.device)
                traced = self._compile(self.net, (x, t, cond), ("x", "t", "cond"))
                self._nets[batch] = traced
            return traced

    def usable(self, batch: int) -> bool:
        return batch in self.batches and not self.net.training

    def eps(self, x: torch.Tensor, t: int, cond: torch.Tensor) -> torch.Tensor | None:
        b = x.shape[0]
        if not self.usable(b):
            return None
        tt = torch.full((b,), t, dtype=torch.long, device=x.device)
        return self._net(b)(x, tt, cond)

    def chain(self, timesteps: tuple[int, ...], kind: StepKind, batch: int) -> Compiled | None:
        """The compiled chain if it was prepared (never compiled on first use: that would stall a decision)."""
        if not self.usable(batch):
            return None
        return self._chains.get((batch, timesteps, kind))

    def _chain(self, timesteps: tuple[int, ...], kind: StepKind, batch: int) -> Compiled | None:
        if len(timesteps) > MAX_CHAIN_NFE:
            return None
        key = (batch, timesteps, kind)
        with self._lock:
            traced = self._chains.get(key)
            if traced is None:
                x, cond = self._example(batch)
                noise = torch.zeros(_noise_draws(timesteps, kind), *x.shape, device=x.device)
                # eval(): exporting restores the module's mode afterwards, and a fresh module is in training
                # mode, which would flip the shared net into training too
                module = _Chain(self.net, self.schedule, timesteps, kind, self.clip).eval()
                traced = self._compile(module, (x, cond, noise), ("x", "cond", "noise"))
                self._chains[key] = traced
            return traced

    def _compile(self, module: nn.Module, example: tuple[torch.Tensor, ...], names: tuple[str, ...]) -> Compiled:
        if self.backend is Backend.ONNXRUNTIME and example[0].device.type == "cpu":
            return _OrtModule(module, example, names)
        return _trace(module, example)


class _OrtModule:
    """ONNX Runtime, called like the traced module: tensors in, a tensor out. `run` releases the GIL."""

    def __init__(self, module: nn.Module, example: tuple[torch.Tensor, ...], names: tuple[str, ...]) -> None:
        import onnxruntime as ort

        buf = io.BytesIO()
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's constant warnings and the exporter's deprecation notes
            torch.onnx.export(
                module,
                example,
                buf,  # type: ignore[arg-type]  # the stubs say a path; a file-like object is documented and works
                input_names=list(names),
                output_names=["out"],
                dynamo=False,
            )
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = torch.get_num_threads()  # the process's setting (one thread on this machine)
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(buf.getvalue(), opts, providers=["CPUExecutionProvider"])
        used = {i.name for i in self.session.get_inputs()}  # an unused input (DDIM's noise) is pruned
        self.names = [(i, n) for i, n in enumerate(names) if n in used]

    def __call__(self, *tensors: torch.Tensor) -> torch.Tensor:
        feed = {n: tensors[i].detach().numpy() for i, n in self.names}
        return torch.from_numpy(self.session.run(None, feed)[0])


def _trace(module: nn.Module | Callable[..., Any], example: tuple[torch.Tensor, ...]) -> torch.jit.ScriptModule:
    # Shapes are fixed per key, so the tracer's "treated as a constant" warnings (GroupNorm's size check) are
    # expected. torch.jit is deprecated in favour of torch.compile, which needs a C++ toolchain at run time and
    # minutes of compiling on this CPU; tracing needs neither and is what measured fastest here.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.trace(module, example, check_trace=False)


def _noise_draws(timesteps: tuple[int, ...], kind: StepKind) -> int:
    return NoiseSchedule.noise_draws(timesteps, kind)
