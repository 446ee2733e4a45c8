"""`python -m deepfm_np sweep --study ...`: the paper's Section 3.3 hyper-parameter studies."""
from __future__ import annotations

import time

from . import CommandError
from .compare_cmd import add_common_options, command_line, config_from_args, load

SWEEP_MODELS = ("deepfm",)
QUICK = dict(rows=4000, epochs=1, seeds=1, hidden="16-16")


def add_parser(sub):
    from ..experiments.paper_studies import STUDIES
    from ..experiments.paper_table import CompareConfig
    d = CompareConfig(models=SWEEP_MODELS, seeds=1)
    p = sub.add_parser(
        "sweep", help="the paper's Section 3.3 studies: activation, dropout, neurons, layers, network shape",
        description="Varies one setting of the deep part (keeping the others at the compare defaults), trains "
                    "each model over the seeds at each setting, and writes sweep_STUDY.png (test AUC and log loss "
                    "against the setting, the paper's figure style), sweep_STUDY.json / .csv (one row per setting "
                    "and model) and sweep_STUDY_runs.json into --out. Settings: activation relu/tanh; dropout keep "
                    "probability 1.0..0.5; neurons 100..800 per layer; layers 1..7; shape constant / increasing / "
                    "decreasing / diamond at equal depth and total units. With the defaults (DeepFM, "
                    "250k synthetic rows, 1 seed, 1 thread) a study took 30 s to 2 minutes on a shared 2-core "
                    "machine (all five: 5.5 minutes); every added model multiplies that.")
    p.add_argument("--study", required=True, choices=STUDIES + ("all",), help="which study ('all': one after another)")
    add_common_options(p, d)
    p.add_argument("--quick", action="store_true",
                   help=f"tiny smoke-test settings for CI: {QUICK['rows']} rows, {QUICK['epochs']} epoch, "
                        f"{QUICK['seeds']} seed, hidden {QUICK['hidden']}, fewer settings per study "
                        "(overrides those options)")
    p.add_argument("--out", default="sweep_out", help="output folder (default sweep_out)")
    p.set_defaults(run=run)


def run(args):
    from ..experiments.paper_studies import STUDIES, sweep, write_sweep
    from ..threads import set_threads
    if args.quick:
        for k, v in QUICK.items():
            setattr(args, k, v)
    cfg = config_from_args(args)
    set_threads(args.threads)
    t0 = time.perf_counter()
    splits = load(cfg)
    studies = STUDIES if args.study == "all" else (args.study,)
    for study in studies:
        ts = time.perf_counter()
        print(f"sweep {study}: models {', '.join(cfg.models)} x {cfg.seeds} seed(s) on {splits.name} "
              f"({splits.train.n:,} train rows)", flush=True)
        try:
            res = sweep(study, cfg, splits, quick=args.quick, log=lambda s: print(s, flush=True))
        except ValueError as e:
            raise CommandError(str(e)) from None
        paths = write_sweep(res, args.out, command_line(args))
        print(f"{study}: {time.perf_counter() - ts:.0f} s; wrote {', '.join(paths.values())}", flush=True)
    print(f"{time.perf_counter() - t0:.0f} s in all")
    return 0
