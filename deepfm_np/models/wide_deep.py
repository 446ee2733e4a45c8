"""Wide & Deep variants of the paper's Table 2: LR & DNN and FM & DNN.

    LR & DNN:  y = [w0 + sum_i w_i x_i]                              + MLP([e'_1..e'_F])
    FM & DNN:  y = [w0 + sum_i w_i x_i + sum_{i<j} <e_i, e_j>]       + MLP([e'_1..e'_F])

    e_i  = V_fm[i]  x_i    the wide part's own table     (FM & DNN only)
    e'_i = V_dnn[i] x_i    the deep part's own table

The two logits are added before the sigmoid and trained with one optimizer,
as in DeepFM, but nothing is shared: V_fm learns only through the FM pair
term and V_dnn only through the MLP. FM & DNN is DeepFM with the embedding
split in two, so comparing them isolates the value of sharing it. The wide
part uses raw features only (no hand-made cross features).
"""
from __future__ import annotations

import numpy as np

from ..layers import MLP, first_order_backward, first_order_forward, fm_backward, fm_forward
from .base import Model


class WideDeep(Model):
    """wide='lr' (LR & DNN) or 'fm' (FM & DNN)."""
    name = "wide_deep"

    def __init__(self, layout, wide="lr", embed_dim=10, hidden=(400, 400, 400), activation="relu",
                 keep_prob=0.5, init_std=0.01, seed=0, dtype=np.float32):
        super().__init__(layout, dtype)
        if wide not in ("lr", "fm"):
            raise ValueError(f"WideDeep: wide must be 'lr' or 'fm', got {wide!r}")
        self.wide = wide
        rng = np.random.default_rng(seed)
        R, F, K = layout.n_rows, layout.n_fields, embed_dim
        self.params["w"] = np.zeros(R, dtype=self.dtype)                     # (R,)  wide first order
        self.params["w0"] = np.zeros(1, dtype=self.dtype)                    # (1,)
        if wide == "fm":
            self._init_table("V_fm", R, K, rng, init_std)                    # (R, K) the FM's own table
        self._init_table("V_dnn", R, K, rng, init_std)                       # (R, K) the DNN's own table
        self.mlp = MLP("mlp", F * K, hidden, activation, keep_prob)
        self.mlp.init_params(self.params, rng, self.dtype)
        self.sparse_params = frozenset({"w", "V_dnn"} | ({"V_fm"} if wide == "fm" else set()))

    def _forward(self, idx, val, train, rng):
        y, lc = first_order_forward(self.params["w"], self.params["w0"], idx, val)   # (B,)
        fm_cache = None
        if self.wide == "fm":
            E_fm, ec_fm = self._embed("V_fm", idx, val)                      # (B, F, K)
            y2, fc = fm_forward(E_fm)
            y = y + y2
            fm_cache = (ec_fm, fc)
        E, ec = self._embed("V_dnn", idx, val)                               # (B, F, K)
        y3, mc = self.mlp.forward(self.params, E.reshape(E.shape[0], -1), train, rng)
        return y + y3, (lc, fm_cache, ec, mc, E.shape)

    def _backward(self, d, cache):
        lc, fm_cache, ec, mc, shape = cache
        dx, grads = self.mlp.backward(d, mc)
        grads["w"], grads["w0"] = first_order_backward(d, lc)
        if fm_cache is not None:
            ec_fm, fc = fm_cache
            grads["V_fm"] = self._embed_backward(fm_backward(d, fc), ec_fm)  # FM path only
        grads["V_dnn"] = self._embed_backward(dx.reshape(shape), ec)         # DNN path only
        return grads
