"""Optimizers: SGD, Adagrad, Adam (lazy on sparse tables) and FTRL-Proximal.

An optimizer holds references to a model's `params` dict and updates those arrays IN PLACE:

    opt = Adam(model.params, sparse=model.sparse_params, lr=1e-3)
    grads = model.backward(dlogits)      # same keys as params
    opt.step(grads)

Params named in `sparse` are embedding / first-order tables whose gradient is a `SparseGrad`
(rows (U,), values (U, K) or (U,)). Only those U rows, and only their optimizer state, move: the cost of a
step depends on the batch, not on the table size R. Other params get ordinary dense updates.

`l2_sparse` is an optional L2 penalty on the touched embedding rows only, added to their gradient:
g_r <- g_r + l2_sparse * w_r. Rows a batch does not touch are not decayed (that would cost O(R)).

The per-row arithmetic lives in deepfm_np.kernels (Numba, each with a NumPy twin). A dense param is
updated with the same row kernels by viewing it as a table with a single row of P numbers, so dense and
sparse updates share one implementation (and are bit-identical where they should be); Adam's dense params
use the fused `adam_dense` kernel.

Checkpointing: `state_dict()` returns a flat dict of arrays ("<param>.<state>", e.g. "V.m"), suitable
for np.savez; `load_state_dict(d)` copies them back into an optimizer built for the same params.
"""
from __future__ import annotations

import math

import numpy as np

from .kernels import rows as kn
from .sparse import SparseGrad

_ROW0 = np.zeros(1, dtype=np.int64)  # a dense param viewed as a table of one row: update row 0
_ROW0.setflags(write=False)


def _one_row(a: np.ndarray) -> np.ndarray:
    """(any shape) -> (1, P) view of a C-contiguous array, for the row kernels."""
    return a.reshape(1, -1)


def _positive(name: str, x: float) -> float:
    x = float(x)
    if not (math.isfinite(x) and x > 0):
        raise ValueError(f"{name} must be a positive finite number, got {x}")
    return x


def _nonnegative(name: str, x: float) -> float:
    x = float(x)
    if not (math.isfinite(x) and x >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {x}")
    return x


class Optimizer:
    """Base class: bookkeeping of params, state arrays and the sparse/dense dispatch.

    Subclasses set `dense_state` / `sparse_state`: names of per-param state arrays, each shaped like the
    param (or (R,) int64 for "count", or () int64 for "step"), and implement `_dense` / `_sparse`.
    """

    dense_state: tuple = ()
    sparse_state: tuple = ()

    def __init__(self, params: dict, sparse=frozenset(), l2_sparse: float = 0.0):
        self.params = params
        self.sparse = frozenset(sparse)
        unknown = self.sparse - set(params)
        if unknown:
            raise ValueError(f"sparse names {sorted(unknown)} are not params (params: {sorted(params)})")
        for name, p in params.items():
            if not isinstance(p, np.ndarray) or p.dtype not in (np.float32, np.float64):
                raise ValueError(f"param {name!r} must be a float32 or float64 ndarray")
            if not p.flags.c_contiguous:
                raise ValueError(f"param {name!r} must be C-contiguous (it is updated in place)")
            if name in self.sparse and p.ndim not in (1, 2):
                raise ValueError(f"sparse param {name!r} must be a (R,) or (R, K) table, got {p.shape}")
        self.l2_sparse = _nonnegative("l2_sparse", l2_sparse)
        self.state = {name: self._init_state(name, p) for name, p in params.items()}

    def _init_state(self, name: str, p: np.ndarray) -> dict:
        names = self.sparse_state if name in self.sparse else self.dense_state
        out = {}
        for s in names:
            if s == "count":
                out[s] = np.zeros(p.shape[0], dtype=np.int64)
            elif s == "step":
                out[s] = np.zeros((), dtype=np.int64)
            else:
                out[s] = np.zeros_like(p)
        return out

    def step(self, grads: dict) -> None:
        """Update every param that has a gradient in `grads` (missing or None: left alone)."""
        extra = set(grads) - set(self.params)
        if extra:
            raise ValueError(f"grads for unknown params {sorted(extra)}")
        for name, p in self.params.items():
            g = grads.get(name)
            if g is None:
                continue
            if isinstance(g, SparseGrad):
                if g.values.shape[1:] != p.shape[1:] or g.values.shape[0] != g.rows.shape[0]:
                    raise ValueError(f"SparseGrad of {name!r} has rows {g.rows.shape} and values "
                                     f"{g.values.shape}; param shape is {p.shape}")
                if name in self.sparse:
                    self._sparse(name, p, g.rows, np.ascontiguousarray(g.values, dtype=p.dtype))
                else:
                    self._dense(name, p, g.to_dense(p.shape).astype(p.dtype, copy=False))
                continue
            g = np.ascontiguousarray(g, dtype=p.dtype)
            if g.shape != p.shape:
                raise ValueError(f"gradient of {name!r} has shape {g.shape}, param has {p.shape}")
            if name in self.sparse:  # a dense gradient of a table: every row is touched
                self._sparse(name, p, np.arange(p.shape[0], dtype=np.int64), g)
            else:
                self._dense(name, p, g)

    def _dense(self, name, p, g):
        raise NotImplementedError

    def _sparse(self, name, p, rows, g):
        raise NotImplementedError

    def state_dict(self) -> dict:
        """Flat dict "<param>.<state>" -> array copy, for checkpoints (np.savez)."""
        return {f"{name}.{s}": a.copy() for name, st in self.state.items() for s, a in st.items()}

    def load_state_dict(self, d: dict) -> None:
        """Copy arrays from `state_dict()` of an optimizer of the same kind over the same params."""
        expected = {f"{name}.{s}": a for name, st in self.state.items() for s, a in st.items()}
        missing = sorted(set(expected) - set(d))
        extra = sorted(set(d) - set(expected))
        if missing or extra:
            raise ValueError(f"optimizer state mismatch: missing {missing}, unexpected {extra}")
        for key, a in expected.items():
            src = np.asarray(d[key])
            if src.shape != a.shape:
                raise ValueError(f"optimizer state {key!r} has shape {src.shape}, expected {a.shape}")
            np.copyto(a, src, casting="same_kind")


class SGD(Optimizer):
    """Plain SGD:  w <- w - lr * g   (touched rows of a sparse table: g_r + l2_sparse * w_r)."""

    def __init__(self, params, sparse=frozenset(), lr=0.01, l2_sparse=0.0):
        super().__init__(params, sparse, l2_sparse)
        self.lr = _positive("lr", lr)

    def _dense(self, name, p, g):
        kn.sgd_rows(_one_row(p), _ROW0, _one_row(g), self.lr, 0.0)

    def _sparse(self, name, p, rows, g):
        kn.sgd_rows(p, rows, g, self.lr, self.l2_sparse)


class Adagrad(Optimizer):
    """Adagrad (Duchi et al. 2011), per coordinate:

        acc <- acc + g^2
        w   <- w - lr * g / (sqrt(acc) + eps)

    The accumulator starts at `initial_accumulator` (default 0: the first step is then lr * sign(g);
    eps only guards the division for coordinates whose gradient has always been 0).
    """

    dense_state = ("acc",)
    sparse_state = ("acc",)

    def __init__(self, params, sparse=frozenset(), lr=0.01, eps=1e-8, initial_accumulator=0.0,
                 l2_sparse=0.0):
        super().__init__(params, sparse, l2_sparse)
        self.lr = _positive("lr", lr)
        self.eps = _positive("eps", eps)
        for st in self.state.values():
            st["acc"][...] = _nonnegative("initial_accumulator", initial_accumulator)

    def _dense(self, name, p, g):
        kn.adagrad_rows(_one_row(p), _one_row(self.state[name]["acc"]), _ROW0, _one_row(g),
                        self.lr, self.eps, 0.0)

    def _sparse(self, name, p, rows, g):
        kn.adagrad_rows(p, self.state[name]["acc"], rows, g, self.lr, self.eps, self.l2_sparse)


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015); lazy on sparse tables.

        m <- b1 m + (1 - b1) g,     v <- b2 v + (1 - b2) g^2
        w <- w - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)

    Dense params: t counts this param's steps. Sparse tables: only the touched rows' m, v move, and t is
    the row's own touch count (state "count", (R,) int64), so a row seen for the first time takes a
    properly bias-corrected first step, just like dense Adam's first step (see kernels.adam_rows).
    """

    dense_state = ("m", "v", "step")
    sparse_state = ("m", "v", "count")

    def __init__(self, params, sparse=frozenset(), lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
                 l2_sparse=0.0):
        super().__init__(params, sparse, l2_sparse)
        self.lr = _positive("lr", lr)
        for nm, b in (("beta1", beta1), ("beta2", beta2)):
            if not 0.0 <= float(b) < 1.0:
                raise ValueError(f"{nm} must be in [0, 1), got {b}")
        self.beta1, self.beta2 = float(beta1), float(beta2)
        self.eps = _positive("eps", eps)

    def _dense(self, name, p, g):
        st = self.state[name]
        st["step"] += 1
        kn.adam_dense(p, st["m"], st["v"], g, self.lr, self.beta1, self.beta2, self.eps,
                      int(st["step"]))

    def _sparse(self, name, p, rows, g):
        st = self.state[name]
        kn.adam_rows(p, st["m"], st["v"], st["count"], rows, g, self.lr, self.beta1, self.beta2,
                     self.eps, self.l2_sparse)


class FTRL(Optimizer):
    """FTRL-Proximal (McMahan et al., KDD 2013, Algorithm 1), per coordinate; `lr` is alpha.

        sigma = (sqrt(n + g^2) - sqrt(n)) / alpha
        z    <- z + g - sigma * w
        n    <- n + g^2
        w     = 0                                                  if |z| <= l1
              = -(z - sign(z) l1) / ((beta + sqrt(n)) / alpha + l2)  otherwise

    The weights are not stepped but recomputed from (z, n), which is what makes l1 give exact zeros.
    l1, l2 apply to every param (dense and sparse); l2_sparse additionally adds l2_sparse * w to the
    gradient of touched table rows, as for the other optimizers.

    Start: n = 0 and z is chosen so that the formula above gives back each param's initial value
    (z = -(w0 (beta / alpha + l2) + sign(w0) l1)), so FTRL also works on randomly initialised
    embeddings; for the usual all-zero start of logistic regression this is z = 0.
    """

    dense_state = ("z", "n")
    sparse_state = ("z", "n")

    def __init__(self, params, sparse=frozenset(), lr=0.1, beta=1.0, l1=0.0, l2=0.0, l2_sparse=0.0):
        super().__init__(params, sparse, l2_sparse)
        self.alpha = _positive("lr (FTRL alpha)", lr)
        self.beta = _nonnegative("beta", beta)
        self.l1 = _nonnegative("l1", l1)
        self.l2 = _nonnegative("l2", l2)
        scale = self.beta / self.alpha + self.l2
        for name, p in params.items():
            if scale == 0 and np.any(p != 0):
                raise ValueError(f"FTRL with beta = 0 and l2 = 0 cannot represent the nonzero initial "
                                 f"values of {name!r}; start from zeros or use beta > 0")
            w0 = p.astype(np.float64)
            self.state[name]["z"][...] = -(w0 * scale + np.sign(w0) * self.l1)

    def _dense(self, name, p, g):
        st = self.state[name]
        kn.ftrl_rows(_one_row(p), _one_row(st["z"]), _one_row(st["n"]), _ROW0, _one_row(g),
                     self.alpha, self.beta, self.l1, self.l2, 0.0)

    def _sparse(self, name, p, rows, g):
        st = self.state[name]
        kn.ftrl_rows(p, st["z"], st["n"], rows, g, self.alpha, self.beta, self.l1, self.l2,
                     self.l2_sparse)


OPTIMIZERS = {"sgd": SGD, "adagrad": Adagrad, "adam": Adam, "ftrl": FTRL}


def make_optimizer(name: str, params: dict, sparse=frozenset(), lr: float = 1e-3, **kw) -> Optimizer:
    """Build an optimizer by name ("sgd", "adagrad", "adam", "ftrl"); extra keywords go to its class."""
    key = str(name).lower()
    if key not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; valid names: {', '.join(sorted(OPTIMIZERS))}")
    return OPTIMIZERS[key](params, sparse, lr=lr, **kw)
