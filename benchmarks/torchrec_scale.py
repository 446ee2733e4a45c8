"""scale-train on 2 processes vs deepfm_np's train() in one: test AUC over seeds, and samples/s (extra `scale`).

    python -m benchmarks.torchrec_scale [--seeds 5] [--scale-seeds 3]

On the shared Criteo sample (../shared/data/criteo_sample): `train` fits the preprocessing, then both
sides train the same fresh model (the model's seeded init) for one epoch with Adagrad, lr 0.01, batch 256:
deepfm_np's train() in this process (1 thread), and `scale-train --world-size 2` (1 thread per process).
Reports each side's test AUC mean and standard deviation over seeds (the seed noise) and the ratio of
training samples/s (training loop only; process start, import and sharding excluded). On 2 shared cores,
2 processes test correctness, not speed-up.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from .common import parser, save, setup

ROOT = Path(__file__).resolve().parents[1]
CRITEO = ROOT.parent / "shared" / "data" / "criteo_sample"
SETTINGS = dict(optimizer="adagrad", lr=0.01, batch_size=256, epochs=1)


def single(model_path, seeds):
    from deepfm_np.commands.options import open_data
    from deepfm_np.data import encode
    from deepfm_np.data.dataset import ArrayDataset
    from deepfm_np.model_file import load_model
    from deepfm_np.models.registry import SPECS
    from deepfm_np.threads import set_threads
    from deepfm_np.train import TrainConfig, evaluate, train
    set_threads(1)
    saved = load_model(model_path)

    def read(p):
        d = encode(open_data(saved.reader, p), saved.encoder)
        return ArrayDataset(d.idx, d.val, d.y, d.layout, validate=False)

    tr, te = read(CRITEO / "train.txt"), read(CRITEO / "test.txt")
    out = []
    for s in seeds:
        m = SPECS[saved.model.name].build(saved.model.layout, dtype=saved.model.dtype, **dict(saved.model.config, seed=s))
        r = train(m, tr, None, TrainConfig(epochs=SETTINGS["epochs"], batch_size=SETTINGS["batch_size"],
                                           optimizer=SETTINGS["optimizer"], lr=SETTINGS["lr"], patience=0, seed=s,
                                           progress=False))
        ev = evaluate(m, te)
        out.append({"seed": s, "auc": ev["auc"], "logloss": ev["logloss"], "samples_per_second": r.samples_per_second})
    return out


def scaled(model_path, seeds, tmp):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = []
    for s in seeds:
        res = Path(tmp) / f"scale{s}.json"
        cmd = [sys.executable, "-m", "deepfm_np", "scale-train", "--model", str(model_path), "--train",
               str(CRITEO / "train.txt"), "--test", str(CRITEO / "test.txt"), "--out", str(Path(tmp) / f"s{s}.npz"),
               "--world-size", "2", "--fresh", "--seed", str(s), "--json", str(res), "--timeout", "600",
               "--optimizer", SETTINGS["optimizer"], "--lr", str(SETTINGS["lr"]),
               "--batch-size", str(SETTINGS["batch_size"]), "--epochs", str(SETTINGS["epochs"])]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
        if proc.returncode != 0:
            raise SystemExit(proc.stderr)
        r = json.loads(res.read_text())
        out.append({"seed": s, "auc": r["test"]["auc"], "logloss": r["test"]["logloss"],
                    "samples_per_second": r["samples_per_second"], "parity_before_training": r["parity_before_training"],
                    "parity_after_gather": r["parity_after_gather"], "versions": r["versions"],
                    "ranks": sorted({k for p in r["plan"].values() for k in p["ranks"]})})
    return out


def summary(runs):
    a = np.array([r["auc"] for r in runs])
    sps = np.array([r["samples_per_second"] for r in runs])
    return {"auc_mean": float(a.mean()), "auc_sd": float(a.std(ddof=1)) if len(a) > 1 else None,
            "logloss_mean": float(np.mean([r["logloss"] for r in runs])), "samples_per_second_median": float(np.median(sps))}


def main(argv=None):
    p = parser("torchrec_scale", __doc__)
    p.add_argument("--seeds", type=int, default=5, help="single-process seeds (default 5)")
    p.add_argument("--scale-seeds", type=int, default=3, help="2-process seeds (default 3)")
    args = p.parse_args(argv)
    if not CRITEO.is_dir():
        raise SystemExit(f"needs the shared Criteo sample at {CRITEO}")
    info = setup(args)
    from deepfm_np.cli import main as cli
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "start.npz"
        assert cli(["train", "--format", "criteo", "--train", str(CRITEO / "train.txt"), "--model", "deepfm", "--out",
                    str(model), "--epochs", "1", "--hidden", "32,32", "--embed-dim", "8", "--no-progress",
                    "--threads", "1"]) == 0
        one = single(model, range(args.seeds))
        two = scaled(model, range(args.scale_seeds), tmp)
    s1, s2 = summary(one), summary(two)
    res = {"settings": SETTINGS, "model": "deepfm K=8 hidden 32,32 keep 0.5", "single_process": one,
           "two_processes": two, "single_summary": s1, "two_summary": s2,
           "auc_difference": s2["auc_mean"] - s1["auc_mean"],
           "samples_per_second_ratio_2proc_over_1": s2["samples_per_second_median"] / s1["samples_per_second_median"]}
    print(f"single process ({args.seeds} seeds): test AUC {s1['auc_mean']:.4f} +- {s1['auc_sd']:.4f}, "
          f"{s1['samples_per_second_median']:,.0f} samples/s")
    print(f"2 processes ({args.scale_seeds} seeds):   test AUC {s2['auc_mean']:.4f} +- {s2['auc_sd'] or 0:.4f}, "
          f"{s2['samples_per_second_median']:,.0f} samples/s")
    print(f"AUC difference {res['auc_difference']:+.4f}; samples/s ratio 2 procs / 1 = "
          f"{res['samples_per_second_ratio_2proc_over_1']:.2f} (2 shared cores: correctness, not speed-up)")
    print(f"parity before training (max over runs): {max(r['parity_before_training'] for r in two):.2e}; "
          f"after gather: {max(r['parity_after_gather'] for r in two):.2e}; versions {two[0]['versions']}")
    save(args, info, res)


if __name__ == "__main__":
    main()
