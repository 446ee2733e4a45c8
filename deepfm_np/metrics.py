"""Evaluation metrics for click prediction: exact ROC AUC and log loss.

AUC is the probability that a random positive row scores above a random
negative one, ties counting half:

    AUC = ( #{(i, j): y_i = 1, y_j = 0, s_i > s_j}
          + 0.5 * #{(i, j): y_i = 1, y_j = 0, s_i = s_j} ) / (P * Q)

with P positives and Q negatives. Counting pairs is O(N^2); the same number
comes from ranks (the Mann-Whitney U statistic) in O(N log N):

    AUC = ( sum of positives' ranks - P (P + 1) / 2 ) / (P * Q)

where ranks run 1..N over the sorted scores and tied scores share the
average of the ranks they span (that average is exactly the half credit).

Log loss is the mean binary cross-entropy of predicted probabilities:

    logloss = -mean( y log p + (1 - y) log(1 - p) ),  p clipped to [eps, 1 - eps]

Both take plain arrays of shape (N,); they are exact, not the binned
approximations some libraries use, so tests can compare them to hand counts.
"""
from __future__ import annotations

import numpy as np


def _check_labels(y_true, other, other_name: str, fn: str):
    """Return (y (N,) float64, other (N,) float64) after checking shapes and 0/1 labels."""
    y = np.asarray(y_true)
    s = np.asarray(other)
    if y.ndim != 1 or s.ndim != 1:
        raise ValueError(f"{fn}: y_true and {other_name} must be 1-D, got shapes {y.shape} and {s.shape}")
    if y.shape[0] != s.shape[0]:
        raise ValueError(f"{fn}: y_true has {y.shape[0]} rows but {other_name} has {s.shape[0]}")
    if y.shape[0] == 0:
        raise ValueError(f"{fn}: empty input")
    y = y.astype(np.float64)
    bad = (y != 0) & (y != 1)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{fn}: labels must be 0 or 1; y_true[{i}] = {y_true[i]!r}")
    s = s.astype(np.float64)
    if np.isnan(s).any():
        i = int(np.argmax(np.isnan(s)))
        raise ValueError(f"{fn}: {other_name}[{i}] is NaN")
    return y, s


def average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..N of x (N,), tied values sharing the mean of their ranks. Returns (N,) float64."""
    x = np.asarray(x)
    N = x.shape[0]
    order = np.argsort(x, kind="mergesort")                 # (N,)
    xs = x[order]
    # A tie group is a run of equal sorted values; `starts` marks each run's first position.
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])  # (G,)
    ends = np.r_[starts[1:], N]                               # (G,) one past each run
    # Positions start..end-1 hold ranks start+1..end; their mean is (start + 1 + end) / 2.
    group_rank = (starts + 1 + ends) / 2.0                    # (G,)
    ranks = np.empty(N, dtype=np.float64)
    ranks[order] = np.repeat(group_rank, ends - starts)
    return ranks


def auc(y_true, score) -> float:
    """Exact ROC AUC, ties get half credit.

    y_true (N,) labels in {0, 1}; score (N,) real scores (any monotone scale:
    logits or probabilities give the same AUC). Raises ValueError when the
    lengths differ, a label is not 0/1, a score is NaN, or only one class is
    present (AUC is undefined then).
    """
    y, s = _check_labels(y_true, score, "score", "auc")
    P = float(y.sum())
    Q = float(y.shape[0]) - P
    if P == 0 or Q == 0:
        which = "positive" if P == 0 else "negative"
        raise ValueError(f"auc: y_true has no {which} rows; AUC needs both classes")
    r = average_ranks(s)                                      # (N,)
    U = r[y == 1].sum() - P * (P + 1) / 2.0                   # Mann-Whitney U of the positives
    return float(U / (P * Q))


def logloss(y_true, p, eps: float = 1e-12) -> float:
    """Mean binary cross-entropy of probabilities p (N,) against labels y_true (N,) in {0, 1}.

    p is clipped to [eps, 1 - eps] so a confident mistake costs -log(eps), not infinity.
    """
    y, p = _check_labels(y_true, p, "p", "logloss")
    bad = (p < 0) | (p > 1)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"logloss: p must be a probability in [0, 1]; p[{i}] = {p[i]} (pass sigmoid(logits))")
    p = np.clip(p, eps, 1.0 - eps)
    return float(-np.mean(y * np.log(p) + (1.0 - y) * np.log1p(-p)))


def calibration(y_true, p, bins: int = 10) -> dict:
    """How far probabilities p (N,) are from observed rates, for labels y_true (N,) in {0, 1}.

    mean_prediction : mean(p)                 observed_rate : mean(y)
    ece (expected calibration error) over `bins` equal-width bins of p:

        ECE = sum_b (n_b / N) * | mean(p in b) - mean(y in b) |

    Returns the summary plus per-bin arrays (count, mean prediction, observed rate; empty bins have
    count 0 and NaN means) for a reliability diagram.
    """
    y, p = _check_labels(y_true, p, "p", "calibration")
    if bins < 1:
        raise ValueError(f"calibration: bins must be >= 1, got {bins}")
    b = np.minimum((p * bins).astype(np.int64), bins - 1)          # (N,) bin of each row; p = 1 in the last
    count = np.bincount(b, minlength=bins).astype(np.float64)       # (bins,)
    sum_p = np.bincount(b, weights=p, minlength=bins)
    sum_y = np.bincount(b, weights=y, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p, rate = sum_p / count, sum_y / count
    ece = float(np.sum(np.abs(sum_p - sum_y)) / y.shape[0])         # = sum_b n_b/N |mean_p_b - rate_b|
    return {"mean_prediction": float(p.mean()), "observed_rate": float(y.mean()), "ece": ece,
            "bins": {"count": count.astype(np.int64).tolist(), "mean_prediction": mean_p.tolist(),
                     "observed_rate": rate.tolist()}}


def summary(y_true, p, bins: int = 10) -> dict:
    """Everything a report shows for probabilities p (N,) against labels (N,): never raises on one class.

    auc is None (and auc_undefined says why) when only one class is present; base_logloss is the log
    loss of predicting the observed rate for every row (what a model must beat); spread = max(p) - min(p)
    (0 for a constant predictor).
    """
    y, p = _check_labels(y_true, p, "p", "summary")
    P = int(y.sum())
    out = {"rows": int(y.shape[0]), "positives": P, "auc": None, "auc_undefined": None}
    if 0 < P < y.shape[0]:
        out["auc"] = auc(y, p)
    else:
        out["auc_undefined"] = f"only {'negative' if P == 0 else 'positive'} rows (AUC needs both classes)"
    out["logloss"] = logloss(y, p)
    out["base_logloss"] = base_rate_logloss(y)
    cal = calibration(y, p, bins)
    out.update({k: cal[k] for k in ("mean_prediction", "observed_rate", "ece")})
    out["spread"] = float(p.max() - p.min())
    return out


def base_rate_logloss(y_true, rate=None, eps: float = 1e-12) -> float:
    """Log loss of the constant prediction `rate` (default: the observed rate of y_true) on y_true (N,)."""
    y = np.asarray(y_true, dtype=np.float64)
    r = float(np.clip(y.mean() if rate is None else rate, eps, 1 - eps))
    q = y.mean()
    return float(-(q * np.log(r) + (1 - q) * np.log1p(-r)))
