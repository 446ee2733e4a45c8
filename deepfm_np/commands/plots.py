"""Report plots: a reliability diagram beside the ROC curve (matplotlib, imported only when asked for)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np


def roc_curve(y, p):
    """False and true positive rates (T,) at every distinct threshold of p, from (0, 0) to (1, 1)."""
    order = np.argsort(-p, kind="mergesort")
    ys, ps = y[order], p[order]
    last = np.r_[np.flatnonzero(ps[1:] != ps[:-1]), ps.shape[0] - 1]   # end of each tie group
    tp = np.cumsum(ys)[last]
    fp = (last + 1) - tp
    P, Q = max(ys.sum(), 1), max(ys.shape[0] - ys.sum(), 1)
    return np.r_[0.0, fp / Q], np.r_[0.0, tp / P]


def reliability_and_roc(y, p, path, title="", bins=10) -> Path:
    """Write a PNG: left, observed rate vs mean prediction per bin (size ~ rows); right, the ROC curve."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..metrics import calibration, summary
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    cal, s = calibration(y, p, bins), summary(y, p, bins)
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4.6))
    a.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--", label="perfectly calibrated")
    cnt = np.array(cal["bins"]["count"])
    mp, rate = np.array(cal["bins"]["mean_prediction"], float), np.array(cal["bins"]["observed_rate"], float)
    ok = cnt > 0
    a.plot(mp[ok], rate[ok], "-", color="C0", lw=1)
    a.scatter(mp[ok], rate[ok], s=20 + 200 * cnt[ok] / cnt.max(), color="C0", zorder=3, label="bins (area ~ rows)")
    a.set(xlim=(0, 1), ylim=(0, 1), xlabel="mean prediction in bin", ylabel="observed click rate in bin",
          title=f"reliability: ECE {s['ece']:.4f}, mean p {s['mean_prediction']:.4f} vs {s['observed_rate']:.4f}")
    a.legend(loc="upper left", fontsize=8)
    if s["auc"] is not None:
        fpr, tpr = roc_curve(y, p)
        b.plot(fpr, tpr, color="C1", lw=1.5, label=f"AUC {s['auc']:.4f}")
        b.legend(loc="lower right")
        b.set_title("ROC curve")
    else:
        b.text(0.5, 0.5, f"ROC undefined:\n{s['auc_undefined']}", ha="center", va="center")
        b.set_title("ROC curve")
    b.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--")
    b.set(xlim=(0, 1), ylim=(0, 1), xlabel="false positive rate", ylabel="true positive rate")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".png")
    try:
        with os.fdopen(fd, "wb") as f:
            fig.savefig(f, format="png", dpi=90)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    finally:
        plt.close(fig)
    return path
