"""The `liveloop` command.

Each capability package contributes its own subcommands from a `cli.py` module
with ``register(subparsers) -> None``; this module only gathers them, so adding
a command never means editing a central file beyond the list below. Heavy
imports happen inside each command's function, so `liveloop --help` is fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

SUBCOMMAND_MODULES = (
    "liveloop.graph.cli",  # run
    "liveloop.web.cli",  # serve
    "liveloop.asr.cli",  # transcribe, asr …
    "liveloop.tts.cli",  # say
    "liveloop.vision.cli",  # vision …
    "liveloop.policy.cli",  # policy train|eval
    "liveloop.robots.cli",  # robot, robot sim
    "liveloop.assets",  # assets fetch
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="liveloop", description="real-time multimodal agents on one timed event graph"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod_name in SUBCOMMAND_MODULES:
        try:
            mod = importlib.import_module(mod_name)
        except ModuleNotFoundError as exc:
            if exc.name == mod_name:  # that package has no CLI yet
                continue
            raise
        mod.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    result = args.func(args)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
