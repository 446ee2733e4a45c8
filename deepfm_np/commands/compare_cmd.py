"""`python -m deepfm_np compare`: the paper's Table 2 and efficiency figure at laptop scale."""
from __future__ import annotations

import argparse
import shlex
import time

from . import CommandError
from .options import add_threads_option, parse_hidden


def add_parser(sub):
    from ..experiments.paper_table import CompareConfig
    d = CompareConfig()
    p = sub.add_parser(
        "compare", help="train the paper's models over several seeds; table, CSV, JSON and charts",
        description="Trains each model (default: all of Table 2 plus DeepFM's two stop-gradient ablations) on one "
                    "data set over several seeds with early stopping, and writes results.md (our test AUC / log "
                    "loss beside the paper's Criteo numbers), results.csv, results.json, runs.json, auc.png and "
                    "time.png (training time per epoch relative to LR) into --out. LR is trained with FTRL as in "
                    "the paper, the other models with Adam. The defaults run in about 10 minutes on 2 cores.")
    add_common_options(p, d)
    p.add_argument("--lr-optimizer", choices=("ftrl", "adam", "adagrad", "sgd"), default=d.lr_optimizer,
                   help="optimizer of the LR model (default ftrl, as in the paper; others use --lr)")
    p.add_argument("--ftrl-alpha", type=float, default=d.ftrl_alpha, help=f"FTRL alpha (default {d.ftrl_alpha:g})")
    p.add_argument("--ftrl-l1", type=float, default=d.ftrl_l1, help=f"FTRL L1 (default {d.ftrl_l1:g})")
    p.add_argument("--ftrl-l2", type=float, default=d.ftrl_l2, help=f"FTRL L2 (default {d.ftrl_l2:g})")
    p.add_argument("--out", default="compare_out", help="output folder (default compare_out)")
    p.set_defaults(run=run)


def add_common_options(p, d):
    """Options shared by `compare` and `sweep`; d is a CompareConfig holding the defaults."""
    p.add_argument("--models", default=",".join(d.models),
                   help=f"comma-separated model names (default {','.join(d.models)})")
    p.add_argument("--seeds", type=int, default=d.seeds, help=f"runs per model, seeds 0..N-1 (default {d.seeds})")
    p.add_argument("--data", default=d.data,
                   help="'synthetic' (default) or 'criteo:DIR' with DIR/train.txt, DIR/test.txt [, DIR/dev.txt]")
    p.add_argument("--rows", type=int, default=d.rows, help=f"synthetic rows, split 80/10/10 (default {d.rows})")
    p.add_argument("--epochs", type=int, default=d.epochs, help=f"maximum epochs (default {d.epochs})")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help=f"minibatch size (default {d.batch_size})")
    p.add_argument("--lr", type=float, default=d.lr, help=f"Adam learning rate of all models but LR (default {d.lr:g})")
    p.add_argument("--embed-dim", type=int, default=d.embed_dim, help=f"embedding size K (default {d.embed_dim})")
    p.add_argument("--hidden", default=",".join(map(str, d.hidden)),
                   help=f"hidden layer sizes, e.g. 400,400,400 or 400-400-400 (default {','.join(map(str, d.hidden))}: "
                        "half the paper's width for a laptop-scale run; train and demo use the paper's 400,400,400)")
    p.add_argument("--keep-prob", type=float, default=d.keep_prob,
                   help=f"dropout KEEP probability, the paper's 'dropout' (default {d.keep_prob} with the half-width "
                        "layers; train and demo use the paper's 0.5)")
    p.add_argument("--activation", choices=("relu", "tanh"), default=None,
                   help="hidden activation of every deep model (default: relu, and tanh for IPNN as in the paper)")
    add_threads_option(p, default=1)
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="per-batch progress bars on stderr (default: only when stderr is a terminal, never in a log file)")


def config_from_args(args, **extra):
    """A CompareConfig from parsed arguments (shared with `sweep`); raises CommandError on bad values."""
    from ..experiments.paper_table import CompareConfig
    hidden = parse_hidden(args.hidden)
    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    if args.rows < 1000 and args.data == "synthetic":
        raise CommandError(f"--rows must be at least 1000, got {args.rows}")
    try:
        return CompareConfig(models=models, seeds=args.seeds, data=args.data, rows=args.rows, epochs=args.epochs,
                             batch_size=args.batch_size, lr=args.lr, embed_dim=args.embed_dim, hidden=hidden,
                             keep_prob=args.keep_prob, activation=args.activation, progress=args.progress is not False, **extra)
    except ValueError as e:
        raise CommandError(str(e)) from None


def command_line(args) -> str:
    """The exact command that reproduces this run, every option spelled out (for results.md)."""
    parts = ["python -m deepfm_np", args.command]
    for k, v in vars(args).items():
        if k in ("command", "run") or v is None or v is False:
            continue
        flag = "--" + k.replace("_", "-")
        parts += [flag] if v is True else [flag, shlex.quote(str(v))]
    return " ".join(parts)


def load(cfg):
    from ..experiments.paper_table import load_data
    try:
        return load_data(cfg.data, cfg.rows, cfg.data_seed)
    except ValueError as e:
        raise CommandError(str(e)) from None


def run(args):
    from ..experiments.paper_table import compare, write_results
    from ..threads import set_threads
    cfg = config_from_args(args, lr_optimizer=args.lr_optimizer, ftrl_alpha=args.ftrl_alpha,
                           ftrl_l1=args.ftrl_l1, ftrl_l2=args.ftrl_l2)
    set_threads(args.threads)
    t0 = time.perf_counter()
    splits = load(cfg)
    print(f"compare: {len(cfg.models)} models x {cfg.seeds} seeds on {splits.name} "
          f"({splits.train.n:,} train rows), {args.threads} threads", flush=True)
    res = compare(cfg, splits, log=lambda s: print(s, flush=True))
    paths = write_results(res, args.out, command_line(args))
    print()
    print("\n".join(line for line in open(paths["md"]).read().splitlines() if line.startswith("|")))
    print(f"\n{time.perf_counter() - t0:.0f} s in all; wrote {', '.join(paths.values())}")
    return 0
