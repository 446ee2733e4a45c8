"""DeepFM (Guo et al. 2017), eq. 1:

    y_hat = sigmoid(y_FM + y_DNN)
    y_FM  = w0 + sum_i w_i x_i + sum_{i<j} <e_i, e_j>        (first order + FM pairs)
    y_DNN = MLP([e_1, ..., e_F])                               (400-400-400, relu, keep 0.5)
    e_i   = V_i x_i                                            (ONE table V, shared)

The embedding is computed once and feeds both the FM pair term and the MLP, so
its gradient is the sum of two parts:

    dE = dE_fm + dE_dnn

`fm_grad` / `dnn_grad` cut either part off (a stop-gradient) for the ablation
"is the embedding learned by the FM, the DNN, or both?". After a backward,
`embedding_grad_parts()` returns each part of dV separately so a learner can
see them and check that they add up.
"""
from __future__ import annotations

import numpy as np

from .deepfm_front import deepfm_front, deepfm_row_grads
from ..layers import MLP, first_order_backward, first_order_forward, fm_backward, fm_forward
from ..sparse import SparseGrad, rows_to_sparse
from .base import Model


class DeepFM(Model):
    name = "deepfm"

    def __init__(self, layout, embed_dim=10, hidden=(400, 400, 400), activation="relu", keep_prob=0.5,
                 fm_grad=True, dnn_grad=True, init_std=0.01, seed=0, dtype=np.float32):
        super().__init__(layout, dtype)
        self.config = dict(embed_dim=embed_dim, hidden=list(hidden), activation=activation,
                           keep_prob=keep_prob, fm_grad=fm_grad, dnn_grad=dnn_grad, init_std=init_std, seed=seed)
        self.fm_grad, self.dnn_grad = bool(fm_grad), bool(dnn_grad)
        if not (self.fm_grad or self.dnn_grad):
            raise ValueError("DeepFM: at least one of fm_grad, dnn_grad must be True or V never learns")
        rng = np.random.default_rng(seed)
        R, F, K = layout.n_rows, layout.n_fields, embed_dim
        self._init_table("V", R, K, rng, init_std)                 # (R, K) shared embedding
        self.params["w"] = np.zeros(R, dtype=self.dtype)           # (R,)  first-order weights
        self.params["w0"] = np.zeros(1, dtype=self.dtype)          # (1,)  global bias
        self.mlp = MLP("mlp", F * K, hidden, activation, keep_prob)
        self.mlp.init_params(self.params, rng, self.dtype)
        self.sparse_params = frozenset({"V", "w"})
        self._dE_parts = None

    def _forward(self, idx, val, train, rng):
        B = idx.shape[0]
        if not self.layout.has_multi:
            # Fast path, same numbers up to summation order: the three calls below in one pass (deepfm_front.py).
            E, S, y1, y2 = deepfm_front(self.params["V"], self.params["w"], self.params["w0"], idx, val)
            y3, mc = self.mlp.forward(self.params, E.reshape(B, -1), train, rng)          # (B,)  DNN
            return y1 + y2 + y3, (((idx, val), None), (idx, val), (E, S), mc, E.shape)
        E, ec = self._embed("V", idx, val)                          # (B, F, K), computed once
        y1, lc = first_order_forward(self.params["w"], self.params["w0"], idx, val)   # (B,)
        y2, fc = fm_forward(E)                                      # (B,)  FM pairs
        y3, mc = self.mlp.forward(self.params, E.reshape(B, -1), train, rng)          # (B,)  DNN
        return y1 + y2 + y3, (ec, lc, fc, mc, E.shape)

    def _backward(self, d, cache):
        ec, lc, fc, mc, shape = cache
        grads = {}
        dx, mlp_grads = self.mlp.backward(d, mc, need_dx=self.dnn_grad)
        grads.update(mlp_grads)
        self._dE_parts = (d, fc, dx, shape, ec)                     # embedding_grad_parts() rebuilds them
        if self.fm_grad and self.dnn_grad and ec[1] is None:
            # Fast path, same numbers: dE = dE_fm + dE_dnn, de/dV = x and dy1/dw = x in one pass, and
            # one scatter-add for both tables, which are read at the same ids (deepfm_front.py).
            (idx, val), (E, S) = ec[0], fc
            K = E.shape[2]
            sg = rows_to_sparse(idx.reshape(-1), deepfm_row_grads(d, S, E, dx, val))   # (U, K+1)
            grads["V"] = SparseGrad(sg.rows, np.ascontiguousarray(sg.values[:, :K]))
            grads["w"] = SparseGrad(sg.rows, np.ascontiguousarray(sg.values[:, K]))
            grads["w0"] = np.array([d.sum()], dtype=d.dtype)
            return grads
        grads["w"], grads["w0"] = first_order_backward(d, lc)
        dE_fm = fm_backward(d, fc)                                  # (B, F, K) FM path
        dE_dnn = dx.reshape(shape) if dx is not None else None      # (B, F, K) DNN path
        if self.fm_grad and self.dnn_grad:
            dE = dE_fm + dE_dnn                                     # the shared embedding's two gradients add
        else:
            dE = dE_fm if self.fm_grad else dE_dnn
        grads["V"] = self._embed_backward(dE, ec)
        return grads

    def embedding_grad_parts(self):
        """After a backward: {"fm": SparseGrad, "dnn": SparseGrad} of V, each path alone.

        Their sum (as dense arrays) equals grads["V"] when both paths are on; a
        path that was cut off still reports what it *would* have contributed
        (the DNN part only if it was computed, i.e. dnn_grad=True).
        """
        if self._dE_parts is None:
            raise RuntimeError("call forward and backward before embedding_grad_parts")
        d, fc, dx, shape, ec = self._dE_parts
        dE_fm = fm_backward(d, fc)
        dE_dnn = dx.reshape(shape) if dx is not None else None
        parts = {"fm": self._embed_backward(dE_fm, ec)}
        if dE_dnn is not None:
            parts["dnn"] = self._embed_backward(dE_dnn, ec)
        return parts
