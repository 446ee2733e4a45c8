"""Factorization machine (Rendle 2010), eq. 2 of the paper:

    y_FM = w0 + sum_i w_i x_i + sum_{i<j} <V_i, V_j> x_i x_j

computed with the O(FK) identity of layers/fm.py.
"""
from __future__ import annotations

import numpy as np

from ..layers import first_order_backward, first_order_forward, fm_backward, fm_forward
from .base import Model


class FM(Model):
    name = "fm"

    def __init__(self, layout, embed_dim=10, init_std=0.01, seed=0, dtype=np.float32):
        super().__init__(layout, dtype)
        rng = np.random.default_rng(seed)
        self._init_table("V", layout.n_rows, embed_dim, rng, init_std)   # (R, K)
        self.params["w"] = np.zeros(layout.n_rows, dtype=self.dtype)    # (R,)
        self.params["w0"] = np.zeros(1, dtype=self.dtype)               # (1,)
        self.sparse_params = frozenset({"V", "w"})

    def _forward(self, idx, val, train, rng):
        E, ec = self._embed("V", idx, val)                               # (B, F, K)
        y1, lc = first_order_forward(self.params["w"], self.params["w0"], idx, val)
        y2, fc = fm_forward(E)
        return y1 + y2, (ec, lc, fc)

    def _backward(self, d, cache):
        ec, lc, fc = cache
        dw, dw0 = first_order_backward(d, lc)
        return {"w": dw, "w0": dw0, "V": self._embed_backward(fm_backward(d, fc), ec)}
