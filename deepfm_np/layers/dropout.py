"""Inverted dropout.

Naming trap: the DeepFM paper's "dropout 0.5" is the probability of KEEPING a
unit. Here the parameter is called `keep_prob` so there is no doubt:
keep_prob=1.0 means no dropout.

Training: mask m_j ~ Bernoulli(keep_prob), out = x * m / keep_prob, so the
expected activation is unchanged and evaluation needs no rescaling.
Evaluation: the identity.
"""
from __future__ import annotations

import numpy as np


def dropout_forward(x, keep_prob, train, rng):
    """x (B, H) -> out (B, H), cache (the scaled mask, or None when inactive)."""
    if not 0.0 < keep_prob <= 1.0:
        raise ValueError(f"keep_prob must be in (0, 1], got {keep_prob}")
    if not train or keep_prob == 1.0:
        return x, None
    if rng is None:
        raise ValueError("dropout in training mode needs an rng (np.random.Generator)")
    mask = (rng.random(x.shape, dtype=np.float64 if x.dtype == np.float64 else np.float32) < keep_prob)
    mask = mask.astype(x.dtype) / x.dtype.type(keep_prob)     # (B, H) 0 or 1/keep_prob
    return x * mask, mask


def dropout_backward(dout, cache):
    mask = cache
    return dout if mask is None else dout * mask
