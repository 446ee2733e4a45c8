"""Gradient checking by centered finite differences.

For a scalar function L(theta) and one coordinate theta_i:

    dL/dtheta_i  ~=  [L(theta + h e_i) - L(theta - h e_i)] / (2h)       error O(h^2)

The check compares these numbers n with the hand-written backward a over the
checked coordinates of one parameter, with the relative error

    rel(a, n) = max_i |a_i - n_i| / max(max_i (|a_i| + |n_i|), 1e-8)

i.e. the worst absolute disagreement measured against the size of that
parameter's gradient. Why not coordinate by coordinate: the difference
quotient carries an absolute rounding noise of about eps |L| / h ~ 1e-10 that
no backward can beat, so a coordinate whose true gradient is 1e-5 would show
an elementwise "error" of 1e-5 even when the backward is exact. A wrong
backward, on the other hand, is wrong by a fraction of the gradient's size,
which this measure reports.

Why float64: the difference of two nearly equal losses loses about
log10(|L| / (h |dL|)) digits. float64 has ~16, so with h = 1e-5 a correct
backward lands near 1e-8 .. 1e-10; float32 (~7 digits) could not tell a
correct backward from a slightly wrong one.

A layer with a vector output is checked through L = sum(out * dout) with a
random upstream gradient dout, which exercises every output at once.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..losses import bce_with_logits
from ..sparse import SparseGrad

THRESHOLD = 1e-6


@dataclass
class CheckResult:
    name: str              # "layer/parameter"
    max_rel_error: float
    n_coords: int

    @property
    def passed(self) -> bool:
        return bool(self.max_rel_error < THRESHOLD)


def rel_error(a, n) -> float:
    """Worst disagreement between analytic a and numeric n, relative to the gradient's size."""
    a, n = np.asarray(a, dtype=np.float64), np.asarray(n, dtype=np.float64)
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - n)) / max(float(np.max(np.abs(a) + np.abs(n))), 1e-8))


def numerical_grad(f, x, coords, h=1e-5):
    """Centered differences of scalar f() w.r.t. x.flat[coords] (x is perturbed in place and restored)."""
    if x.dtype != np.float64:
        raise TypeError(f"gradient checks need float64 arrays, got {x.dtype}")
    flat = x.reshape(-1)                       # a view: writing it perturbs x
    out = np.empty(len(coords))
    for j, i in enumerate(coords):
        old = flat[i]
        flat[i] = old + h
        fp = f()
        flat[i] = old - h
        fm = f()
        flat[i] = old
        out[j] = (fp - fm) / (2 * h)
    return out


def dense_grad(g, shape):
    """Analytic gradient as a dense array (SparseGrad expanded)."""
    return g.to_dense(shape) if isinstance(g, SparseGrad) else np.asarray(g).reshape(shape)


def assert_same_grads(got: dict, want: dict, dtype=None) -> None:
    """AssertionError unless two grads dicts hold the same names and EQUAL arrays (a SparseGrad's rows
    and values both), of one dtype: how two routes through a model are proven to be twins."""
    assert set(got) == set(want), (sorted(got), sorted(want))
    for k in want:
        g, w = got[k], want[k]
        if isinstance(w, SparseGrad):
            np.testing.assert_array_equal(g.rows, w.rows, err_msg=f"{k} rows")
            g, w = g.values, w.values
        assert g.dtype == w.dtype and (dtype is None or g.dtype == dtype) and g.shape == w.shape, k
        np.testing.assert_array_equal(g, w, err_msg=k)


def sample_coords(x, rng, max_coords, rows=None):
    """Flat coordinates to check: all of a small array; else a random sample, rows first.

    rows: for a table, the rows a batch touched (so repeated ids are included);
    every coordinate of the first few of them is checked, plus random others.
    """
    if x.size <= max_coords:
        return np.arange(x.size)
    picks = []
    if rows is not None:
        width = x.size // x.shape[0]
        for r in np.asarray(rows)[: max(1, max_coords // (2 * width))]:
            picks.extend(range(int(r) * width, (int(r) + 1) * width))
    rest = max_coords - len(picks)
    if rest > 0:
        picks.extend(rng.choice(x.size, size=rest, replace=False).tolist())
    return np.unique(np.asarray(picks, dtype=np.int64))


def check_layer(name, forward, backward, inputs, wrt, seed=0, max_coords=60, h=1e-5):
    """Check a layer: forward(**inputs) -> (out, cache); backward(dout, cache) -> {input name: grad}.

    wrt: the input names to check (each must be a float64 array in `inputs`).
    """
    rng = np.random.default_rng(seed)
    out, cache = forward(**inputs)
    dout = rng.standard_normal(np.shape(out))
    grads = backward(dout, cache)

    def f():
        return float(np.sum(forward(**inputs)[0] * dout))

    results = []
    for key in wrt:
        x = inputs[key]
        coords = sample_coords(x, rng, max_coords)
        num = numerical_grad(f, x, coords, h)
        ana = dense_grad(grads[key], x.shape).reshape(-1)[coords]
        results.append(CheckResult(f"{name}/{key}", rel_error(ana, num), len(coords)))
    return results


def check_model(model, idx, val, y, seed=0, max_coords=40, h=1e-5, names=None):
    """Check every parameter of `model` (built with dtype=float64) on one batch.

    Loss: the summed binary cross-entropy of the logits. Dropout masks are
    replayed by giving forward a fresh generator with the same seed each call.
    Tables are checked on the rows the batch touched (repeated ids included)
    plus random other coordinates (whose gradient must be exactly 0).
    """
    if model.dtype != np.float64:
        raise TypeError("build the model with dtype=np.float64 for a gradient check")
    B = idx.shape[0]
    val = np.asarray(val, dtype=np.float64)

    def loss():
        logits = model.forward(idx, val, train=True, rng=np.random.default_rng(seed))
        return bce_with_logits(logits, y)[0] * B

    logits = model.forward(idx, val, train=True, rng=np.random.default_rng(seed))
    _, dlogits = bce_with_logits(logits, y)
    grads = model.backward(dlogits * B)
    rng = np.random.default_rng(seed + 1)
    results = []
    for key in names or model.params:
        p = model.params[key]
        rows = None
        if key in model.sparse_params:
            counts = np.bincount(idx.reshape(-1), minlength=p.shape[0])
            # rows hit more than once first: they prove duplicates are summed
            rows = np.argsort(-counts, kind="stable")[: int((counts > 0).sum())]
        coords = sample_coords(p, rng, max_coords, rows)
        num = numerical_grad(loss, p, coords, h)
        ana = dense_grad(grads[key], p.shape).reshape(-1)[coords]
        results.append(CheckResult(f"{model.name}/{key}", rel_error(ana, num), len(coords)))
    model._cache = None
    return results
