"""FNN (Zhang et al. 2016): an MLP on embeddings initialised from a trained FM.

Two stages:

    1. train an FM (same embedding size K) on the training data;
    2. copy its V and w into this model's tables, then train the MLP and the
       tables end to end:

    z_i = [w_i x_i, V_i x_i]                  one field's input          (B, F, 1 + K)
    y   = MLP([z_1, ..., z_F])                the MLP output is the logit (no FM term)

So FNN sees pairwise interactions only through what the FM already put into
V, and models only high-order ones in the MLP; the FM's pair term itself is
gone in stage 2. The first-order table is kept as a width-1 embedding,
w (R, 1), so the same lookup (and multi-valued pooling) serves both tables.

Stage 1 runs inside `train()`: train() calls the hook `model.pretrain(...)`
(models/base.py) of every model first, and counts its time (TrainResult.pretrain_seconds, included
in train_seconds), as the paper's efficiency figure counts both stages.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..layers import MLP
from .base import Model
from .fm import FM


class FNN(Model):
    name = "fnn"

    def __init__(self, layout, embed_dim=10, hidden=(400, 400, 400), activation="relu", keep_prob=0.5,
                 init_std=0.01, pretrain_epochs=None, seed=0, dtype=np.float32):
        super().__init__(layout, dtype)
        rng = np.random.default_rng(seed)
        R, F, K = layout.n_rows, layout.n_fields, embed_dim
        self._init_table("V", R, K, rng, init_std)                         # (R, K) overwritten by stage 1
        self.params["w"] = np.zeros((R, 1), dtype=self.dtype)              # (R, 1) width-1 embedding
        self.mlp = MLP("mlp", F * (1 + K), hidden, activation, keep_prob)
        self.mlp.init_params(self.params, rng, self.dtype)
        self.sparse_params = frozenset({"V", "w"})

    def pretrain(self, train_data, valid_data, config, fit):
        """Stage 1: fit an FM (fit = train()) and copy its V, w into this model. Runs once."""
        if self.pretrain_result is not None:
            return None                                                    # already initialised
        cfg = config
        if self.config["pretrain_epochs"]:
            cfg = replace(cfg, epochs=int(self.config["pretrain_epochs"]))
        fm = FM(self.layout, embed_dim=self.config["embed_dim"], init_std=self.config["init_std"],
                seed=self.config["seed"], dtype=self.dtype)
        fm.name = "fnn:pretrain-fm"
        self.pretrain_result = fit(fm, train_data, valid_data, cfg)
        self.params["V"][...] = fm.params["V"]                             # in place: optimizers keep refs
        self.params["w"][:, 0] = fm.params["w"]
        return self.pretrain_result

    def _forward(self, idx, val, train, rng):
        E, ec = self._embed("V", idx, val)                                 # (B, F, K)
        W1, wc = self._embed("w", idx, val)                                # (B, F, 1)  w_i x_i
        Z = np.concatenate([W1, E], axis=2)                                # (B, F, 1 + K)
        y, mc = self.mlp.forward(self.params, Z.reshape(Z.shape[0], -1), train, rng)
        return y, (ec, wc, mc, Z.shape)

    def _backward(self, d, cache):
        ec, wc, mc, shape = cache
        dx, grads = self.mlp.backward(d, mc)
        dZ = dx.reshape(shape)                                             # (B, F, 1 + K)
        grads["w"] = self._embed_backward(np.ascontiguousarray(dZ[:, :, :1]), wc)
        grads["V"] = self._embed_backward(np.ascontiguousarray(dZ[:, :, 1:]), ec)
        return grads
