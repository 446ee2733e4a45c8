"""Comparative sentences generated from the numbers, never typed: "A beats B" only beyond the noise.

Two sources of noise move a measured AUC difference between models A and B:

* training noise (seeds): sd_a, sd_b, the standard deviations of each model's AUC over n seeds;
  the mean of n seeds has variance sd^2 / n;
* test-set noise: an AUC measured on n_pos positive and n_neg negative rows has the standard error
  of Hanley & McNeil (1982),

      q1 = A / (2 - A),  q2 = 2 A^2 / (1 + A)
      se^2 = (A (1 - A) + (n_pos - 1)(q1 - A^2) + (n_neg - 1)(q2 - A^2)) / (n_pos n_neg)

The threshold below adds both for both models, as if the two models' test errors were independent.
On the same test rows they are positively correlated, so this overstates the noise of a difference:
a difference it calls resolved is resolved; one it does not may still be real, but this run cannot
show it.

    noise = 2 * sqrt(sd_a^2 / n + sd_b^2 / n + se_a^2 + se_b^2)        (about a 95% band)
"""
from __future__ import annotations

import math


def auc_se(auc: float, n_pos: int, n_neg: int) -> float:
    """Hanley-McNeil standard error of an AUC measured on n_pos positives and n_neg negatives."""
    a = float(auc)
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    var = (a * (1 - a) + (n_pos - 1) * (q1 - a * a) + (n_neg - 1) * (q2 - a * a)) / (n_pos * n_neg)
    return math.sqrt(max(var, 0.0))


def difference(a_mean, a_sd, b_mean, b_sd, n_seeds, n_pos=None, n_neg=None, n_seeds_b=None) -> dict:
    """AUC difference a - b, its noise threshold (seeds + test set) and whether it is resolved.

    n_seeds is a's number of seeds (and b's unless n_seeds_b is given); without n_pos and n_neg only
    the seed noise is counted.
    """
    var = a_sd ** 2 / n_seeds + b_sd ** 2 / (n_seeds_b or n_seeds)
    if n_pos and n_neg:
        var += auc_se(a_mean, n_pos, n_neg) ** 2 + auc_se(b_mean, n_pos, n_neg) ** 2
    return _verdict(a_mean - b_mean, var)


def _verdict(diff, var) -> dict:
    diff, noise = float(diff), 2.0 * math.sqrt(var)
    return {"diff": diff, "noise": noise, "resolved": abs(diff) > noise}


def ordering(items, higher_is_better=True) -> list:
    """Which of several models the noise puts above which: never a full ranking the numbers cannot carry.

    items: dicts with name, mean, sd (over seeds), n (seeds) and se (the test-set standard error of
    the mean, or None when unknown: then only the seed noise counts). Every pair gets the threshold
    above, 2 * sqrt(sd_a^2/n_a + sd_b^2/n_b + se_a^2 + se_b^2).

    Returns the items best mean first, each with `above` (names resolved worse than it), `below`
    (names resolved better), `unresolved` (the rest) and `tied_with_best` (its difference to the best
    item is not resolved; True for the best itself).
    """
    sign = 1.0 if higher_is_better else -1.0
    out = [dict(it) for it in sorted(items, key=lambda it: -sign * it["mean"])]
    var = lambda it: it["sd"] ** 2 / it["n"] + (it["se"] or 0.0) ** 2               # noqa: E731
    for a in out:
        a["above"], a["below"], a["unresolved"] = [], [], []
        for b in out:
            if b is a:
                continue
            d = _verdict(sign * (a["mean"] - b["mean"]), var(a) + var(b))
            (a["unresolved"] if not d["resolved"] else a["above"] if d["diff"] > 0 else a["below"]).append(b["name"])
    best = out[0]["name"] if out else None
    for a in out:
        a["tied_with_best"] = a["name"] == best or best in a["unresolved"]
    return out


def sentence(name_a: str, name_b: str, d: dict, what: str = "AUC") -> str:
    """'FM beats LR: +0.0390 AUC, noise 0.0040.' or '... not resolved at this size.'"""
    nums = f"{name_a} - {name_b} = {d['diff']:+.4f} {what} against a noise threshold of {d['noise']:.4f}"
    if not d["resolved"]:
        return f"{nums}: not resolved at this size."
    return f"{nums}: {name_a if d['diff'] > 0 else name_b} is better, resolved."
