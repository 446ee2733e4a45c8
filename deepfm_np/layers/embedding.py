"""Embedding lookup and first-order weights: the two tables a batch reads row by row.

Both layers read rows `idx` of a table shared by all fields (per-field offsets,
see fields.py) and scale each slot by its value x = val:

    embedding:     e_{b,s} = V[idx[b,s]] * val[b,s]                 (B, S, K)
    first order:   y1_b    = w0 + sum_s w[idx[b,s]] * val[b,s]      (B,)

Their gradients touch only the rows in the batch, so backward returns a
SparseGrad (rows, values) with duplicate ids summed:

    dV[r] = sum_{(b,s): idx[b,s] = r} dE[b,s] * val[b,s]
    dw[r] = sum_{(b,s): idx[b,s] = r} dy1[b]  * val[b,s]
"""
from __future__ import annotations

import numpy as np

from ..kernels.rows import gather_rows
from ..sparse import SparseGrad, rows_to_sparse


def embedding_forward(V, idx, val):
    """Look up and scale embeddings.

    V   (R, K) table
    idx (B, S) int64 global rows
    val (B, S) values x (1.0 for categorical slots)
    returns E (B, S, K), cache
    """
    B, S = idx.shape
    K = V.shape[1]
    E = gather_rows(V, idx.reshape(-1)).reshape(B, S, K)      # (B, S, K) = V[idx]
    E *= val[:, :, None]                                      # e = V_i * x_i
    return E, (idx, val)


def embedding_backward(dE, cache) -> SparseGrad:
    """dE (B, S, K) -> SparseGrad of V with rows (U,), values (U, K)."""
    idx, val = cache
    K = dE.shape[2]
    row_grads = (dE * val[:, :, None]).reshape(-1, K)          # (B*S, K): de/dV_i = x_i
    return rows_to_sparse(idx.reshape(-1), row_grads)


def first_order_forward(w, w0, idx, val):
    """First-order term <w, x> plus the global bias.

    w   (R,) table of scalar weights; w0 (1,) bias
    idx (B, S), val (B, S)
    returns y1 (B,), cache
    """
    y1 = (w[idx] * val).sum(axis=1) + w0[0]                    # (B,)
    return y1, (idx, val)


def first_order_backward(dy1, cache):
    """dy1 (B,) -> (SparseGrad of w with values (U,), dw0 (1,))."""
    idx, val = cache
    row_grads = (dy1[:, None] * val).reshape(-1)               # (B*S,): dy1/dw_i = x_i
    dw = rows_to_sparse(idx.reshape(-1), row_grads)
    dw0 = np.array([dy1.sum()], dtype=dy1.dtype)
    return dw, dw0
