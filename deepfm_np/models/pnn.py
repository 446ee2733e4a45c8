"""Product-based neural networks (Qu et al. 2016): IPNN, OPNN and PNN*.

A product layer sits between the embeddings and the first hidden layer. It
feeds the MLP two signals side by side:

    z = [e_1, ..., e_F]                         linear signal     (B, F*K)
    p = inner products <e_i, e_j>, i < j        IPNN              (B, F(F-1)/2)
      | flatten((sum_i e_i)(sum_j e_j)^T)       OPNN, cheap form  (B, K*K)
      | both, concatenated                      PNN*
    y = MLP([z, p])                             (no FM or LR term: the MLP output is the logit)

Simplification vs. the original PNN: there the first hidden layer is
l_1 = act(l_z + l_p + b_1) with l_z = W_z . z and l_p = W_p . p computed by D1
kernels (for IPNN, kernels factorised as theta theta^T to save time). Here
[z, p] is concatenated and fed to an ordinary dense layer, which computes
exactly l_z + l_p with an unconstrained W_p (no low-rank factorisation). The
products themselves are in layers/product.py, each with a naive twin.

The paper runs IPNN with tanh (its relu runs were worse); OPNN and PNN* use relu.
"""
from __future__ import annotations

import numpy as np

from ..layers import MLP
from ..layers.product import (inner_product_backward, inner_product_forward, outer_product_backward,
                              outer_product_forward)
from .base import Model

PRODUCTS = {"inner": (inner_product_forward, inner_product_backward),
            "outer": (outer_product_forward, outer_product_backward)}


class PNN(Model):
    name = "pnn"

    def __init__(self, layout, products=("inner", "outer"), embed_dim=10, hidden=(400, 400, 400),
                 activation="relu", keep_prob=0.5, init_std=0.01, seed=0, dtype=np.float32):
        super().__init__(layout, dtype)
        products = tuple(products)
        if not products or any(p not in PRODUCTS for p in products) or len(set(products)) != len(products):
            raise ValueError(f"PNN: products must be distinct names from {sorted(PRODUCTS)}, got {products}")
        self.products = products
        rng = np.random.default_rng(seed)
        F, K = layout.n_fields, embed_dim
        self._init_table("V", layout.n_rows, K, rng, init_std)               # (R, K)
        widths = {"inner": F * (F - 1) // 2, "outer": K * K}
        self.mlp = MLP("mlp", F * K + sum(widths[p] for p in products), hidden, activation, keep_prob)
        self.mlp.init_params(self.params, rng, self.dtype)
        self.sparse_params = frozenset({"V"})

    def _forward(self, idx, val, train, rng):
        E, ec = self._embed("V", idx, val)                                   # (B, F, K)
        B = E.shape[0]
        signals, pcs = [E.reshape(B, -1)], []                                # linear signal z
        for p in self.products:
            s, c = PRODUCTS[p][0](E)                                         # (B, P_p) product signal
            signals.append(s)
            pcs.append(c)
        widths = [s.shape[1] for s in signals]
        y, mc = self.mlp.forward(self.params, np.concatenate(signals, axis=1), train, rng)
        return y, (ec, pcs, mc, widths, E.shape)

    def _backward(self, d, cache):
        ec, pcs, mc, widths, shape = cache
        dx, grads = self.mlp.backward(d, mc)                                 # (B, sum widths)
        parts = np.split(dx, np.cumsum(widths)[:-1], axis=1)
        dE = parts[0].reshape(shape)                                         # z path
        for p, dp, c in zip(self.products, parts[1:], pcs):
            dE += PRODUCTS[p][1](dp, c)                                      # + each product path
        grads["V"] = self._embed_backward(dE, ec)
        return grads
