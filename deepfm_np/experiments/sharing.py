"""Does sharing the embedding matter? DeepFM against FM & DNN and both stop-gradient ablations.

The teacher worlds differ in one thing (synthetic.make_world's gate_code):

    "shared"       the higher-order gates score a value by projecting its pairwise vector,
                   u_t[x] = <v[x], a_t>: ONE code per value serves both parts;
    "independent"  the gates' scores are drawn afresh: the two parts need unrelated codes.

Every model has (close to) the same number of parameters: DeepFM and its ablations one table of
size K, FM & DNN two tables of size K/2 (and an MLP on F*K/2 inputs, so slightly fewer weights;
the record carries each model's exact count). One seed = a fresh sample of train/valid/test
rows from the same world AND fresh initial weights, so the spread over seeds contains both the
data noise and the training noise. Comparisons are paired by seed (same rows for every model):

    d_s = AUC_A(seed s) - AUC_B(seed s),   mean(d) +- t_{0.975, n-1} * sd(d) / sqrt(n)

and a difference is called resolved only when that 95% interval excludes 0.

    python -m deepfm_np.experiments.sharing --seeds 8 --rows 25000,100000,400000 --out docs/results/sharing.json

writes the records (atomically) for lesson 03 to load.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time

import numpy as np

from ..data.dataset import ArrayDataset
from ..models.registry import LABELS, build_model
from ..train import TrainConfig, evaluate, train
from .synthetic import make_world, partial_aucs, teacher_metrics

# The lessons' teacher world: 10 categorical fields of 10..100 values, every field in the pairwise
# part and in the gates, 4 gates, strong pairwise and higher-order signal: on 100k rows a student
# with a deep part gets far above the first-order oracle (AUC ~0.85 against ~0.6; teacher ~0.87).
LESSON_WORLD = dict(n_numeric=0, n_categorical=10, vocab_range=(10, 100), pair_max_vocab=100,
                    triple_max_vocab=100, n_triples=4, first_order_std=0.5, pairwise_std=1.0,
                    higher_order_std=2.0)
MODELS = ("deepfm", "deepfm_dnn_only", "deepfm_fm_only", "fm_dnn", "fm")
MODEL_KW = dict(embed_dim=8, hidden=(128, 128), keep_prob=1.0)           # DeepFM's; FM & DNN gets K/2
TRAIN_KW = dict(epochs=6, batch_size=512, lr=3e-3, patience=4)           # + validation 4 times an epoch

# two-sided 95% quantiles of Student's t, df = 1..30 (beyond: 1.96)
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
         2.045, 2.042)


def t975(df: int) -> float:
    return _T975[df - 1] if 1 <= df <= len(_T975) else 1.96


def model_kwargs(name: str, layout, model_kw=MODEL_KW) -> dict:
    """Constructor keywords at DeepFM's parameter count.

    FM & DNN splits DeepFM's K into two tables of K/2 (the same embedding size), and its MLP, which
    then reads F*K/2 inputs instead of F*K, gets hidden layers just wide enough that its total
    parameter count is the closest to DeepFM's.
    """
    kw = dict(model_kw)
    if name == "fm_dnn":
        kw["embed_dim"] = max(1, kw["embed_dim"] // 2)
        target = build_model("deepfm", layout, **model_kw).n_params()
        depth, width = len(model_kw["hidden"]), model_kw["hidden"][0]
        best = min(range(width, 4 * width + 1),
                   key=lambda h: abs(build_model(name, layout, **dict(kw, hidden=(h,) * depth)).n_params() - target))
        kw["hidden"] = (best,) * depth
    return kw


def run_world(gate_code: str, seeds, rows: int, models=MODELS, world_seed: int = 0, world=LESSON_WORLD,
              model_kw=MODEL_KW, train_kw=TRAIN_KW, log=None, on_model=None) -> dict:
    """Train every model on every seed's rows of one world; returns {"oracles", "runs": [...]}.

    rows: training rows per seed (valid gets rows // 10, test rows // 5, all fresh per seed).
    on_model(name, seed, model, (train, valid, test)) is called after each model is trained and scored.
    """
    teacher = make_world(world_seed, gate_code=gate_code, **world)
    kwargs = {name: model_kwargs(name, teacher.layout, model_kw) for name in models}
    train_kw = dict(train_kw)
    train_kw.setdefault("eval_every", max(1, rows // train_kw["batch_size"] // 4))
    runs, oracles = [], []
    for s in seeds:
        rng = np.random.default_rng([7, world_seed, s])
        tr, va, te = (teacher.sample(n, rng) for n in (rows, max(rows // 10, 1000), max(rows // 5, 2000)))
        sets = [ArrayDataset(d.idx, d.val, d.y, teacher.layout) for d in (tr, va, te)]
        oracles.append({"world": gate_code, "rows": int(rows), "seed": int(s), **partial_aucs(te),
                        "teacher_logloss": teacher_metrics(te)["logloss"]})
        for name in models:
            model = build_model(name, teacher.layout, seed=s, **kwargs[name])
            t0 = time.process_time()
            train(model, sets[0], sets[1], TrainConfig(seed=s, progress=False, **train_kw))
            test = evaluate(model, sets[2])
            runs.append({"world": gate_code, "rows": int(rows), "model": name, "seed": int(s), "auc": float(test["auc"]),
                         "logloss": float(test["logloss"]), "n_params": int(model.n_params()),
                         "cpu_seconds": time.process_time() - t0})
            if on_model:
                on_model(name, s, model, sets)
            if log:
                log(f"{gate_code:11s} seed {s} {LABELS[name]:25s} AUC {test['auc']:.4f}")
    return {"oracles": oracles, "runs": runs}


def _pick(runs, world, rows):
    return [r for r in runs if r["world"] == world and (rows is None or r["rows"] == rows)]


def paired(runs, world: str, a: str, b: str, rows=None) -> dict:
    """Mean AUC difference a - b over the seeds both ran, its 95% half-width, and whether it is resolved."""
    auc = {(r["model"], r["seed"]): r["auc"] for r in _pick(runs, world, rows)}
    seeds = sorted(s for (m, s) in auc if m == a and (b, s) in auc)
    d = np.array([auc[a, s] - auc[b, s] for s in seeds])
    n = d.size
    mean = float(d.mean()) if n else float("nan")
    half = float(t975(n - 1) * d.std(ddof=1) / math.sqrt(n)) if n > 1 else float("inf")
    return {"a": a, "b": b, "world": world, "rows": rows, "n_seeds": n, "mean": mean, "half_width": half,
            "resolved": bool(n > 1 and abs(mean) > half)}


def verdict(p: dict) -> str:
    """One sentence for a paired comparison, generated from its numbers."""
    A, B = LABELS[p["a"]], LABELS[p["b"]]
    head = f"{A} - {B} = {p['mean']:+.4f} +- {p['half_width']:.4f} (95%, {p['n_seeds']} seeds)"
    if not p["resolved"]:
        return f"{head}: not resolved at this size."
    return f"{head}: {A} {'better' if p['mean'] > 0 else 'worse'}, resolved."


def summary(runs, world: str, rows=None) -> list:
    """Per model: mean and sd of test AUC and log loss over seeds, parameter count; sorted by mean AUC."""
    out = []
    picked = _pick(runs, world, rows)
    for name in dict.fromkeys(r["model"] for r in picked):
        rs = [r for r in picked if r["model"] == name]
        a = np.array([r["auc"] for r in rs])
        ll = np.array([r["logloss"] for r in rs])
        out.append({"model": name, "n_seeds": len(rs), "auc_mean": float(a.mean()),
                    "auc_sd": float(a.std(ddof=1)) if len(rs) > 1 else float("nan"),
                    "logloss_mean": float(ll.mean()), "n_params": rs[0]["n_params"]})
    return sorted(out, key=lambda r: -r["auc_mean"])


def _write_json_atomic(path: str, obj) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")
    os.chmod(tmp, 0o644)                                      # mkstemp's file is private; results are not
    os.replace(tmp, path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m deepfm_np.experiments.sharing", description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=6, help="seeds per world (fresh rows and weights each)")
    ap.add_argument("--rows", default="100000", help="training rows per seed; a comma list runs each size")
    ap.add_argument("--worlds", default="shared,independent")
    ap.add_argument("--out", required=True, help="JSON file to write")
    args = ap.parse_args(argv)
    try:
        sizes = [int(x) for x in args.rows.split(",")]
    except ValueError:
        print(f"sharing: --rows must be integers separated by commas, got {args.rows!r}", file=sys.stderr)
        return 2
    worlds = args.worlds.split(",")
    if args.seeds < 2 or min(sizes) < 1000 or not set(worlds) <= {"shared", "independent"}:
        print(f"sharing: need --seeds >= 2, --rows >= 1000 and worlds from shared,independent; got "
              f"{args.seeds}, {args.rows}, {args.worlds}", file=sys.stderr)
        return 2
    from ..threads import set_threads
    set_threads(1)
    t0 = time.time()
    result = {"config": {"world": LESSON_WORLD, "models": list(MODELS), "model_kw": MODEL_KW, "train_kw": TRAIN_KW,
                         "rows": sizes, "seeds": args.seeds,
                         "command": "python -m deepfm_np.experiments.sharing " + " ".join(argv or sys.argv[1:])},
              "runs": [], "oracles": []}
    for n in sizes:
        for w in worlds:
            part = run_world(w, range(args.seeds), n, log=lambda m: print(f"{n:>7} rows {m}", flush=True))
            result["runs"] += part["runs"]
            result["oracles"] += part["oracles"]
            result["wall_seconds"] = time.time() - t0
            _write_json_atomic(args.out, result)                  # after each size: a long run keeps its parts
    result["wall_seconds"] = time.time() - t0
    _write_json_atomic(args.out, result)
    print(f"wrote {args.out} ({result['wall_seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
