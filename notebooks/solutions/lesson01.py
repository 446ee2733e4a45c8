"""Lesson 01 exercise: the FM pair term in O(FK) and its backward."""
import numpy as np


def fm_pair_forward(E):
    """E (B, F, K) -> y (B,) = sum_{i<j} <e_i, e_j> = 0.5 * sum_f (S_f^2 - sum_i e_{i,f}^2), cache."""
    S = E.sum(axis=1)                                      # (B, K)  S_f = sum_i e_{i,f}
    y = 0.5 * ((S * S).sum(axis=1) - (E * E).sum(axis=(1, 2)))
    return y, (E, S)


def fm_pair_backward(dy, cache):
    """dy (B,) -> dE (B, F, K): dy_b * (S_f - e_{i,f}), the sum of the other fields' embeddings."""
    E, S = cache
    return dy[:, None, None] * (S[:, None, :] - E)
