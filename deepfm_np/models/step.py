"""One training step on one batch, by the readable path or, for FM and LR, by a fused kernel.

    step = make_step(model, optimizer, dropout_rng)      # the route is chosen here, once
    for batch in step.batches(data, batch_size, rng):    # (idx, val, y) or, fused, (idx, val, y, rows)
        loss = step(*batch)                              # forward, loss, backward, update

The readable step is the textbook composition every model supports:

    logits = model.forward(idx, val, train=True)         # layers/
    loss, dlogits = bce_with_logits(logits, y)
    optimizer.step(model.backward(dlogits))              # sparse.rows_to_sparse + optim.py row kernels

FM and LR with SGD, Adagrad or Adam get FusedFMStep / FusedLRStep instead: the same arithmetic in two
Numba passes over the batch (kernels/fm_step.py; with Adam, FM's tables V and w are updated in one loop
over the touched rows), updating the optimizer's own state arrays, so
checkpoints, state_dict() and a later readable step see exactly the same state. tests/test_fm_step.py
compares the two routes step by step. Either step returns the batch's mean loss; when it is not finite
nothing is updated (the loop then stops with TrainingDiverged).
"""
from __future__ import annotations

import math

import numpy as np

from ..data.dataset import ArrayDataset
from ..kernels import fm_step as ks
from ..losses import bce_with_logits
from .fm import FM
from .lr import LR
from ..optim import SGD, Adagrad, Adam


class ReadableStep:
    """forward -> bce_with_logits -> backward -> optimizer.step, through the layers."""

    fused = False

    def __init__(self, model, optimizer, rng=None):
        self.model, self.optimizer, self.rng = model, optimizer, rng

    def __call__(self, idx, val, y) -> float:
        logits = self.model.forward(idx, val, train=True, rng=self.rng, check=False)  # validated once
        loss, dlogits = bce_with_logits(logits, y)
        if math.isfinite(loss):
            self.optimizer.step(self.model.backward(dlogits))
        return loss

    def batches(self, data, batch_size, rng):
        """Shuffled batches (idx, val, y) from the data set."""
        return data.iter_batches(batch_size, rng, shuffle=True)


class _FusedStep:
    """What the FM and LR fused steps share: the row map, the scratch and the row update."""

    fused = True
    tables = ()          # the sparse tables the kernel updates, e.g. ("V", "w")

    def __init__(self, model, optimizer):
        self.model, self.optimizer = model, optimizer
        p = model.params
        self.R = p["w"].shape[0]
        self.slot = np.full(self.R, -1, dtype=np.int64)      # row -> position in this batch, -1: unseen
        self._grow(0)
        o = optimizer
        if isinstance(o, Adam):
            self.pow1, self.pow2 = ks.pow_table(o.beta1, ks.POW_TABLE), ks.pow_table(o.beta2, ks.POW_TABLE)
        self._w0 = np.zeros(1, dtype=p["w0"].dtype)

    def _grow(self, n):
        # The step's own scratch, allocated here and nowhere else: the kernels are compiled on the promise
        # that no array they write overlaps another of their arguments (kernels/noalias.py).
        K = self.model.params["V"].shape[1] if "V" in self.model.params else 1
        self.uniq = np.empty(n, dtype=np.int64)
        self.gw = np.empty(n)
        self.gV = np.empty((n, K))

    def _update(self, U, g0):
        o, p = self.optimizer, self.model.params
        grads = {"w": self.gw[:U].reshape(U, 1)}
        if "V" in self.tables:
            grads["V"] = self.gV[:U]
        views = {}
        for name in self.tables:
            t = p[name].reshape(p[name].shape[0], -1)             # (R, K) or (R, 1) view
            views[name] = t, {k: (a if k == "count" else a.reshape(t.shape)) for k, a in o.state[name].items()}
        if isinstance(o, Adam) and len(self.tables) == 2:        # FM: V and w in one loop over the rows
            (V, sV), (w, sw) = views["V"], views["w"]
            ks.adam_fm_update(V, sV["m"], sV["v"], sV["count"], w, sw["m"], sw["v"], sw["count"], self.uniq, U,
                              grads["V"], grads["w"], o.lr, o.beta1, o.beta2, o.eps, o.l2_sparse, self.pow1,
                              self.pow2)
        else:
            for name, (t, st) in views.items():
                if isinstance(o, Adam):
                    ks.adam_update(t, st["m"], st["v"], st["count"], self.uniq, U, grads[name], o.lr, o.beta1,
                                   o.beta2, o.eps, o.l2_sparse, self.pow1, self.pow2)
                elif isinstance(o, Adagrad):
                    ks.adagrad_update(t, st["acc"], self.uniq, U, grads[name], o.lr, o.eps, o.l2_sparse)
                else:
                    ks.sgd_update(t, self.uniq, U, grads[name], o.lr, o.l2_sparse)
        self._w0[0] = g0
        o.step({"w0": self._w0})                                 # the dense bias: the optimizer's own path

    def batches(self, data, batch_size, rng):
        """Shuffled batches as (idx, val, y, rows): an in-memory data set is read in place by the kernel
        (the same permutation as data.iter_batches draws, without copying each batch out); any other
        data set is served by its own iter_batches."""
        if type(data) is not ArrayDataset:
            yield from data.iter_batches(batch_size, rng, shuffle=True)
            return
        order = rng.permutation(data.n)
        for s in range(0, data.n, batch_size):
            yield data.idx, data.val, data.y, order[s:s + batch_size]

    def __call__(self, idx, val, y, rows=None) -> float:
        """Mean loss of the batch idx[rows], val[rows], y[rows] (rows None: all of idx)."""
        if rows is None:
            rows = np.arange(idx.shape[0], dtype=np.int64)
        B, S = rows.shape[0], idx.shape[1]
        if self.uniq.shape[0] < B * S:
            self._grow(B * S)
        loss_sum, g0, U, bad = self._grads(idx, val, y, rows)
        try:
            if bad >= 0:
                b, s = divmod(int(bad), S)
                raise ValueError(f"row {b}, slot {s}: id {int(idx[rows[b], s])} is outside the table's rows "
                                 f"[0, {self.R})")
            loss = loss_sum / B
            if math.isfinite(loss):
                self._update(U, g0)
        finally:
            ks.reset_slots(self.slot, self.uniq, U)
        return loss


class FusedFMStep(_FusedStep):
    tables = ("V", "w")

    def __init__(self, model, optimizer):
        super().__init__(model, optimizer)
        self.slot_field = np.ascontiguousarray(model.layout.slot_field)
        self.n_fields = model.layout.n_fields

    def _grads(self, idx, val, y, rows):
        p = self.model.params
        return ks.fm_grads(p["V"], p["w"], p["w0"], idx, val, y, rows, self.slot_field, self.n_fields, self.slot,
                           self.uniq, self.gV, self.gw)


class FusedLRStep(_FusedStep):
    tables = ("w",)

    def _grads(self, idx, val, y, rows):
        p = self.model.params
        return ks.lr_grads(p["w"], p["w0"], idx, val, y, rows, self.slot, self.uniq, self.gw)


def fused_route(model, optimizer):
    """The fused step class for (model, optimizer), or None when only the readable path applies."""
    cls = {FM: FusedFMStep, LR: FusedLRStep}.get(type(model))   # exact types: a subclass may change the math
    if cls is None or type(optimizer) not in (SGD, Adagrad, Adam):
        return None
    if set(optimizer.params) != set(model.params) or optimizer.sparse != model.sparse_params:
        return None
    if any(optimizer.params[k] is not v for k, v in model.params.items()):
        return None
    arrays = list(model.params.values()) + [a for st in optimizer.state.values() for a in st.values()]
    if any(np.may_share_memory(a, b) for i, a in enumerate(arrays) for b in arrays[:i]):
        return None          # the kernels' no-alias promise (kernels/noalias.py) would not hold
    return cls


def make_step(model, optimizer, rng=None, fused=True):
    """The step callable for this model and optimizer: fused when fused=True and a fused route exists."""
    cls = fused_route(model, optimizer) if fused else None
    return cls(model, optimizer) if cls is not None else ReadableStep(model, optimizer, rng)
