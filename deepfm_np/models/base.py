"""What every model shares: parameters, the embedding front end, prediction.

A model keeps `params` (name -> array) and returns `grads` with the same keys
from `backward` (CS231n style). Tables updated row by row (embeddings and
first-order weights) are listed in `sparse_params`; their gradients are
SparseGrad objects. The optimizer lives elsewhere (optim.py).

Subclasses implement `_forward(idx, val, train, rng) -> (logits, cache)` and
`_backward(dlogits, cache) -> grads`; this base class checks the order of the
calls so that misuse fails loudly. A two-stage model (FNN) also overrides
`pretrain`, the hook train() calls before its own loop.
"""
from __future__ import annotations

import inspect

import numpy as np

from ..fields import FieldLayout
from ..layers import embedding_backward, embedding_forward, field_pool_backward, field_pool_forward
from ..layers.activations import sigmoid


class Model:
    name = "model"

    def __new__(cls, *args, **kwargs):
        """Record the constructor's keywords once, for every model: `config` (JSON-serialisable, for
        save/load; the model file rebuilds the model as cls(layout, dtype=..., **config))."""
        self = super().__new__(cls)
        if args or kwargs:                  # (copy and pickle call __new__ bare, then restore __dict__)
            bound = inspect.signature(cls.__init__).bind(self, *args, **kwargs)
            bound.apply_defaults()
            self.config = {k: list(v) if isinstance(v, tuple) else v for k, v in bound.arguments.items()
                           if k not in ("self", "layout", "dtype")}
        return self

    def __init__(self, layout: FieldLayout, dtype=np.float32):
        self.layout = layout
        self.dtype = np.dtype(dtype)
        self.params: dict[str, np.ndarray] = {}
        self.sparse_params: frozenset = frozenset()
        self._cache = None

    # ---- the two calls of a training step ---------------------------------
    def forward(self, idx, val, train=False, rng=None, check=True):
        """idx (B, S) int64, val (B, S) -> logits (B,). Keeps what backward needs.

        check=True: an id outside its field's rows raises ValueError naming the field and the
        value. The training loop passes check=False: its data sets were validated once, when
        they were built (ArrayDataset) or encoded (the data/ encoder writes only valid rows).
        """
        if check:
            self.layout.validate(idx)
        val = np.asarray(val, dtype=self.dtype)
        logits, self._cache = self._forward(idx, val, train, rng)
        return logits

    def backward(self, dlogits):
        """dlogits (B,) -> grads {name: ndarray | SparseGrad}, same keys as params."""
        if self._cache is None:
            raise RuntimeError(f"{self.name}: call forward before backward")
        grads = self._backward(np.asarray(dlogits, dtype=self.dtype), self._cache)
        self._cache = None                  # one backward per forward
        return grads

    def predict_proba(self, idx, val, batch_size=4096):
        """Click probabilities (N,) in evaluation mode (no dropout), batch by batch.

        idx (N, S) int64, val (N, S) -> p (N,) float64 = sigmoid(logits), the sigmoid taken in
        float64. The ids are checked once, for all N rows (check_ids: layout.validate's errors).
        """
        check_ids(self.layout, idx)
        out = np.empty(idx.shape[0], dtype=np.float64)
        for start in range(0, idx.shape[0], batch_size):
            sl = slice(start, start + batch_size)
            logits, _ = self._forward(idx[sl], np.asarray(val[sl], dtype=self.dtype), False, None)
            out[sl] = sigmoid(logits.astype(np.float64))
        return out

    def output_bias_name(self) -> str:
        """The parameter added straight to every logit: w0, or the MLP's output-unit bias (FNN, PNN)."""
        if "w0" in self.params:
            return "w0"
        return self.mlp.names()[-1]

    def init_bias(self, rate: float) -> None:
        """Start the output bias at the base-rate log-odds, b = ln(rate / (1 - rate)).

        With every other term near 0 at initialisation, the first predictions are then the training
        set's positive rate instead of p = 0.5 (which costs ln 2 per row, and on a 1% file takes many
        steps just to undo). rate must be in (0, 1).
        """
        if not 0.0 < rate < 1.0:
            raise ValueError(f"{self.name}: the base rate must be in (0, 1), got {rate}")
        self.params[self.output_bias_name()][...] = np.log(rate / (1.0 - rate))   # in place

    # ---- the two-stage hook ----------------------------------------------
    pretrain_result = None              # stage 1's TrainResult once it ran (truthy for a loaded model file)

    def pretrain(self, train_data, valid_data, config, fit):
        """Stage 1 of a two-stage model: train() calls it on every model before its own loop.

        fit(model, train_data, valid_data, config) -> TrainResult is train() itself, passed in so
        that no model imports the training loop (models sit below training). Returns stage 1's
        TrainResult, or None when there is nothing to run: a one-stage model (this default), or
        stage 1 already ran (pretrain_result is set; load_model sets it, since the saved
        parameters include stage 1). train() counts stage 1's time as training time.
        """
        return None

    def n_params(self) -> int:
        return int(sum(p.size for p in self.params.values()))

    def __repr__(self):
        return f"{type(self).__name__}({self.config}, params={self.n_params():,})"

    # ---- shared front end ------------------------------------------------
    def _embed(self, table, idx, val):
        """Field embeddings E (B, F, K) of params[table] (see embed)."""
        return embed(self.params[table], idx, val, self.layout)

    def _embed_backward(self, dE, cache):
        """dE (B, F, K) -> SparseGrad of the table."""
        return embed_backward(dE, cache)

    def _init_table(self, name, rows, cols, rng, std):
        shape = (rows,) if cols is None else (rows, cols)
        self.params[name] = (rng.standard_normal(shape) * std).astype(self.dtype)


def check_ids(layout, idx) -> None:
    """layout.validate(idx), with the common case (every id in range) in two reductions.

    idx (B, S). Every id of slot s lies in its field's rows [lo_s, hi_s) exactly when

        min_b idx[b, s] >= lo_s   and   max_b idx[b, s] < hi_s

    so a column-wise min and max (S numbers each) replace validate's three (B, S) comparison
    masks: half the time, which for LR was half of all of predict_proba. When the test fails, or
    idx is not a non-empty integer (B, S) array, layout.validate runs on the whole array and raises
    its own error (the first bad row, field and value), word for word the same as before
    (tests/test_predict_checks.py compares the two).
    """
    a = np.asarray(idx)
    if a.ndim == 2 and a.shape[0] and a.shape[1] == layout.n_slots and np.issubdtype(a.dtype, np.integer):
        lo = layout.offsets[layout.slot_field]                              # (S,) first row of each slot
        hi = lo + np.asarray(layout.sizes, dtype=np.int64)[layout.slot_field]   # (S,) one past its last
        if (a.min(axis=0) >= lo).all() and (a.max(axis=0) < hi).all():
            return
    layout.validate(idx)


def embed(table, idx, val, layout):
    """Field embeddings E (B, F, K) from table (R, K); pools multi-valued slots into fields."""
    E, ec = embedding_forward(table, idx, val)                      # (B, S, K)
    if not layout.has_multi:
        return E, (ec, None)
    P, pc = field_pool_forward(E, layout.slot_field, layout.n_fields)
    return P, (ec, pc)


def embed_backward(dE, cache):
    """dE (B, F, K) -> SparseGrad of the table (U rows)."""
    ec, pc = cache
    if pc is not None:
        dE = field_pool_backward(dE, pc)                            # (B, S, K)
    return embedding_backward(dE, ec)
