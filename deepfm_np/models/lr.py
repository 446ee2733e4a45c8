"""Logistic regression on the one-hot (and value-scaled) features:

    y_hat = sigmoid(w0 + sum_i w_i x_i)

The paper trains it with FTRL; any optimizer here works (see optim.py).
"""
from __future__ import annotations

import numpy as np

from ..layers import first_order_backward, first_order_forward
from .base import Model


class LR(Model):
    name = "lr"

    def __init__(self, layout, seed=0, dtype=np.float32):
        super().__init__(layout, dtype)
        self.params["w"] = np.zeros(layout.n_rows, dtype=self.dtype)   # (R,)
        self.params["w0"] = np.zeros(1, dtype=self.dtype)              # (1,)
        self.sparse_params = frozenset({"w"})

    def _forward(self, idx, val, train, rng):
        return first_order_forward(self.params["w"], self.params["w0"], idx, val)

    def _backward(self, d, cache):
        dw, dw0 = first_order_backward(d, cache)
        return {"w": dw, "w0": dw0}
