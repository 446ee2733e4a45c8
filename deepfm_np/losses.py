"""Sigmoid + binary cross-entropy, computed from logits.

For a logit z and label y in {0, 1}, with p = sigmoid(z):

    loss = -[y log p + (1 - y) log(1 - p)]
         = max(z, 0) - z y + log(1 + exp(-|z|))      (never overflows, exact for |z| = 1000)

    d loss / d z = p - y

Computing from the logit (instead of from p) avoids log(0) when p rounds to 0 or 1.
"""
from __future__ import annotations

import numpy as np

from .layers.activations import sigmoid


def bce_with_logits(z, y):
    """Mean loss over the batch and its gradient.

    z (B,) logits, y (B,) labels in {0, 1}
    returns loss (float), dz (B,) = (sigmoid(z) - y) / B
    """
    z = np.asarray(z)
    y = np.asarray(y, dtype=z.dtype)
    per_row = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
    B = z.shape[0]
    dz = (sigmoid(z) - y) / B
    return float(per_row.mean()), dz.astype(z.dtype, copy=False)
