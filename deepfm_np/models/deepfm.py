"""DeepFM (Guo et al. 2017), eq. 1:

    y_hat = sigmoid(y_FM + y_DNN)
    y_FM  = w0 + sum_i w_i x_i + sum_{i<j} <e_i, e_j>        (first order + FM pairs)
    y_DNN = MLP([e_1, ..., e_F])                               (400-400-400, relu, keep 0.5)
    e_i   = V_i x_i                                            (ONE table V, shared)

Two blocks: the front end (the embedding, the first-order term and the FM pairs; deepfm_front.py)
and the MLP. The embedding is computed once and feeds both the FM pair term and the MLP, so its
gradient is the sum of two parts:

    dE = dE_fm + dE_dnn

`fm_grad` / `dnn_grad` cut either part off (a stop-gradient) for the ablation "is the embedding
learned by the FM, the DNN, or both?". After a backward, `embedding_grad_parts()` returns each
part of dV separately so a learner can see them and check that they add up.

`fused` picks the route once: None (default) runs the fused Numba front end and relu+dropout
kernels where the layout and activation allow, False the readable layers throughout, True the
fused ones or a ValueError. Both routes give the same logits and gradients (tests/test_models.py).
"""
from __future__ import annotations

import numpy as np

from ..layers import MLP
from .base import Model
from .deepfm_front import make_front


class DeepFM(Model):
    name = "deepfm"

    def __init__(self, layout, embed_dim=10, hidden=(400, 400, 400), activation="relu", keep_prob=0.5,
                 fm_grad=True, dnn_grad=True, init_std=0.01, seed=0, fused=None, dtype=np.float32):
        super().__init__(layout, dtype)
        self.fm_grad, self.dnn_grad = bool(fm_grad), bool(dnn_grad)
        if not (self.fm_grad or self.dnn_grad):
            raise ValueError("DeepFM: at least one of fm_grad, dnn_grad must be True or V never learns")
        rng = np.random.default_rng(seed)
        R, F, K = layout.n_rows, layout.n_fields, embed_dim
        self._init_table("V", R, K, rng, init_std)                 # (R, K) shared embedding
        self.params["w"] = np.zeros(R, dtype=self.dtype)           # (R,)  first-order weights
        self.params["w0"] = np.zeros(1, dtype=self.dtype)          # (1,)  global bias
        self.front = make_front(layout, fused)                     # the route, chosen once
        self.mlp = MLP("mlp", F * K, hidden, activation, keep_prob, fused=fused)
        self.mlp.init_params(self.params, rng, self.dtype)
        self.sparse_params = frozenset({"V", "w"})
        self._parts = None

    def _forward(self, idx, val, train, rng):
        E, y_fm, fc = self.front.forward(self.params, idx, val)                    # (B, F, K), (B,)
        y_dnn, mc = self.mlp.forward(self.params, E.reshape(E.shape[0], -1), train, rng)   # (B,)
        return y_fm + y_dnn, (fc, mc)

    def _backward(self, d, cache):
        fc, mc = cache
        dx, grads = self.mlp.backward(d, mc, need_dx=self.dnn_grad)               # dx = dE_dnn (B, F*K)
        grads.update(self.front.backward(d, dx, fc, fm=self.fm_grad, dnn=self.dnn_grad))
        self._parts = (d, dx, fc)                                  # embedding_grad_parts() replays the front
        return grads

    def embedding_grad_parts(self):
        """After a backward: {"fm": SparseGrad, "dnn": SparseGrad} of V, each path alone.

        Their sum (as dense arrays) equals grads["V"] when both paths are on; a path that was cut off
        still reports what it *would* have contributed (the DNN part only if it was computed, i.e.
        dnn_grad=True).
        """
        if self._parts is None:
            raise RuntimeError("call forward and backward before embedding_grad_parts")
        d, dx, fc = self._parts
        parts = {"fm": self.front.backward(d, None, fc, fm=True, dnn=False)["V"]}
        if dx is not None:
            parts["dnn"] = self.front.backward(d, dx, fc, fm=False, dnn=True)["V"]
        return parts
