"""The factorization-machine pair term, in O(F K) instead of O(F^2 K).

For one record with field embeddings e_i = V_i x_i (i = 1..F, each of size K):

    y_pair = sum_{i<j} <e_i, e_j>

Rendle's identity (expand (sum_i e_i)^2 and remove the diagonal):

    y_pair = 1/2 * sum_k [ (sum_i e_{i,k})^2 - sum_i e_{i,k}^2 ]
           = 1/2 * sum_k [ S_k^2 - sum_i e_{i,k}^2 ],     S_k = sum_i e_{i,k}

Gradient. d/de_{i,k} of S_k^2 is 2 S_k, of sum_j e_{j,k}^2 is 2 e_{i,k}, so

    d y_pair / d e_{i,k} = S_k - e_{i,k}

which is the sum of all the *other* fields' embeddings (the pair loop's
gradient, sum_{j != i} e_{j,k}). Through e_i = V_i x_i this is the paper's

    d y_pair / d V_{i,k} = x_i S_k - V_{i,k} x_i^2

`fm_pairs_naive` computes the same value with the explicit double loop; the
tests prove the two agree to 1e-12 in float64.
"""
from __future__ import annotations

import numpy as np


def fm_forward(E):
    """E (B, F, K) field embeddings -> y_pair (B,), cache."""
    S, sum_of_sq = field_sums(E)
    return fm_pairs(S, sum_of_sq), (E, S)


def field_sums(E):
    """E (B, F, K) -> S (B, K) = sum_i e_{i,k}, sum_of_sq (B, K) = sum_i e_{i,k}^2, in field order."""
    return E.sum(axis=1), (E * E).sum(axis=1)


def fm_pairs(S, sum_of_sq):
    """S, sum_of_sq (B, K) -> y_pair (B,) = 1/2 sum_k (S_k^2 - sum_i e_{i,k}^2)."""
    return 0.5 * (S * S - sum_of_sq).sum(axis=1)


def fm_backward(dy, cache):
    """dy (B,) -> dE (B, F, K) = dy * (S_k - e_{i,k})."""
    E, S = cache
    return dy[:, None, None] * (S[:, None, :] - E)             # (B, F, K)


def fm_pairs_naive(E):
    """The same y_pair (B,) by the O(F^2 K) loop over field pairs: the slow, obvious twin."""
    B, F, K = E.shape
    y = np.zeros(B, dtype=E.dtype)
    for i in range(F):
        for j in range(i + 1, F):
            y += (E[:, i, :] * E[:, j, :]).sum(axis=1)         # <e_i, e_j>
    return y
