"""`python -m deepfm_np demo`: LR, FM and DeepFM on synthetic data with a known teacher."""
from __future__ import annotations

import argparse
import os

from .options import add_json_option, add_threads_option, write_json


def add_parser(sub):
    p = sub.add_parser(
        "demo", help="train LR, FM and DeepFM on built-in synthetic data and compare with the teacher",
        description="Generates Criteo-shaped synthetic data (13 numeric + 26 categorical fields) whose labels "
                    "come from a hidden teacher with first-order, pairwise and higher-order parts, trains LR, "
                    "FM and DeepFM (400-400-400, relu, keep probability 0.5, K=10) with early stopping, and "
                    "prints test AUC and log loss next to the teacher's (the best any model can do). "
                    "Writes a learning-curve PNG. No download needed.")
    import inspect

    from ..experiments.teacher_demo import run_demo
    d = {k: v.default for k, v in inspect.signature(run_demo).parameters.items()}   # one set of defaults
    p.add_argument("--rows", type=int, default=d["rows"],
                   help=f"rows to generate, split 80/10/10 (default {d['rows']})")
    p.add_argument("--epochs", type=int, default=d["epochs"], help=f"maximum epochs per model (default {d['epochs']})")
    p.add_argument("--batch-size", type=int, default=d["batch_size"],
                   help=f"minibatch size (default {d['batch_size']})")
    p.add_argument("--models", default=",".join(d["models"]),
                   help=f"comma-separated models (default {','.join(d['models'])})")
    p.add_argument("--seed", type=int, default=d["seed"],
                   help=f"seed of the initial weights, shuffling and dropout (default {d['seed']})")
    p.add_argument("--data-seed", type=int, default=d["data_seed"],
                   help=f"seed of the synthetic world (the teacher) and its rows (default {d['data_seed']})")
    add_threads_option(p)
    p.add_argument("--out", default="demo_out", help="folder for the learning-curve PNG (default demo_out)")
    add_json_option(p)
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bars on stderr (default: only when stderr is a terminal, never in a log file)")
    p.set_defaults(run=run)


def run(args):
    from ..experiments.teacher_demo import format_table, plot_curves, run_demo
    from ..models.registry import model_names
    from ..threads import set_threads
    from ..data.atomic import write_text
    from . import CommandError
    from .checks import check_args, check_outputs
    check_args(args, positive=("epochs", "batch_size", "threads"))
    check_outputs(args, files=("json_path",), folders=("out",))
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in model_names()]
    if unknown:
        raise CommandError(f"unknown model(s) {', '.join(unknown)}; valid: {', '.join(model_names())}")
    if args.rows < 1000:
        raise CommandError(f"--rows must be at least 1000, got {args.rows}")
    set_threads(args.threads)
    print(f"demo: {args.rows:,} synthetic rows (80/10/10 split, world {args.data_seed}), "
          f"models {', '.join(models)}, seed {args.seed}")
    report = run_demo(rows=args.rows, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                      data_seed=args.data_seed,
                      models=tuple(models), progress=args.progress is not False)
    print()
    print(format_table(report))
    os.makedirs(args.out, exist_ok=True)
    png = plot_curves(report, os.path.join(args.out, "learning_curves.png"))
    print(f"\nlearning curves: {png}")
    if args.json_path:
        write_json(args.json_path, report)
        print(f"results: {args.json_path}")
    return 0
