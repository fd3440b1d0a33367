"""`liveloop asr train --seeds 1-32 --jobs 16 --out 'runs/s{seed}.pt' [--average OUT [--average-rank R]]`.

The shipped adapter is the mean of many runs of one recipe that differ only in seed
(`liveloop asr average`). This runs those seeds as child processes, `jobs` at a time
(a GPU box takes 16 at once: each run is small and mostly waits on its own CPU thread), each with the
same training flags plus ``--seed S --out <out with {seed}>`` and its output in ``<out>.log``; then,
when every run succeeded and ``--average`` is given, averages them.

The sans-I/O part is `parse_seeds`, `seed_out` and `child_argv`; `run_seeds` is the asyncio driver (one
TaskGroup owns the children; a semaphore bounds how many run at once).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path


def parse_seeds(spec: str) -> list[int]:
    """ "1-4,9" -> [1, 2, 3, 4, 9]: distinct, in the order given; an error names the part it cannot read."""
    seeds: list[int] = []
    for part in (p.strip() for p in spec.split(",")):
        try:
            if "-" in part[1:]:
                lo, hi = (int(x) for x in part.split("-", 1))
                if hi < lo:
                    raise ValueError
                seeds.extend(range(lo, hi + 1))
            else:
                seeds.append(int(part))
        except ValueError:
            raise ValueError(f"--seeds: cannot read {part!r} (want e.g. '1-16' or '1,3,5')") from None
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds: a seed appears twice in {spec!r}")
    return seeds


def seed_out(pattern: str, seed: int) -> Path:
    """The adapter file of `seed`: `pattern` with ``{seed}`` filled in (format spec allowed: ``{seed:02d}``)."""
    if "{seed" not in pattern:
        raise ValueError(f"--out must hold '{{seed}}' when several seeds run (got {pattern!r})")
    return Path(pattern.format(seed=seed))


def child_argv(train_flags: Sequence[str], seed: int, out: Path) -> list[str]:
    """The argv of one seed's run: the training flags the parent was given (without its own), then the
    seed and the adapter file."""
    return [sys.executable, "-m", "liveloop", "asr", "train", *train_flags, "--seed", str(seed), "--out", str(out)]


@dataclass(frozen=True, slots=True)
class SeedRun:
    seed: int
    out: Path
    returncode: int

    @property
    def log(self) -> Path:
        return log_path(self.out)


def log_path(out: Path) -> Path:
    """Where a seed's run writes its output: beside its adapter, ``<out>.log``."""
    return out.with_suffix(out.suffix + ".log")


async def run_seeds(
    train_flags: Sequence[str],
    seeds: Sequence[int],
    pattern: str,
    jobs: int,
    on_done: Callable[[SeedRun], None] = lambda run: None,
) -> list[SeedRun]:
    """Run each seed's training as a child process, at most `jobs` at once; every run finishes (a failed
    seed does not stop the others). Returns the runs in seed order."""
    if jobs < 1:
        raise ValueError(f"--jobs must be >= 1, got {jobs}")
    outs = {s: seed_out(pattern, s) for s in seeds}
    if len(set(outs.values())) != len(outs):
        raise ValueError(f"--out {pattern!r} gives two seeds one file")
    gate = asyncio.Semaphore(jobs)
    runs: dict[int, SeedRun] = {}

    async def one(seed: int) -> None:
        out = outs[seed]
        out.parent.mkdir(parents=True, exist_ok=True)
        async with gate:
            with open(log_path(out), "wb") as log:
                proc = await asyncio.create_subprocess_exec(
                    *child_argv(train_flags, seed, out), stdout=log, stderr=asyncio.subprocess.STDOUT
                )
                try:
                    code = await proc.wait()
                except asyncio.CancelledError:
                    proc.kill()
                    await proc.wait()
                    raise
        runs[seed] = SeedRun(seed, out, code)
        on_done(runs[seed])

    async with asyncio.TaskGroup() as tg:
        for s in seeds:
            tg.create_task(one(s), name=f"asr-train-seed-{s}")
    return [runs[s] for s in seeds]
