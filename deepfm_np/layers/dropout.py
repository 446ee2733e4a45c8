"""Inverted dropout.

Naming trap: the DeepFM paper's "dropout 0.5" is the probability of KEEPING a
unit. Here the parameter is called `keep_prob` so there is no doubt:
keep_prob=1.0 means no dropout.

Training: mask m_j ~ Bernoulli(keep_prob), out = x * m / keep_prob, so the
expected activation is unchanged and evaluation needs no rescaling.
Evaluation: the identity.

The mask bits come from kernels/splitmix.py (unit n kept when a hash of
(seed, n) is small enough; seed is one draw from `rng`), the very bits the
fused relu+dropout kernel uses: the readable MLP and the fused one are exact
twins given the same generator.
"""
from __future__ import annotations

from ..kernels.splitmix import dropout_seed, keep_mask_numpy


def dropout_forward(x, keep_prob, train, rng):
    """x (B, H) -> out (B, H), cache (the scaled mask, or None when inactive)."""
    if not 0.0 < keep_prob <= 1.0:
        raise ValueError(f"keep_prob must be in (0, 1], got {keep_prob}")
    if not train or keep_prob == 1.0:
        return x, None
    m = keep_mask_numpy(dropout_seed(rng), x.size, keep_prob).reshape(x.shape)   # (B, H) bool
    mask = m.astype(x.dtype) / x.dtype.type(keep_prob)        # (B, H) 0 or 1/keep_prob
    return x * mask, mask


def dropout_backward(dout, cache):
    mask = cache
    return dout if mask is None else dout * mask
