"""The paper's Table 2 and efficiency figure, rerun at laptop scale.

Trains every model of Table 2 (and DeepFM's two stop-gradient ablations) on
one data set, over several seeds, and tabulates test AUC and log loss (mean
and spread over seeds), training time relative to LR and parameter counts,
beside the paper's Criteo numbers. From a notebook:

    from deepfm_np.experiments.paper_table import CompareConfig, compare, write_results
    res = compare(CompareConfig(models=("lr", "fm", "deepfm"), rows=50_000, seeds=2))
    res.rows                      # one dict per model (auc_mean, auc_std, ..., time_vs_lr, params)
    write_results(res, "out/")    # results.md, results.csv, results.json, auc.png, time.png

`python -m deepfm_np compare` is this module with command-line options.

What the numbers mean.
- Seeds change the initial weights, the shuffling and the dropout masks; the
  data (and its train/valid/test split) stays fixed, so the spread is the
  training noise, not the sampling noise of the test set.
- Each run trains with early stopping on the validation split and restores the
  best epoch; AUC and log loss are measured on the test split.
- time_vs_lr is training time PER EPOCH (forward + backward + update, no
  validation) relative to LR's, so early stopping after different numbers of
  epochs does not distort it. It is CPU time of the process (time.process_time),
  which a busy machine disturbs far less than wall time (wall-clock ratios of
  identical runs moved by up to 50% on a shared 2-core machine); with several
  threads it sums their time, i.e. it measures work. FNN's includes its FM pre-training (per epoch of
  stage 1, added to per epoch of stage 2; pretrain_vs_lr is stage 1 alone), as
  the paper's figure counts both stages.
- LR is trained with FTRL-Proximal as in the paper (lr_optimizer, ftrl_*);
  every other model with Adam.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from ..data.atomic import write_text
from ..data.dataset import ArrayDataset
from ..metrics import summary
from ..models.registry import LABELS, build_model, default, model_names
from ..optim import make_optimizer
from ..train import TrainConfig, predict, train
from .plots import save, subplots
from .verdicts import auc_se, ordering

TABLE2 = ("lr", "fm", "fnn", "ipnn", "opnn", "pnn", "lr_dnn", "fm_dnn", "deepfm")
ABLATIONS = ("deepfm_dnn_only", "deepfm_fm_only")

# The paper's numbers (Guo et al. 2017, Table 2 and the efficiency figure of arXiv v1), never ours.
PAPER_CRITEO = {"lr": (0.7686, 0.47762), "fm": (0.7892, 0.46077), "fnn": (0.7963, 0.45738),
                "ipnn": (0.7972, 0.45323), "opnn": (0.7982, 0.45256), "pnn": (0.7987, 0.45214),
                "lr_dnn": (0.7981, 0.46772), "fm_dnn": (0.7850, 0.45382), "deepfm": (0.8007, 0.45083)}
PAPER_TIME_CPU = {"lr": 1.0, "fnn": 1.89 + 1.32, "lr_dnn": 1.89, "fm_dnn": 2.15, "ipnn": 37.61,
                  "opnn": 1.92, "pnn": 30.44, "deepfm": 2.00}     # FNN: train 1.89 + FM pre-train 1.32
PAPER_PRETRAIN_CPU = {"fnn": 1.32}


@dataclass
class CompareConfig:
    models: tuple = TABLE2 + ABLATIONS
    seeds: int = 3                      # runs per model, seeds 0 .. seeds-1
    data: str = "synthetic"             # "synthetic" or "criteo:DIR" (DIR/train.txt, DIR/test.txt, ...)
    rows: int = 250_000                 # synthetic rows, split 80/10/10
    data_seed: int = 0                  # the synthetic world and its split (fixed across seeds)
    epochs: int = 3                     # at most (early stopping on validation AUC)
    patience: int = 1
    batch_size: int = 1024
    optimizer: str = "adam"             # every model except LR
    lr: float = 3e-3
    l2_embed: float = 0.0
    embed_dim: int = default("embed_dim")   # the models' own (the paper's K = 10)
    hidden: tuple = (200, 200, 200)     # the paper: 400-400-400 (half the width: 4x less work per layer)
    keep_prob: float = 0.7              # probability of KEEPING a unit (the paper's "dropout"; it used 0.5)
    activation: str | None = None       # None: each model's default (tanh for IPNN, relu for the rest)
    lr_optimizer: str = "ftrl"          # LR's optimizer, as in the paper
    ftrl_alpha: float = 1.0             # large because gradients are batch means (about 1/batch per row)
    ftrl_l1: float = 0.0
    ftrl_l2: float = 0.0
    progress: bool = False              # per-batch progress bars

    def __post_init__(self):
        self.models = tuple(self.models)
        self.hidden = tuple(int(h) for h in self.hidden)
        unknown = [m for m in self.models if m not in model_names()]
        if unknown:
            raise ValueError(f"unknown model(s) {', '.join(unknown)}; valid models: {', '.join(model_names())}")
        if not self.models:
            raise ValueError("no models to compare")
        if self.seeds < 1 or self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"seeds, epochs and batch size must be >= 1, got {self.seeds}, {self.epochs}, "
                             f"{self.batch_size}")
        if not 0.0 < self.keep_prob <= 1.0:
            raise ValueError(f"keep probability must be in (0, 1], got {self.keep_prob}")
        if not (self.lr > 0 and self.ftrl_alpha > 0):
            raise ValueError(f"learning rates must be > 0, got lr {self.lr}, FTRL alpha {self.ftrl_alpha}")
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"hidden sizes must be positive, got {self.hidden}")


@dataclass
class Splits:
    """train / valid / test ArrayDatasets of one data set, its name and facts about it (info)."""
    train: object
    valid: object
    test: object
    name: str
    info: dict = field(default_factory=dict)


@dataclass
class CompareResult:
    rows: list            # one dict per model, in the order asked for
    runs: list            # one dict per (model, seed)
    info: dict            # the data: sizes, and for synthetic data the teacher's scores
    config: dict


# ---- data ----------------------------------------------------------------------------------------
def load_data(spec="synthetic", rows=250_000, seed=0) -> Splits:
    """The data set named by `spec`, split into train / valid / test.

    "synthetic"    make_synthetic(rows, seed) split 80/10/10; info has the teacher's Bayes-optimal
                   test AUC/log loss and the oracle AUCs of its parts (what LR / FM could reach at best)
    "criteo:DIR"   DIR/train.txt, DIR/test.txt and DIR/dev.txt (or a 10% holdout of train.txt);
                   the encoder is fitted on the training rows only
    """
    if spec == "synthetic":
        from .synthetic import make_splits, partial_aucs, teacher_metrics
        tr, va, te = make_splits(rows, seed)
        t = teacher_metrics(te)
        info = {"rows": {"train": len(tr), "valid": len(va), "test": len(te)},
                "teacher_auc": t["auc"], "teacher_logloss": t["logloss"],
                "oracle_auc": partial_aucs(te), "table_rows": tr.layout.n_rows}
        sets = [ArrayDataset.from_data(d) for d in (tr, va, te)]
        return Splits(*sets, "synthetic", {**info, "test_positives": _positives(sets[2])})
    if spec.startswith("criteo:"):
        return _load_criteo(spec.split(":", 1)[1], seed)
    raise ValueError(f"unknown data {spec!r}; use 'synthetic' or 'criteo:DIR' "
                     f"(DIR holding train.txt and test.txt, optionally dev.txt)")


def _load_criteo(directory, seed):
    from ..data import HoldoutReader, encode, fit_encoder, open_reader
    path = lambda name: os.path.join(directory, name)                                   # noqa: E731
    for need in ("train.txt", "test.txt"):
        if not os.path.isfile(path(need)):
            raise ValueError(f"criteo data: {path(need)} not found (need train.txt and test.txt in {directory})")
    if os.path.isfile(path("dev.txt")):
        train_r, valid_r = open_reader("criteo", path("train.txt")), open_reader("criteo", path("dev.txt"))
    else:
        train_r = HoldoutReader(open_reader("criteo", path("train.txt")), 0.1, seed, "train")
        valid_r = HoldoutReader(open_reader("criteo", path("train.txt")), 0.1, seed, "valid")
    enc = fit_encoder(train_r)
    parts = [encode(r, enc) for r in (train_r, valid_r, open_reader("criteo", path("test.txt")))]
    sets = [ArrayDataset(p.idx, p.val, p.y, p.layout) for p in parts]
    info = {"rows": dict(zip(("train", "valid", "test"), (s.n for s in sets))), "table_rows": enc.layout.n_rows,
            "test_positives": _positives(sets[2])}
    return Splits(*sets, f"criteo:{directory}", info)


def _positives(data) -> int:
    """Positive test rows: with the row count they set the test-set noise of an AUC (verdicts.auc_se)."""
    return int(np.count_nonzero(np.asarray(data.y) == 1))


# ---- one run -------------------------------------------------------------------------------------
def run_one(name, splits: Splits, cfg: CompareConfig, seed=0, **overrides) -> dict:
    """Train model `name` with `seed` (and model keywords `overrides`); its test scores and timings."""
    kw = dict(embed_dim=cfg.embed_dim, hidden=cfg.hidden, keep_prob=cfg.keep_prob,
              activation=cfg.activation, seed=seed)
    kw.update(overrides)
    model = build_model(name, splits.train.layout, **kw)
    tcfg = TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, optimizer=cfg.optimizer, lr=cfg.lr,
                       l2_embed=cfg.l2_embed, patience=cfg.patience, seed=seed, progress=cfg.progress)
    opt = None
    if name == "lr" and cfg.lr_optimizer == "ftrl":
        opt = make_optimizer("ftrl", model.params, sparse=model.sparse_params, lr=cfg.ftrl_alpha,
                             l1=cfg.ftrl_l1, l2=cfg.ftrl_l2)
    elif name == "lr":
        opt = make_optimizer(cfg.lr_optimizer, model.params, sparse=model.sparse_params, lr=cfg.lr)
    t0 = time.perf_counter()
    res = train(model, splits.train, splits.valid, tcfg, optimizer=opt)
    wall = time.perf_counter() - t0
    p = predict(model, splits.test)                                   # (N,) in test-row order
    y = np.asarray(splits.test.y, dtype=np.float64)
    test = summary(y, p)                                              # AUC, log loss and calibration
    eps = 1e-12
    q = np.clip(p, eps, 1 - eps)
    row_loss = -(y * np.log(q) + (1 - y) * np.log1p(-q))              # (N,): its mean is the log loss
    epochs = len(res.history)
    stage2 = (res.train_cpu_seconds - res.pretrain_cpu_seconds) / max(epochs, 1)       # CPU seconds
    pre = model.pretrain_result
    pre_per_epoch = res.pretrain_cpu_seconds / max(len(pre.history), 1) if pre is not None else 0.0
    return {"model": name, "seed": seed, "auc": test["auc"], "logloss": test["logloss"],
            # test-set noise of the log loss: the standard error of a mean of N per-row losses
            "logloss_se": float(row_loss.std(ddof=1) / math.sqrt(len(row_loss))),
            "ece": test["ece"], "mean_prediction": test["mean_prediction"], "observed_rate": test["observed_rate"],
            "valid_auc": res.best["valid_auc"] if res.best else float("nan"),
            "best_epoch": res.best["epoch"] if res.best else epochs, "epochs": epochs,
            "train_seconds": res.train_seconds, "pretrain_seconds": res.pretrain_seconds,
            "seconds_per_epoch": stage2 + pre_per_epoch, "pretrain_seconds_per_epoch": pre_per_epoch,
            "wall_seconds": wall, "params": model.n_params(), **{k: _jsonable(v) for k, v in overrides.items()}}


def _jsonable(v):
    return list(v) if isinstance(v, tuple) else v


# ---- many runs -----------------------------------------------------------------------------------
def summarize(runs, models=None) -> list:
    """Aggregate per-seed runs into one row per model (std over seeds with ddof=1; 0 for one seed)."""
    models = list(models or dict.fromkeys(r["model"] for r in runs))
    by = {m: [r for r in runs if r["model"] == m] for m in models}
    lr_time = float(np.mean([r["seconds_per_epoch"] for r in by["lr"]])) if by.get("lr") else None
    rows = []
    for m in models:
        rs = by[m]
        if not rs:
            continue
        auc, ll = np.array([r["auc"] for r in rs]), np.array([r["logloss"] for r in rs])
        spe = float(np.mean([r["seconds_per_epoch"] for r in rs]))
        pre = float(np.mean([r["pretrain_seconds_per_epoch"] for r in rs]))
        paper = PAPER_CRITEO.get(m, (None, None))
        calib = {}                                   # runs older than calibration in run_one lack these
        if all("ece" in r for r in rs):
            ece = np.array([r["ece"] for r in rs])
            calib = {"ece_mean": float(ece.mean()), "ece_std": _std(ece),
                     "mean_prediction_mean": float(np.mean([r["mean_prediction"] for r in rs])),
                     "observed_rate": float(rs[0]["observed_rate"]),
                     "logloss_se": float(np.mean([r["logloss_se"] for r in rs]))}
        rows.append({
            "model": m, "label": LABELS.get(m, m), "seeds": len(rs),
            "auc_mean": float(auc.mean()), "auc_std": _std(auc),
            "logloss_mean": float(ll.mean()), "logloss_std": _std(ll),
            "seconds_per_epoch": spe, "time_vs_lr": spe / lr_time if lr_time else None,
            "pretrain_vs_lr": (pre / lr_time if lr_time else None) if pre else None,
            "epochs_mean": float(np.mean([r["epochs"] for r in rs])), "params": int(rs[0]["params"]),
            "paper_auc": paper[0], "paper_logloss": paper[1],
            "paper_time_vs_lr_cpu": PAPER_TIME_CPU.get(m), "paper_pretrain_vs_lr_cpu": PAPER_PRETRAIN_CPU.get(m),
            **calib})
    return rows


def _std(a):
    return float(a.std(ddof=1)) if a.size > 1 else 0.0


def warm_up(splits: Splits, cfg: CompareConfig, models=None):
    """Train each model once on a few hundred rows, untimed, so that loading the compiled Numba kernels
    (a fraction of a second, paid once per process) is not charged to the first timed run (usually LR's)."""
    tiny = Splits(*(d.take(np.arange(min(d.n, 512))) for d in (splits.train, splits.valid, splits.test)), "warm-up")
    quiet = CompareConfig(**{**asdict(cfg), "epochs": 1, "progress": False})
    for name in dict.fromkeys(models or cfg.models):
        run_one(name, tiny, quiet, 0)


def compare(cfg: CompareConfig | None = None, splits: Splits | None = None, log=None) -> CompareResult:
    """Train cfg.models x cfg.seeds runs on one data set (loaded from cfg unless `splits` is given).

    log: optional callable(str), called once per finished run.
    """
    cfg = cfg or CompareConfig()
    splits = splits or load_data(cfg.data, cfg.rows, cfg.data_seed)
    warm_up(splits, cfg)
    runs = []
    for name in cfg.models:
        for seed in range(cfg.seeds):
            r = run_one(name, splits, cfg, seed)
            runs.append(r)
            if log:
                log(f"{name:16s} seed {seed}  test AUC {r['auc']:.4f}  logloss {r['logloss']:.4f}  "
                    f"{r['epochs']} epoch(s), {r['train_seconds']:.1f} s training")
    conf = asdict(cfg)
    return CompareResult(summarize(runs, cfg.models), runs, {"data": splits.name, **splits.info}, conf)


# ---- files ---------------------------------------------------------------------------------------
def _fmt(x, spec):
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def format_markdown(res: CompareResult, command=None) -> str:
    """results.md: our table beside the paper's Criteo numbers, and the two rankings."""
    c, info = res.config, res.info
    out = ["# Model comparison: the paper's Table 2 and efficiency figure, rerun by deepfm_np", ""]
    if command:
        out += ["Generated by:", "", f"    {command}", ""]
    n = info["rows"]
    out.append(f"Data: **{info['data']}**, {n['train']:,} train / {n['valid']:,} validation / {n['test']:,} test "
               f"rows, {info['table_rows']:,} table rows. Seeds 0..{c['seeds'] - 1} (initial weights, shuffling, "
               f"dropout); the data and split are fixed.")
    if "teacher_auc" in info:
        o = info["oracle_auc"]
        out.append(f"The synthetic labels come from a known teacher: Bayes-optimal test AUC "
                   f"{info['teacher_auc']:.4f} / log loss {info['teacher_logloss']:.4f}. Oracle AUC of the "
                   f"teacher's first-order part alone {o['first_order']:.4f} (about the best LR can do), with the "
                   f"pairwise part {o['first_order+pairwise']:.4f} (about the best FM can do).")
    out.append(f"Settings: embedding {c['embed_dim']}, hidden {'-'.join(map(str, c['hidden']))}, keep probability "
               f"{c['keep_prob']}, activation {c['activation'] or 'relu (IPNN: tanh)'}, {c['optimizer']} "
               f"lr {c['lr']:g} (LR: {c['lr_optimizer']}"
               + (f" alpha {c['ftrl_alpha']:g}, l1 {c['ftrl_l1']:g}, l2 {c['ftrl_l2']:g}" if c['lr_optimizer'] == "ftrl"
                  else "") + f"), batch {c['batch_size']}, at most {c['epochs']} epochs with early stopping "
               f"(patience {c['patience']}).")
    out.append("(The paper: 400-400-400, keep probability 0.5, embedding 10, Adam; LR with FTRL; 45M Criteo rows.)")
    calib = all("ece_mean" in r for r in res.rows)
    out += ["", "| model | test AUC (ours) | test log loss (ours) | "
                + ("ECE (ours) | mean p / observed (ours) | " if calib else "")
                + "CPU time / epoch vs LR (ours) | CPU s / epoch (ours) "
                "| params (ours) | AUC (paper, Criteo) | log loss (paper, Criteo) | time vs LR (paper, CPU) |",
            "| --- " * (11 if calib else 9) + "|"]
    for r in res.rows:
        cal = (f" {r['ece_mean']:.4f} ± {r['ece_std']:.4f} | {r['mean_prediction_mean']:.4f} / "
               f"{r['observed_rate']:.4f} |" if calib else "")
        t = _fmt(r["time_vs_lr"], ".2f") + (f" (FM pre-train {r['pretrain_vs_lr']:.2f})" if r["pretrain_vs_lr"] else "")
        pt = _fmt(r["paper_time_vs_lr_cpu"], ".2f") + (
            f" (pre-train {r['paper_pretrain_vs_lr_cpu']:.2f})" if r["paper_pretrain_vs_lr_cpu"] else "")
        out.append(f"| {r['label']} | {r['auc_mean']:.4f} ± {r['auc_std']:.4f} | {r['logloss_mean']:.4f} ± "
                   f"{r['logloss_std']:.4f} |{cal} {t} | {r['seconds_per_epoch']:.2f} | {r['params']:,} | {_fmt(r['paper_auc'], '.4f')} | "
                   f"{_fmt(r['paper_logloss'], '.5f')} | {pt} |")
    out += ["", "± is the standard deviation over seeds. "
            + ("ECE is the expected calibration error over 10 bins of p; mean p / observed is the mean predicted "
               "probability against the test rows' click rate. " if calib else
               "Calibration (ECE, mean prediction against the observed rate) was not recorded by this run: it "
               "predates `compare` keeping it, and the next run records it beside AUC and log loss. ")
            + "The paper's columns are copied from its Table 2 "
            "(Criteo, 45M rows) and its efficiency figure (arXiv v1, CPU); they are NOT our measurements.", ""]
    out += format_orderings(res.rows, info)
    paper = sorted((r for r in res.rows if r["paper_auc"]), key=lambda r: -r["paper_auc"])
    gaps = [a["paper_auc"] - b["paper_auc"] for a, b in zip(paper, paper[1:])]
    out += [f"The paper's order of its own Criteo AUCs: {' > '.join(r['label'] for r in paper)}. It reports one "
            f"number per model and no spread over seeds, so this order is the paper's claim, not one its shown noise "
            f"resolves" + (f" (neighbouring gaps as small as {min(gaps):.4f})" if gaps else "") + ".", "",
            "![test AUC per model](auc.png)", "", "![training time relative to LR](time.png)", ""]
    return "\n".join(out)


def format_orderings(rows, info) -> list:
    """Markdown lines: which models the measured noise puts above which, by AUC and by log loss.

    Never a full ranking: an ordering is stated only for a pair whose difference exceeds its noise
    threshold (verdicts.ordering: seeds, plus the test-set standard error when the run recorded it).
    """
    n_test, n_pos = info["rows"]["test"], info.get("test_positives")
    se_auc = (lambda a: auc_se(a, n_pos, n_test - n_pos)) if n_pos else (lambda a: None)     # noqa: E731
    items = lambda key, se: [{"name": r["label"], "mean": r[f"{key}_mean"], "sd": r[f"{key}_std"],  # noqa: E731
                              "n": r["seeds"], "se": se(r)} for r in rows]
    auc_noise = (f"the Hanley-McNeil test-set standard error of each AUC ({n_pos:,} positive and "
                 f"{n_test - n_pos:,} negative test rows)" if n_pos else
                 "no test-set term (this run did not record its test positives), so only seed noise counts")
    out = ["Orderings the noise resolves. A model is put above another only where their difference exceeds "
           "2 sqrt(sd_a²/n_a + sd_b²/n_b + se_a² + se_b²): sd over the n seeds, se " + auc_noise + ". The two "
           "models' test errors are counted as independent, which overstates the noise of a difference on the "
           "same rows: a pair listed as resolved is resolved; an unresolved pair may still differ, but this run "
           "cannot show it.", ""]
    have_ll_se = all("logloss_se" in r for r in rows)
    tables = [("test AUC (higher is better)", items("auc", lambda r: se_auc(r["auc_mean"])), True)]
    if have_ll_se:
        tables.append(("test log loss (lower is better; se: standard error of the mean per-row loss)",
                       items("logloss", lambda r: r["logloss_se"]), False))
    for title, its, higher in tables:
        order = ordering(its, higher_is_better=higher)
        tied = [o["name"] for o in order if o["tied_with_best"]]
        out += [f"By {title}: not resolved from the best ({order[0]['name']}): {', '.join(tied)}.", "",
                "| model | mean | resolved better than | resolved worse than | not resolved against |",
                "| --- | --- | --- | --- | --- |"]
        out += [f"| {o['name']} | {o['mean']:.4f} | {', '.join(o['above']) or '-'} | {', '.join(o['below']) or '-'} | "
                f"{', '.join(o['unresolved']) or '-'} |" for o in order]
        out.append("")
    if not have_ll_se:
        out += ["By log loss no ordering is stated: this run did not record the test-set noise of its log losses "
                "(the next `compare` run does), and seed noise alone would overstate what is resolved.", ""]
    return out


def write_results(res: CompareResult, out_dir, command=None) -> dict:
    """Write results.md, results.csv, results.json (the rows), runs.json (every run) and two PNGs."""
    os.makedirs(out_dir, exist_ok=True)
    p = {k: os.path.join(out_dir, f) for k, f in (("md", "results.md"), ("csv", "results.csv"),
                                                  ("json", "results.json"), ("runs", "runs.json"),
                                                  ("auc_png", "auc.png"), ("time_png", "time.png"))}
    write_text(p["md"], format_markdown(res, command))
    write_csv(res.rows, p["csv"])
    write_text(p["json"], json.dumps(res.rows, indent=2))
    write_text(p["runs"], json.dumps({"config": res.config, "info": res.info, "runs": res.runs,
                                      "command": command}, indent=2))
    plot_auc(res.rows, p["auc_png"], res.info)
    plot_time(res.rows, p["time_png"])
    return p


def rewrite_markdown(out_dir) -> str:
    """results.md regenerated from the runs.json a compare run wrote: new wording, the same measured runs.

    Nothing is trained. A runs.json older than `test_positives` in the data facts gets it filled in
    from its synthetic data (regenerated from the recorded rows and data seed, a few seconds), since it
    sets the test-set noise of every AUC; for other data the orderings then count seed noise only.
    """
    runs_path, md_path = os.path.join(out_dir, "runs.json"), os.path.join(out_dir, "results.md")
    with open(runs_path) as f:
        saved = json.load(f)
    cfg, info, runs = saved["config"], saved["info"], saved["runs"]
    if "test_positives" not in info and info.get("data") == "synthetic":
        splits = load_data("synthetic", cfg["rows"], cfg["data_seed"])
        if splits.info["rows"] != info["rows"]:
            raise ValueError(f"{runs_path}: its synthetic data no longer regenerates with the recorded sizes "
                             f"{info['rows']} (got {splits.info['rows']})")
        info["test_positives"] = splits.info["test_positives"]
        write_text(runs_path, json.dumps(saved, indent=2))
    md = format_markdown(CompareResult(summarize(runs, cfg["models"]), runs, info, cfg), saved.get("command"))
    write_text(md_path, md)
    return md


def write_csv(rows, path):
    keys = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO(newline="")                        # built in memory, then written atomically
    w = csv.DictWriter(buf, fieldnames=keys)
    w.writeheader()
    w.writerows(rows)
    write_text(path, buf.getvalue())


def plot_auc(rows, path, info=None):
    """Test AUC per model, mean with a ±1 std error bar; the synthetic teacher's AUC dashed."""
    fig, ax = subplots(figsize=(max(6, 0.8 * len(rows) + 4), 4.2))
    x = np.arange(len(rows))
    ax.errorbar(x, [r["auc_mean"] for r in rows], yerr=[r["auc_std"] for r in rows], fmt="o", capsize=4,
                label="ours (mean ± std over seeds)")
    if info and "teacher_auc" in info:
        ax.axhline(info["teacher_auc"], color="k", ls="--", lw=1, label="teacher (Bayes-optimal)")
        ax.axhline(info["oracle_auc"]["first_order"], color="gray", ls=":", lw=1, label="oracle first-order part")
        ax.axhline(info["oracle_auc"]["first_order+pairwise"], color="gray", ls="-.", lw=1,
                   label="oracle first-order + pairwise")
    ax.set_xticks(x, [r["label"] for r in rows], rotation=30, ha="right")
    ax.set_ylabel("test AUC")
    ax.set_title(f"Test AUC per model ({info['data'] if info else ''})")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    save(fig, path)
    return path


def plot_time(rows, path):
    """Training time per epoch relative to LR: ours beside the paper's CPU figure (log scale)."""
    rows = [r for r in rows if r["time_vs_lr"] is not None]
    fig, ax = subplots(figsize=(max(6, 0.8 * len(rows) + 2), 4.2))
    x = np.arange(len(rows))
    ours = np.array([r["time_vs_lr"] for r in rows])
    pre = np.array([r["pretrain_vs_lr"] or 0.0 for r in rows])
    ax.bar(x - 0.2, ours - pre, 0.4, label="ours")
    if pre.any():
        ax.bar(x - 0.2, pre, 0.4, bottom=ours - pre, label="ours: FNN's FM pre-training", color="C0", alpha=0.5)
    paper = [r["paper_time_vs_lr_cpu"] or np.nan for r in rows]
    ax.bar(x + 0.2, paper, 0.4, label="paper (Criteo, CPU)", color="C1")
    ax.set_yscale("log")
    ax.set_ylim(bottom=0.5)                                  # LR's bar (1.0) stays visible
    ax.set_xticks(x, [r["label"] for r in rows], rotation=30, ha="right")
    ax.set_ylabel("training time per epoch / LR's")
    ax.set_title("Training time relative to LR")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    save(fig, path)
    return path
