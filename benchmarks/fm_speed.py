"""FM and LR training speed and AUC against xLearn's FM on the same Criteo-format file, in one run.

A 200k-row Criteo-format text file is written from the synthetic teacher (benchmarks.epoch_1m, not timed)
and cut into train / valid / test (80 / 10 / 10%). deepfm_np's Criteo reader fits the encoder on the
train part and encodes all three; xLearn (when installed: `USER=root pip install xlearn==0.40a1`, its
C++ needs the USER variable at run time too) reads the very same encoded features as libSVM text
(`label row:value ...`), so both train on identical inputs.

Speed, in alternating rounds (each round: our FM fused, our FM readable, our LR fused, xLearn's FM):
one thread each; ours is one shuffled epoch through train.train (batching and shuffling included,
validation excluded), xLearn's is the mean of its own per-epoch "Time cost" column over 2 epochs
without a validation set (its text parsing is cached to a .bin file first, not timed). Ratios are
the median of the per-round ratios.

Quality, once each: test AUC and log loss after training with early stopping on the valid part
(ours: patience 2, up to 10 epochs; xLearn: its own early stopping, 10 epochs, its defaults
lr 0.2, lambda 2e-5, adagrad, instance normalisation). A 20k-row test AUC is noisy (se ~0.004): each AUC
gets its Hanley-McNeil standard error, and each of ours its difference to xLearn's with the standard error
of a paired bootstrap of the test rows (1000 resamples); the target "AUC at least as high" is then met
(difference > 1.96 se), not met (< -1.96 se) or not resolved.

LR study: a few cheap LR settings (lr, L2 on touched rows), valid AUC and log loss at the best epoch.

Study (what makes FM improve past epoch 1): FM from the same start under a few settings, valid AUC per
epoch, no early stopping.
"""
from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import loadavg, parser, save, setup, table

FM_BEST = dict(optimizer="adam", lr=3e-3, l2=1e-4)     # the setting the study picks (see main)
LR_BEST = dict(lr=3e-3, l2=3e-4)   # the LR study's pick: valid AUC +0.0010 +- 0.0004 and log loss 0.5128 vs
                                   # 0.5132 against lr 3e-3 alone (busy-machine run of 2026-12-03; see lr_study)
LR_STUDY = [dict(lr=3e-3), dict(lr=1e-3), dict(lr=1e-2), dict(lr=3e-3, l2=1e-4), dict(lr=3e-3, l2=3e-4),
            dict(lr=1e-3, l2=1e-4), dict(lr=1e-2, l2=1e-4)]   # cheap LR settings, against the first
STUDY = {"adam 3e-3 (train default)": dict(lr=3e-3),
         "adam 3e-3 + L2 1e-4 on touched rows": dict(lr=3e-3, l2=1e-4),
         "adam 3e-3, lr x0.5 per epoch": dict(lr=3e-3, decay=0.5),
         "adam 1e-3": dict(lr=1e-3),
         "adam 3e-3 + unit-norm rows": dict(lr=3e-3, norm=True),
         "adagrad 0.2 + unit-norm rows (xLearn-like)": dict(optimizer="adagrad", lr=0.2, norm=True)}

XLEARN_SCRIPT = r"""
import sys, xlearn as xl
train, valid, test, model, out, epochs = sys.argv[1:7]
fm = xl.create_fm()
fm.setTrain(train)
if valid != "-":
    fm.setValidate(valid)
fm.fit({"task": "binary", "lr": 0.2, "lambda": 0.00002, "k": 10, "epoch": int(epochs), "metric": "auc",
        "nthread": 1, "opt": "adagrad"}, model)
if test != "-":
    fm.setTest(test); fm.setSigmoid(); fm.predict(model, out)
"""


def hanley_mcneil_se(a: float, n_pos: int, n_neg: int) -> float:
    """Standard error of one AUC a from n_pos positives and n_neg negatives (Hanley & McNeil 1982):

        Q1 = a / (2 - a),  Q2 = 2 a^2 / (1 + a)
        se^2 = (a (1 - a) + (n_pos - 1)(Q1 - a^2) + (n_neg - 1)(Q2 - a^2)) / (n_pos n_neg)
    """
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    return float(np.sqrt((a * (1 - a) + (n_pos - 1) * (q1 - a * a) + (n_neg - 1) * (q2 - a * a)) / (n_pos * n_neg)))


def _weighted_auc(order, starts, y, w):
    """AUC of scores whose ascending order is `order` (tie groups beginning at `starts`), each row counted
    w times: sum over positives of (negatives below + half the tied ones) / (positives x negatives)."""
    wy, wn = (w * y)[order], (w * (1 - y))[order]
    gp, gn = np.add.reduceat(wy, starts), np.add.reduceat(wn, starts)
    below = np.cumsum(gn) - gn
    return float(np.sum(gp * (below + 0.5 * gn)) / (gp.sum() * gn.sum()))


def paired_bootstrap(y, scores: dict, n_boot=1000, seed=0) -> dict:
    """Bootstrap the test rows (the same resample for every model, so their AUCs stay paired): returns, per
    model, the AUCs of n_boot resamples (n_boot,). The standard error of a difference of two models is the
    standard deviation of the difference of their rows: smaller than from the two separate errors, since
    both models are scored on the same (easy or hard) rows."""
    y = np.asarray(y, np.float64)
    prep = {}
    for k, p in scores.items():
        order = np.argsort(p, kind="stable")
        ps = np.asarray(p)[order]
        starts = np.flatnonzero(np.r_[True, ps[1:] != ps[:-1]])
        prep[k] = order, starts
    rng = np.random.default_rng(seed)
    out = {k: np.empty(n_boot) for k in scores}
    for b in range(n_boot):
        w = np.bincount(rng.integers(0, len(y), len(y)), minlength=len(y)).astype(np.float64)
        for k, (order, starts) in prep.items():
            out[k][b] = _weighted_auc(order, starts, y, w)
    return out


def auc_verdict(diff: float, se: float, z: float = 1.96) -> str:
    """Target "AUC at least as high": met when diff > z se (resolved higher), not met when diff < -z se
    (resolved lower), otherwise not resolved (the test set cannot tell them apart)."""
    return "met" if diff > z * se else ("not met" if diff < -z * se else "not resolved")


def write_svm(path, idx, val, y):
    with open(path, "w") as f:
        for i in range(len(y)):
            f.write(f"{int(y[i])} " + " ".join(f"{r}:{v:.7g}" for r, v in zip(idx[i], val[i])) + "\n")


def run_xlearn(tmp: Path, epochs: int, valid: bool, test: bool) -> dict:
    """xLearn in a subprocess (its C++ prints to stdout); returns per-epoch seconds and test predictions."""
    out = tmp / "xl_out.txt"
    args = [sys.executable, "-c", XLEARN_SCRIPT, str(tmp / "train.svm"), str(tmp / "valid.svm") if valid else "-",
            str(tmp / "test.svm") if test else "-", str(tmp / "xl_model.out"), str(out), str(epochs)]
    res = subprocess.run(args, capture_output=True, text=True, env=dict(os.environ, USER=os.environ.get("USER") or "root"))
    text = re.sub(r"\x1b\[[0-9;]*m", "", res.stdout)
    if res.returncode != 0:
        raise RuntimeError(f"xLearn failed: {res.stderr.strip()[-300:]}")
    secs = [float(m.group(1)) for m in re.finditer(r"^\[\s*\d+%\s*\]\s+\d+\s+.*?(\d+\.\d+)\s*$", text, re.M)]
    stop = re.search(r"Early-stopping at epoch (\d+)", text)
    return {"epoch_seconds": secs, "best_epoch": int(stop.group(1)) if stop else len(secs),
            "p": np.loadtxt(out) if test else None}


def main(argv=None):
    p = parser("fm_speed", __doc__)
    p.set_defaults(threads=1)
    p.add_argument("--rows", type=int, default=200_000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--no-study", action="store_true", help="skip the epoch study")
    p.add_argument("--no-lr-study", action="store_true", help="skip the LR settings study")
    args = p.parse_args(argv)
    header = setup(args)
    from benchmarks.epoch_1m import write_criteo_file
    from deepfm_np.data import encode, fit_encoder, open_reader
    from deepfm_np.data.dataset import ArrayDataset
    from deepfm_np.metrics import auc, logloss
    from deepfm_np.models.fm import FM
    from deepfm_np.models.lr import LR
    from deepfm_np.optim import make_optimizer
    from deepfm_np.train import TrainConfig, evaluate, train

    n = 40_000 if args.quick else args.rows
    rounds = 2 if args.quick else args.rounds
    have_xl = importlib.util.find_spec("xlearn") is not None
    with tempfile.TemporaryDirectory() as tmpd:
        tmp = Path(tmpd)
        write_criteo_file(tmp / "all.txt", n)
        lines = (tmp / "all.txt").read_text().splitlines(True)
        cut = [0, int(0.8 * n), int(0.9 * n), n]
        for name, a, b in zip(("train", "valid", "test"), cut[:-1], cut[1:]):
            (tmp / f"{name}.txt").write_text("".join(lines[a:b]))
        del lines
        enc = fit_encoder(open_reader("criteo", tmp / "train.txt"), min_count=2)
        sets = {}
        for name in ("train", "valid", "test"):
            e = encode(open_reader("criteo", tmp / f"{name}.txt"), enc)
            sets[name] = (e.idx, e.val, e.y)
            if have_xl:
                write_svm(tmp / f"{name}.svm", *sets[name])
        layout = e.layout

        def data(name, norm=False):
            idx, val, y = sets[name]
            if norm:       # x / ||x||: every row's feature vector scaled to unit length (xLearn's default)
                val = (val / np.sqrt((val.astype(np.float64) ** 2).sum(1, keepdims=True))).astype(np.float32)
            return ArrayDataset(idx, val, y, layout, validate=False)

        def ours(model, fused=True, epochs=1, valid=False, optimizer="adam", lr=3e-3, l2=0.0, decay=1.0,
                 norm=False, patience=2):
            m = FM(layout, embed_dim=10, seed=0) if model == "fm" else LR(layout, seed=0)
            o = make_optimizer(optimizer, m.params, sparse=m.sparse_params, lr=lr, l2_sparse=l2)
            curve = []

            def on_eval(rec):
                curve.append(rec.get("valid_auc"))
                o.lr *= decay
            res = train(m, data("train", norm), data("valid", norm) if valid else None,
                        TrainConfig(epochs=epochs, batch_size=1024, lr=lr, seed=0, progress=False,
                                    patience=patience, fused=fused), optimizer=o, on_eval=on_eval)
            return m, res, curve

        if have_xl:
            run_xlearn(tmp, 1, valid=False, test=False)                 # text -> .bin cache, not timed
        for model in ("fm", "lr"):                                      # load the compiled kernels, not timed
            ours(model), ours(model, fused=False)
        n_train = cut[1]
        speed = {k: [] for k in ("fm", "fm_readable", "lr", "xlearn_fm")}
        for r in range(rounds):
            speed["fm"].append(ours("fm")[1].samples_per_second)
            speed["fm_readable"].append(ours("fm", fused=False)[1].samples_per_second)
            speed["lr"].append(ours("lr")[1].samples_per_second)
            if have_xl:
                secs = run_xlearn(tmp, 2, valid=False, test=False)["epoch_seconds"]
                speed["xlearn_fm"].append(n_train / float(np.mean(secs)))
            print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:,.0f}" for k, v in speed.items() if v)
                  + f" samples/s (load {loadavg()[:1]})", flush=True)

        quality, test_p = [], {}
        te_idx, te_val, te_y = sets["test"]
        for name, model, kw in (("deepfm_np FM", "fm", FM_BEST), ("deepfm_np LR", "lr", LR_BEST)):
            m, res, _ = ours(model, epochs=10, valid=True, **kw)
            t = evaluate(m, data("test"))
            test_p[name] = m.predict_proba(te_idx, te_val)
            quality.append({"model": name, "config": kw, "best_epoch": res.best["epoch"], "test_auc": t["auc"],
                            "test_logloss": t["logloss"]})
        if have_xl:
            xl = run_xlearn(tmp, 10, valid=True, test=True)
            test_p["xLearn FM"] = xl["p"]
            quality.append({"model": "xLearn FM", "config": {"optimizer": "adagrad", "lr": 0.2, "lambda": 2e-5,
                                                             "instance_norm": True},
                            "best_epoch": xl["best_epoch"], "test_auc": auc(te_y, xl["p"]),
                            "test_logloss": logloss(te_y, xl["p"])})
        n_pos = int(te_y.sum())
        boot = paired_bootstrap(te_y, test_p, n_boot=200 if args.quick else 1000)
        for q in quality:
            q["test_auc_se"] = hanley_mcneil_se(q["test_auc"], n_pos, len(te_y) - n_pos)
            q["test_auc_se_bootstrap"] = float(np.std(boot[q["model"]], ddof=1))
            if have_xl and q["model"] != "xLearn FM":
                diff = boot[q["model"]] - boot["xLearn FM"]
                d = q["test_auc"] - auc(te_y, test_p["xLearn FM"])
                q["vs_xlearn"] = {"auc_diff": d, "se": float(np.std(diff, ddof=1)),
                                  "verdict": auc_verdict(d, float(np.std(diff, ddof=1)))}
        lr_study = []
        if not args.no_lr_study:
            va_idx, va_val, va_y = sets["valid"]
            valid_p = {}
            for j, kw in enumerate(LR_STUDY):
                m, res, _ = ours("lr", epochs=10, valid=True, **kw)
                valid_p[j] = m.predict_proba(va_idx, va_val)
                b = res.best
                lr_study.append({"config": kw, "best_epoch": b["epoch"], "valid_auc": b["valid_auc"],
                                 "valid_logloss": b["valid_logloss"]})
            vboot = paired_bootstrap(va_y, valid_p, n_boot=200 if args.quick else 1000)
            for j, r in enumerate(lr_study):        # against the first setting, paired on valid rows
                r["auc_diff_vs_first"] = r["valid_auc"] - lr_study[0]["valid_auc"]
                r["auc_diff_se"] = float(np.std(vboot[j] - vboot[0], ddof=1)) if j else 0.0
                print(f"lr study: {r['config']}: valid AUC {r['valid_auc']:.4f} ({r['auc_diff_vs_first']:+.4f} +- "
                      f"{r['auc_diff_se']:.4f}), log loss {r['valid_logloss']:.4f} (epoch {r['best_epoch']})", flush=True)
        study = []
        if not args.no_study:
            for name, kw in STUDY.items():
                m, res, curve = ours("fm", epochs=3 if args.quick else 10, valid=True, patience=0, **kw)
                study.append({"setting": name, "config": kw, "valid_auc": curve,
                              "best_epoch": int(np.argmax(curve)) + 1, "best_valid_auc": float(max(curve))})
                print(f"study: {name}: best valid AUC {max(curve):.4f} at epoch {np.argmax(curve) + 1}", flush=True)

    def ratio(a, b):
        return float(np.median(np.array(speed[a]) / np.array(speed[b]))) if speed[a] and speed[b] else None
    ranges = {k: [float(np.min(np.array(speed[a]) / np.array(speed[b]))), float(np.max(np.array(speed[a]) / np.array(speed[b])))]
              for k, (a, b) in {"fm_vs_xlearn": ("fm", "xlearn_fm"), "lr_vs_xlearn": ("lr", "xlearn_fm")}.items()
              if speed[a] and speed[b]}
    summary = {k: {"median": float(np.median(v)), "max": float(np.max(v))} for k, v in speed.items() if v}
    ratios = {"fm_vs_xlearn": ratio("fm", "xlearn_fm"), "lr_vs_xlearn": ratio("lr", "xlearn_fm"),
              "fm_fused_vs_readable": ratio("fm", "fm_readable")}
    print()
    print(table([{"who": k, **v} for k, v in summary.items()],
                [("who", "trainer", "{}"), ("median", "samples/s (median)", "{:,.0f}"), ("max", "(best)", "{:,.0f}")]))
    print("ratios (median of rounds):", {k: (round(v, 2) if v else v) for k, v in ratios.items()})
    print(table(quality, [("model", "model", "{}"), ("best_epoch", "best epoch", "{}"), ("test_auc", "test AUC", "{:.4f}"),
                          ("test_auc_se", "se (H-McN)", "{:.4f}"), ("test_logloss", "test log loss", "{:.4f}")]))
    for q in quality:
        if "vs_xlearn" in q:
            v = q["vs_xlearn"]
            print(f"{q['model']} - xLearn FM test AUC: {v['auc_diff']:+.4f} +- {v['se']:.4f} (paired bootstrap se): "
                  f"{v['verdict']}")
    save(args, header, {"benchmark": "fm_speed",
                        "config": {"rows": n, "train_rows": n_train, "table_rows": layout.n_rows,
                                   "slots": layout.n_slots, "test_rows": len(sets["test"][2]), "batch": 1024, "embed_dim": 10, "rounds": rounds,
                                   "xlearn": have_xl, "dtype": "float32"},
                        "speed": speed, "speed_summary": summary, "ratios": ratios,
                        "ratio_range": ranges, "quality": quality, "study": study, "lr_study": lr_study})


if __name__ == "__main__":
    main()
