"""The demo: LR, FM and DeepFM on synthetic Criteo-shaped data with a known answer.

The labels come from a hidden teacher (synthetic.py) with first-order effects,
pairwise interactions and a higher-order part, so the best possible test AUC
and log loss are known and printed next to each model's:

    LR      learns the first-order part only
    FM      adds the pairwise part
    DeepFM  can also learn (some of) the higher-order part

Everything is library calls; `python -m deepfm_np demo` runs `run_demo` and
prints its table.
"""
from __future__ import annotations

import time


from ..data.dataset import ArrayDataset
from ..models.registry import build_model
from .synthetic import make_splits, teacher_metrics
from ..train import TrainConfig, evaluate, train
from .plots import save, subplots

DEMO_MODELS = ("lr", "fm", "deepfm")

# Per-model training settings of the demo (the paper's architecture; lr and epochs are ours:
# the paper does not give them).
DEMO_TRAIN = {
    "lr": dict(optimizer="adam", lr=1e-2),
    "fm": dict(optimizer="adam", lr=3e-3),
    "deepfm": dict(optimizer="adam", lr=3e-3),
}


def make_demo_data(rows=250_000, data_seed=0):
    """(train, valid, test) ArrayDatasets and the teacher's test metrics, split 80/10/10.

    data_seed picks the synthetic world (the teacher) and the rows; the training seed is separate,
    so runs with several training seeds measure the models' own spread on the same data.
    """
    tr, va, te = make_splits(rows, data_seed)
    return ArrayDataset.from_data(tr), ArrayDataset.from_data(va), ArrayDataset.from_data(te), teacher_metrics(te)


def run_demo(rows=250_000, epochs=4, batch_size=1024, seed=0, data_seed=0, models=DEMO_MODELS, progress=True,
             eval_every=40, log=print):
    """Train each model; returns {"results": [...], "teacher": {...}, "curves": {...}, "config": {...}}.

    seed: initial weights, shuffling and dropout; data_seed: the synthetic world and its rows.
    """
    train_set, valid_set, test_set, teacher = make_demo_data(rows, data_seed)
    results, curves = [], {}
    for name in models:
        model = build_model(name, train_set.layout, seed=seed)
        cfg = TrainConfig(epochs=epochs, batch_size=batch_size, seed=seed, progress=progress,
                          eval_every=eval_every, patience=2 * max(1, _evals_per_epoch(train_set.n, batch_size,
                                                                                      eval_every)),
                          **DEMO_TRAIN.get(name, {}))
        t0 = time.perf_counter()
        res = train(model, train_set, valid_set, cfg)
        wall = time.perf_counter() - t0
        test = evaluate(model, test_set)
        row = {"model": name, "auc": test["auc"], "logloss": test["logloss"],
               "auc_gap_to_teacher": teacher["auc"] - test["auc"],
               "valid_auc": res.best["valid_auc"], "best_epoch": res.best["epoch"], "best_step": res.best["step"],
               "train_seconds": res.train_seconds, "wall_seconds": wall,
               "samples_per_second": res.samples_per_second, "params": model.n_params()}
        results.append(row)
        curves[name] = [{"samples": r["samples"], "valid_auc": r["valid_auc"],
                         "valid_logloss": r["valid_logloss"]} for r in res.history]
        if log:
            log(f"{name:7s} test AUC {test['auc']:.4f}  logloss {test['logloss']:.4f}  "
                f"({res.train_seconds:.1f} s training, {res.samples_per_second:,.0f} samples/s)")
    return {"results": results, "teacher": teacher, "curves": curves,
            "config": {"rows": rows, "epochs": epochs, "batch_size": batch_size, "seed": seed, "data_seed": data_seed,
                       "train_rows": train_set.n, "valid_rows": valid_set.n, "test_rows": test_set.n}}


def _evals_per_epoch(n, batch_size, eval_every):
    steps = -(-n // batch_size)
    return steps // eval_every if eval_every else 1


def format_table(report) -> str:
    """The demo's results as a Markdown table, the teacher (Bayes-optimal) last."""
    lines = ["| model | test AUC | test log loss | AUC gap to teacher | train s |",
             "| --- | --- | --- | --- | --- |"]
    for r in report["results"]:
        lines.append(f"| {r['model']} | {r['auc']:.4f} | {r['logloss']:.4f} | {r['auc_gap_to_teacher']:.4f} "
                     f"| {r['train_seconds']:.1f} |")
    t = report["teacher"]
    lines.append(f"| teacher (Bayes-optimal) | {t['auc']:.4f} | {t['logloss']:.4f} | 0 | - |")
    return "\n".join(lines)


def plot_curves(report, path):
    """Validation AUC against training samples seen, one line per model, the teacher dashed."""
    fig, ax = subplots(figsize=(7, 4.2))
    for name, pts in report["curves"].items():
        ax.plot([p["samples"] for p in pts], [p["valid_auc"] for p in pts], marker=".", label=name)
    ax.axhline(report["teacher"]["auc"], color="k", ls="--", lw=1, label="teacher (Bayes-optimal, test)")
    ax.set_xlabel("training samples seen")
    ax.set_ylabel("validation AUC")
    ax.set_title("deepfm_np demo: synthetic Criteo-shaped data with a known teacher")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(0.0, 0.93), fontsize=9)   # the empty band below the teacher
    save(fig, path)
    return path
