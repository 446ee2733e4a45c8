"""The deep component: a multilayer perceptron with one output unit.

    a_0 = x                                          (B, D_0)
    a_{l+1} = dropout(act(a_l W_l + b_l))            (B, H_l),  l = 0..L-1
    y_DNN = a_L w_out + b_out                        (B,)

A composite layer: its forward calls dense/activation/dropout forwards in order
and keeps their caches; its backward calls their backwards in reverse order.
Parameters live in the model's `params` dict under `prefix` (e.g. "mlp.W0").

Two routes, chosen once in __init__ (`fused`):
- readable (fused=False): dense_forward, the activation, dropout_forward, layer by layer;
- fused (fused=None with relu, the default): the dense layer's + b, relu and dropout in ONE pass
  (kernels/relu_dropout.py, in place on x W), whose backward reads only the layer's output a
  (da/dz = [a > 0] / keep) and sums db in the same pass.
Both draw the dropout mask from the same counter-based bits (kernels/splitmix.py, one seed per layer
and step from `rng`), so they are exact twins: same logits, same gradients (tests/test_models.py).
tanh has only the readable route.
"""
from __future__ import annotations

import numpy as np

from ..kernels.relu_dropout import relu_dropout_backward, relu_dropout_forward
from ..kernels.splitmix import dropout_seed
from .activations import get_activation
from .dense import dense_backward, dense_forward
from .dropout import dropout_backward, dropout_forward


class MLP:
    """hidden: sizes H_0..H_{L-1}; activation: 'relu' | 'tanh'; keep_prob: dropout keep probability."""

    def __init__(self, prefix, d_in, hidden=(400, 400, 400), activation="relu", keep_prob=0.5, fused=None):
        self.prefix = prefix
        self.dims = [int(d_in)] + [int(h) for h in hidden] + [1]
        if any(d < 1 for d in self.dims):
            raise ValueError(f"MLP sizes must be positive, got input {d_in} and hidden {tuple(hidden)}")
        self.act_forward, self.act_backward = get_activation(activation)
        self.activation = activation
        if not 0.0 < keep_prob <= 1.0:
            raise ValueError(f"keep_prob must be in (0, 1], got {keep_prob}")
        self.keep_prob = float(keep_prob)
        if fused and activation != "relu":
            raise ValueError(f"MLP: the fused route is relu + dropout; activation {activation!r} needs fused=False")
        self.fused = activation == "relu" if fused is None else bool(fused)

    def names(self):
        """Parameter names, in layer order: W0, b0, W1, b1, ..., W{L}, b{L} (the last is the output unit)."""
        return [f"{self.prefix}.{p}{l}" for l in range(len(self.dims) - 1) for p in "Wb"]

    def init_params(self, params, rng, dtype):
        """He-normal for relu layers, Glorot-normal for tanh and the output; zero biases."""
        for l, (d_in, d_out) in enumerate(zip(self.dims[:-1], self.dims[1:])):
            last = l == len(self.dims) - 2
            gain = 2.0 if (self.activation == "relu" and not last) else 1.0
            std = np.sqrt(gain / d_in) if gain == 2.0 else np.sqrt(2.0 / (d_in + d_out))
            params[f"{self.prefix}.W{l}"] = (rng.standard_normal((d_in, d_out)) * std).astype(dtype)
            params[f"{self.prefix}.b{l}"] = np.zeros(d_out, dtype=dtype)

    def forward(self, params, x, train=False, rng=None):
        """x (B, D_0) -> y (B,), cache (one entry per layer)."""
        caches = []
        a = x
        L = len(self.dims) - 1
        keep = self.keep_prob if train else 1.0
        for l in range(L - 1):                                 # hidden layers
            W, b = params[f"{self.prefix}.W{l}"], params[f"{self.prefix}.b{l}"]
            if self.fused:                                     # x W, then + b, relu, dropout in one pass
                seed = dropout_seed(rng) if keep < 1.0 else 0
                z = a @ W                                      # (B, H), dense_forward without its + b
                a_in, a = a, relu_dropout_forward(z, keep, seed, out=z, bias=b)
                caches.append(((a_in, W), a, keep))            # dense_forward's cache, the output, keep
            else:
                z, dc = dense_forward(a, W, b)
                a, ac = self.act_forward(z)
                a, mc = dropout_forward(a, self.keep_prob, train, rng)
                caches.append((dc, ac, mc))
        z, dc = dense_forward(a, params[f"{self.prefix}.W{L - 1}"], params[f"{self.prefix}.b{L - 1}"])
        caches.append(dc)                                      # output unit: linear
        return z[:, 0], caches

    def backward(self, dy, cache, need_dx=True):
        """dy (B,) -> dx (B, D_0) or None, grads {name: array}."""
        grads = {}
        L = len(cache)
        d, grads[f"{self.prefix}.W{L - 1}"], grads[f"{self.prefix}.b{L - 1}"] = dense_backward(
            dy[:, None], cache[L - 1], need_dx=need_dx or L > 1)
        for l in reversed(range(L - 1)):
            db = None
            if self.fused:                                     # the layer's output a = relu(z) m / keep
                dc, a, keep = cache[l]
                db = np.empty(d.shape[1], dtype=d.dtype)       # summed in the same pass
                d = relu_dropout_backward(d, a, keep, out=d, db=db)
            else:
                dc, ac, mc = cache[l]
                d = self.act_backward(dropout_backward(d, mc), ac)
            d, grads[f"{self.prefix}.W{l}"], grads[f"{self.prefix}.b{l}"] = dense_backward(
                d, dc, need_dx=need_dx or l > 0, db=db)
        return d, grads
