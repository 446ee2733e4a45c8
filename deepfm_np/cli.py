"""Command line: `python -m deepfm_np COMMAND ...` (each command has --help).

Each command lives in its own module under deepfm_np/commands/ with two
functions: `add_parser(subparsers)` and `run(args) -> exit code`.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from .commands import CommandError
from .errors import DataError
from .train import TrainingDiverged

# command name -> module under deepfm_np.commands; the order is the order of --help
COMMANDS = {
    "demo": "demo_cmd",
    "gradcheck": "gradcheck_cmd",
    "train": "train_cmd",
    "evaluate": "evaluate_cmd",
    "predict": "predict_cmd",
    "export": "export_cmd",
    "compare": "compare_cmd",
    "sweep": "sweep_cmd",
    "download": "download_cmd",
    "scale-train": "scale_train_cmd",
}


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m deepfm_np",
        description="DeepFM and its baselines by hand in NumPy + Numba. "
                    "Start with `demo` (no download needed) or `gradcheck`.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in COMMANDS.items():
        importlib.import_module(f"deepfm_np.commands.{module}").add_parser(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (CommandError, DataError, TrainingDiverged) as e:   # our own errors: one clear line, no traceback
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
