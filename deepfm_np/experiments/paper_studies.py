"""The paper's hyper-parameter studies (Section 3.3), rerun at laptop scale.

Each study varies one setting of the deep part and keeps the rest at the
`compare` defaults:

    activation  relu vs tanh                       (paper: relu wins except for IPNN)
    dropout     keep probability 1.0 .. 0.5        (paper: best between 0.6 and 0.9)
    neurons     units per hidden layer 100 .. 800  (paper: 200-400 best; more overfits)
    layers      1 .. 7 hidden layers               (paper: up to about 3 helps, then overfits)
    shape       constant / increasing / decreasing / diamond, same depth and total units
                (paper: constant is best)

For the shapes we keep 3 hidden layers and 3H units in all (H = the width of the
base network): constant H-H-H, increasing H/2-H-3H/2, decreasing 3H/2-H-H/2,
diamond 3H/4-3H/2-3H/4 (for H = 200: 200-200-200, 100-200-300, 300-200-100,
150-300-150).

    from deepfm_np.experiments.paper_studies import sweep
    res = sweep("dropout", CompareConfig(models=("deepfm",), rows=50_000, seeds=1))
    res.rows                  # one dict per (setting, model): auc_mean, auc_std, logloss_mean, ...
    write_sweep(res, "out/")  # sweep_dropout.png / .json / .csv

The paper ran these studies on its Company* data set, which is not public, so
only its qualitative findings (above) can be compared.

Each study trains every model at every setting: its run time grows with both
(docs/DESIGN.md, "Measured", has the times of the defaults); `--quick` takes seconds.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

import numpy as np

from .paper_table import CompareConfig, Splits, load_data, run_one, summarize, warm_up, write_csv
from ..models.registry import DEEP_MODELS, LABELS
from .plots import save, subplots

STUDIES = ("activation", "dropout", "neurons", "layers", "shape")
PAPER_FINDING = {
    "activation": "relu beats tanh for every deep model except IPNN",
    "dropout": "best keep probability between 0.6 and 0.9",
    "neurons": "200-400 units per layer is the sweet spot; more overfits",
    "layers": "more layers help up to about 3, then overfit",
    "shape": "constant is best",
}


def study_settings(study, hidden=(100, 100, 100), quick=False) -> list:
    """[(label, model keyword overrides)] of a study; `hidden` is the base network."""
    H, depth = int(hidden[0]), len(hidden)
    if study == "activation":
        return [(a, {"activation": a}) for a in ("relu", "tanh")]
    if study == "dropout":
        keeps = (1.0, 0.7, 0.5) if quick else (1.0, 0.9, 0.8, 0.7, 0.6, 0.5)
        return [(f"{k:g}", {"keep_prob": k}) for k in keeps]
    if study == "neurons":
        sizes = (H, 2 * H) if quick else (100, 200, 400, 800)
        return [(str(n), {"hidden": (n,) * depth}) for n in sizes]
    if study == "layers":
        depths = (1, 2) if quick else (1, 2, 3, 5, 7)
        return [(str(d), {"hidden": (H,) * d}) for d in depths]
    if study == "shape":
        h = lambda f: max(1, int(round(f * H)))                      # noqa: E731
        shapes = {"constant": (h(1), h(1), h(1)), "increasing": (h(.5), h(1), h(1.5)),
                  "decreasing": (h(1.5), h(1), h(.5)), "diamond": (h(.75), h(1.5), h(.75))}
        return [(f"{k} {'-'.join(map(str, v))}", {"hidden": v}) for k, v in shapes.items()]
    raise ValueError(f"unknown study {study!r}; choose one of {', '.join(STUDIES)}")


@dataclass
class SweepResult:
    study: str
    rows: list            # one dict per (setting, model)
    runs: list            # one dict per (setting, model, seed)
    info: dict
    config: dict


def sweep(study, cfg: CompareConfig | None = None, splits: Splits | None = None, quick=False, log=None) -> SweepResult:
    """Run `study` for every model in cfg.models (deep models only) over cfg.seeds seeds."""
    cfg = cfg or CompareConfig(models=("deepfm",))
    shallow = [m for m in cfg.models if m not in DEEP_MODELS]
    if shallow:
        raise ValueError(f"sweep studies the deep part; {', '.join(shallow)} has none. "
                         f"Deep models: {', '.join(DEEP_MODELS)}")
    settings = study_settings(study, cfg.hidden, quick)
    splits = splits or load_data(cfg.data, cfg.rows, cfg.data_seed)
    warm_up(splits, cfg)
    rows, runs = [], []
    for label, over in settings:
        these = []
        for name in cfg.models:
            for seed in range(cfg.seeds):
                r = {**run_one(name, splits, cfg, seed, **over), "setting": label}
                these.append(r)
                if log:
                    log(f"{study} {label:>22s}  {name:16s} seed {seed}  test AUC {r['auc']:.4f}  "
                        f"logloss {r['logloss']:.4f}  {r['train_seconds']:.1f} s")
        runs += these
        for row in summarize(these, cfg.models):
            rows.append({"study": study, "setting": label, **{k: row[k] for k in (
                "model", "label", "seeds", "auc_mean", "auc_std", "logloss_mean", "logloss_std",
                "seconds_per_epoch", "epochs_mean", "params")}})
    return SweepResult(study, rows, runs, {"data": splits.name, **splits.info}, asdict(cfg))


def write_sweep(res: SweepResult, out_dir, command=None) -> dict:
    """sweep_<study>.json (rows), sweep_<study>.csv, sweep_<study>_runs.json and sweep_<study>.png."""
    os.makedirs(out_dir, exist_ok=True)
    base = os.path.join(out_dir, f"sweep_{res.study}")
    p = {"json": base + ".json", "csv": base + ".csv", "runs": base + "_runs.json", "png": base + ".png"}
    with open(p["json"], "w") as f:
        json.dump(res.rows, f, indent=2)
    write_csv(res.rows, p["csv"])
    with open(p["runs"], "w") as f:
        json.dump({"study": res.study, "config": res.config, "info": res.info, "runs": res.runs,
                   "command": command, "paper_finding": PAPER_FINDING[res.study]}, f, indent=2)
    plot_sweep(res, p["png"])
    return p


def plot_sweep(res: SweepResult, path):
    """The paper's figure style: AUC (left) and log loss (right) against the setting, one line per model."""
    settings = list(dict.fromkeys(r["setting"] for r in res.rows))
    models = list(dict.fromkeys(r["model"] for r in res.rows))
    x = np.arange(len(settings))
    fig, axes = subplots(1, 2, figsize=(11, 4.2))
    for ax, metric, name in ((axes[0], "auc", "test AUC"), (axes[1], "logloss", "test log loss")):
        for i, m in enumerate(models):
            pts = {r["setting"]: r for r in res.rows if r["model"] == m}
            y = [pts[s][f"{metric}_mean"] for s in settings]
            e = [pts[s][f"{metric}_std"] for s in settings]
            ax.errorbar(x, y, yerr=e, marker="os^vD<>ph"[i % 9], capsize=3, label=LABELS.get(m, m))
        ax.set_xticks(x, settings, rotation=20 if len(max(settings, key=len)) > 6 else 0)
        ax.set_xlabel(res.study if res.study != "dropout" else "keep probability (the paper's 'dropout')")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Section 3.3 study '{res.study}' on {res.info['data']} "
                 f"(paper, on its Company* data: {PAPER_FINDING[res.study]})", fontsize=9)
    save(fig, path)
    return path
