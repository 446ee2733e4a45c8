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
        """Click probabilities (N,) in evaluation mode (no dropout), batch by batch."""
        self.layout.validate(idx)
        out = np.empty(idx.shape[0], dtype=np.float64)
        for start in range(0, idx.shape[0], batch_size):
            sl = slice(start, start + batch_size)
            logits, _ = self._forward(idx[sl], np.asarray(val[sl], dtype=self.dtype), False, None)
            out[sl] = sigmoid(logits.astype(np.float64))
        return out

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
