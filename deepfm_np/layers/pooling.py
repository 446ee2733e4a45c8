"""Pooling of slots into fields, for multi-valued fields (a movie's genres).

A multi-valued field f owns W slots. The data encoder writes val = 1/n for
each of the n values present and val = 0 on padding slots, so the field's
embedding is the *mean* of its values' embeddings, computed as a sum:

    P[b, f] = sum_{s: field(s) = f} E[b, s]          (E already scaled by val)

Backward copies each field's gradient back to its slots:

    dE[b, s] = dP[b, field(s)]

Fields with one slot pass through unchanged; when no field is multi-valued the
models skip this layer entirely (S == F).
"""
from __future__ import annotations

import numpy as np


def field_pool_forward(E, slot_field, n_fields):
    """E (B, S, K), slot_field (S,) int64 -> P (B, F, K), cache."""
    B, S, K = E.shape
    P = np.zeros((B, n_fields, K), dtype=E.dtype)
    for s in range(S):                                           # S is small (tens)
        P[:, slot_field[s]] += E[:, s]
    return P, slot_field


def field_pool_backward(dP, cache):
    """dP (B, F, K) -> dE (B, S, K)."""
    slot_field = cache
    return dP[:, slot_field, :]
