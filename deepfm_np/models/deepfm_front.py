"""DeepFM's front end fused: embeddings, first-order term and FM pair term in one pass over the rows,
and both paths of the embedding gradient (plus the first-order rows) in one pass back.

Each kernel sits beside the readable NumPy function it implements (`<name>_numpy`, same signature),
composed from layers/; tests/test_fused.py compares them.

    deepfm_front           E = V[idx] x, S = sum_f e_f, first-order and FM terms   (one read of each row)
    embedding_row_grads    g[b,s] = (dy_b (S_b - e_bs) + dx_bs) * x_bs    FM + DNN paths of dV, per slot
    deepfm_row_grads       the same with dw's rows dy_b x_bs as an extra column (one scatter for V and w)

It lives beside models/deepfm.py, the one model it serves, and not in kernels/: its readable twin
is a composition of layers, and kernels/ import nothing above themselves.
Shape letters: B batch, F fields (= slots: no multi-valued field), K embedding size, R table rows.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ..kernels.checks import check_array, check_ids
from ..layers import embedding_forward, first_order_forward, fm_forward


# --------------------------------------------------------------------------------------------------
# DeepFM's front end: embeddings, first-order term and FM pair term in one pass over the rows
# --------------------------------------------------------------------------------------------------

def deepfm_front_numpy(V, w, w0, idx, val):
    """The readable composition (layers/embedding.py, layers/fm.py), for S == F (no multi-valued field).

    V (R, K), w (R,), w0 (1,), idx (B, F) int64, val (B, F) ->
        E  (B, F, K)  e_bf = V[idx_bf] x_bf
        S  (B, K)     sum_f e_bf
        y1 (B,)       w0 + sum_f w[idx_bf] x_bf
        y2 (B,)       1/2 sum_k (S_k^2 - sum_f e_bfk^2)
    """
    E, _ = embedding_forward(V, idx, val)
    y1, _ = first_order_forward(w, w0, idx, val)
    y2, (_, S) = fm_forward(E)
    return E, S, y1, y2


@njit(cache=True, error_model="numpy")
def _deepfm_front_kernel(V, w, w0, idx, val, E, S, y1, y2):
    B, F = idx.shape
    K = V.shape[1]
    sq = np.zeros(K, dtype=V.dtype)                   # sum_f e_bfk^2 of the current row
    for b in range(B):
        lin = w0 * 0
        for k in range(K):
            S[b, k] = 0
            sq[k] = 0
        for f in range(F):
            r = idx[b, f]
            x = val[b, f]
            lin += w[r] * x
            for k in range(K):
                e = V[r, k] * x
                E[b, f, k] = e
                S[b, k] += e
                sq[k] += e * e
        pair = w0 * 0
        for k in range(K):
            pair += S[b, k] * S[b, k] - sq[k]
        y1[b] = lin + w0
        y2[b] = 0.5 * pair


def deepfm_front(V, w, w0, idx, val):
    """deepfm_front_numpy in one pass: each table row is read once, E is written once.

    Equal to the twin up to the order of the sums over F and K (NumPy sums pairwise, the kernel in
    field order): |difference| <= ~F * eps * sum of |terms| (tests/test_fused.py).
    """
    check_array("V", V, floats=True, ndim=2)
    check_array("w", w, dtype=V.dtype, ndim=1)
    check_array("idx", idx, dtype=np.int64, ndim=2)
    if w.shape[0] != V.shape[0]:
        raise ValueError(f"w has {w.shape[0]} rows but V has {V.shape[0]}")
    if val.shape != idx.shape or val.dtype != V.dtype:
        raise ValueError(f"val must be {V.dtype} of shape {idx.shape}, got {val.dtype} {val.shape}")
    check_ids("idx", idx.reshape(-1), V.shape[0])
    B, F = idx.shape
    K = V.shape[1]
    E = np.empty((B, F, K), dtype=V.dtype)
    S = np.empty((B, K), dtype=V.dtype)
    y1 = np.empty(B, dtype=V.dtype)
    y2 = np.empty(B, dtype=V.dtype)
    _deepfm_front_kernel(V, w, V.dtype.type(w0[0]), idx, np.ascontiguousarray(val), E, S, y1, y2)
    return E, S, y1, y2


# --------------------------------------------------------------------------------------------------
# DeepFM: both paths of the embedding gradient, scaled by the values, in one pass
# --------------------------------------------------------------------------------------------------

def embedding_row_grads_numpy(dy, S, E, dx, val):
    """Per-slot gradient rows of V, (B*F, K), for DeepFM without multi-valued fields.

    dy (B,) d loss / d logit, S (B, K) sum of the field embeddings, E (B, F, K) the embeddings,
    dx (B, F*K) the MLP's input gradient (None when the DNN path is off), val (B, F) the values.
        dE_fm = dy (S - E)            (fm_backward)
        dE    = dE_fm + dE_dnn        (the two paths add)
        g     = dE * x                (embedding_backward: de/dV = x)
    """
    B, F, K = E.shape
    dE = dy[:, None, None] * (S[:, None, :] - E)
    if dx is not None:
        dE = dE + dx.reshape(B, F, K)
    return (dE * val[:, :, None]).reshape(B * F, K)


@njit(cache=True, error_model="numpy")
def _embedding_row_grads_kernel(dy, S, E, dx, val, use_dx, out):
    B, F, K = E.shape
    for b in range(B):
        for f in range(F):
            x = val[b, f]
            for k in range(K):
                g = dy[b] * (S[b, k] - E[b, f, k])
                if use_dx:
                    g = g + dx[b, f * K + k]
                out[b * F + f, k] = g * x
    return out


def embedding_row_grads(dy, S, E, dx, val):
    """Fused embedding_row_grads_numpy (same arguments, same result, one pass, no temporaries)."""
    _check_row_grad_args(dy, S, E, dx, val)
    B, F, K = E.shape
    use_dx = dx is not None
    out = np.empty((B * F, K), dtype=E.dtype)
    return _embedding_row_grads_kernel(dy, S, E, dx if use_dx else S, val, use_dx, out)


def deepfm_row_grads_numpy(dy, S, E, dx, val):
    """(B*F, K+1): columns :K the rows of dV (embedding_row_grads_numpy), column K those of dw (dy x).

    One array for both tables, because V and w are read at the same ids: one scatter-add then sums
    both (each column is summed on its own, so the result equals two separate scatter-adds).
    """
    B, F, K = E.shape
    gV = embedding_row_grads_numpy(dy, S, E, dx, val)                    # (B*F, K)
    gw = (dy[:, None] * val).reshape(-1, 1)                              # (B*F, 1) first_order_backward
    return np.concatenate([gV, gw], axis=1)


@njit(cache=True, error_model="numpy")
def _deepfm_row_grads_kernel(dy, S, E, dx, val, use_dx, out):
    B, F, K = E.shape
    for b in range(B):
        for f in range(F):
            x = val[b, f]
            n = b * F + f
            for k in range(K):
                g = dy[b] * (S[b, k] - E[b, f, k])
                if use_dx:
                    g = g + dx[b, f * K + k]
                out[n, k] = g * x
            out[n, K] = dy[b] * x
    return out


def deepfm_row_grads(dy, S, E, dx, val):
    """Fused deepfm_row_grads_numpy (same arguments, same numbers, one pass)."""
    _check_row_grad_args(dy, S, E, dx, val)
    B, F, K = E.shape
    out = np.empty((B * F, K + 1), dtype=E.dtype)
    use_dx = dx is not None
    return _deepfm_row_grads_kernel(dy, S, E, dx if use_dx else S, val, use_dx, out)


def _check_row_grad_args(dy, S, E, dx, val):
    B, F, K = E.shape
    for name, arr, shape in (("dy", dy, (B,)), ("S", S, (B, K)), ("val", val, (B, F)),
                             ("dx", dx, (B, F * K))):
        if arr is None and name == "dx":
            continue
        if arr.shape != shape or arr.dtype != E.dtype or not arr.flags.c_contiguous:
            raise ValueError(f"{name} must be C-contiguous {E.dtype} of shape {shape}, got {arr.dtype} {arr.shape}")
