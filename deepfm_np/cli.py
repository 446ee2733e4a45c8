"""Command line: `python -m deepfm_np COMMAND ...` (each command has --help).

Each command lives in its own module under deepfm_np/commands/ with two
functions: `add_parser(subparsers)` and `run(args) -> exit code`.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings

from . import __version__
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


def prog_name(argv0=None) -> str:
    """`deepfm-np` when run as the installed script, `python -m deepfm_np` when run as a module."""
    base = os.path.basename(argv0 if argv0 is not None else sys.argv[0] or "")
    return "python -m deepfm_np" if base in ("__main__.py", "-m", "-c", "") else base


def build_parser(prog=None):
    parser = argparse.ArgumentParser(
        prog=prog or prog_name(),
        description="DeepFM and its baselines by hand in NumPy + Numba. "
                    "Start with `demo` (no download needed) or `gradcheck`.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in COMMANDS.items():
        importlib.import_module(f"deepfm_np.commands.{module}").add_parser(sub)
    return parser


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    """A warning as one `warning: ...` line, without Python's file, line and source; long values cut.

    Installed as warnings.formatwarning (not showwarning) while a command runs, so code that records
    warnings (pytest.warns, catch_warnings(record=True)) still receives them."""
    text = " ".join(str(message).split())
    if len(text) > 300:
        text = text[:297] + "..."
    return f"warning: {text}\n"


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:           # a usage error, like argparse's own: the help goes to stderr, exit 2
        parser.print_help(sys.stderr)
        return 2
    formatwarning, warnings.formatwarning = warnings.formatwarning, _one_line_warning
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (CommandError, DataError, TrainingDiverged) as e:   # our own errors: one clear line, no traceback
        print(f"error: {_flat(e)}", file=sys.stderr)
        return 2
    except MemoryError:                # the checks estimate memory first; this is the last resort
        print(f"error: out of memory in `{args.command}`; try smaller --batch-size, --embed-dim, --hidden "
              f"or --hash-buckets, or --cache for a large training file", file=sys.stderr)
        return 1
    except OSError as e:               # disk full, permissions, a file vanished: the OS says which file
        where = f"{e.filename}: " if e.filename else ""
        print(f"error: {where}{e.strerror or e}", file=sys.stderr)
        return 1
    finally:
        warnings.formatwarning = formatwarning


def _flat(e) -> str:
    return " ".join(str(e).split())


if __name__ == "__main__":
    sys.exit(main())
