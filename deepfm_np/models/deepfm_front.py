"""DeepFM's front end: the shared embedding, the first-order term and the FM pair term.

    forward(params, idx, val) -> E (B, F, K), y_fm (B,), cache
        e_f  = V[idx_f] x_f                       (pooled per field when a field is multi-valued)
        y_fm = w0 + sum_f w[idx_f] x_f  +  1/2 sum_k (S_k^2 - sum_f e_fk^2),   S = sum_f e_f
    backward(dy, dE_dnn, cache, fm=True, dnn=True) -> {"V": SparseGrad, "w": SparseGrad, "w0": (1,)}
        dE = [fm] dy (S - e_f)  +  [dnn] dE_dnn   (the two paths into the shared V add; a path that is
                                                   off is a stop-gradient: the ablations, and
                                                   DeepFM.embedding_grad_parts, which calls it twice)

Two implementations of this one signature, and DeepFM picks one in __init__:
- ReadableFront: composed from layers/ (embedding, pooling, first order, FM), for any layout;
- FusedFront: for layouts without multi-valued fields (S == F). One Numba pass computes E, S and
  sum_f e_f^2 (embedding_sums), one pass back gives the rows of dV and dw side by side
  (deepfm_row_grads), and ONE scatter-add sums both tables, which are read at the same ids.
They compute the very same numbers: each kernel does its NumPy twin's operations in the twin's
order (NumPy sums E over the field axis in field order, as the kernel does), and the sums over K
and over the fields of the first-order term are the same NumPy calls on both routes
(tests/test_fused.py: kernels vs twins; tests/test_models.py: DeepFM(fused=False) vs the default).

The kernels live here, beside the one model they serve, and not in kernels/: their readable twins
are compositions of layers, and kernels/ import nothing above themselves.
Shape letters: B batch, F fields (= slots S on the fused route), K embedding size, R table rows.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ..kernels.inputs import check_array, check_ids
from ..layers import (embedding_forward, field_sums, first_order_backward, first_order_forward, fm_backward,
                      fm_forward, fm_pairs)
from ..sparse import SparseGrad, rows_to_sparse
from .base import embed, embed_backward


class ReadableFront:
    """The front end composed from layers/ (any layout, multi-valued fields included)."""
    fused = False

    def __init__(self, layout):
        self.layout = layout

    def forward(self, params, idx, val):
        E, ec = embed(params["V"], idx, val, self.layout)                       # (B, F, K), computed once
        y1, lc = first_order_forward(params["w"], params["w0"], idx, val)       # (B,)
        y2, fc = fm_forward(E)                                                  # (B,)  FM pairs
        return E, y1 + y2, (ec, lc, fc)

    def backward(self, dy, dE_dnn, cache, fm=True, dnn=True):
        ec, lc, fc = _check_paths(fm, dnn, dE_dnn, cache)
        dw, dw0 = first_order_backward(dy, lc)
        dE_fm = fm_backward(dy, fc) if fm else None                             # (B, F, K) FM path
        dE_dnn = dE_dnn.reshape(fc[0].shape) if dnn else None                   # (B, F, K) DNN path
        dE = dE_fm + dE_dnn if fm and dnn else (dE_fm if fm else dE_dnn)        # the two paths add
        return {"V": embed_backward(dE, ec), "w": dw, "w0": dw0}


class FusedFront(ReadableFront):
    """The same front end in two Numba passes; needs S == F (no multi-valued field)."""
    fused = True

    def __init__(self, layout):
        if layout.has_multi:
            raise ValueError("the fused DeepFM front end needs one slot per field (no multi-valued field)")
        super().__init__(layout)

    def forward(self, params, idx, val):
        E, S, sq = embedding_sums(params["V"], idx, val)                        # one pass over the rows
        y1, _ = first_order_forward(params["w"], params["w0"], idx, val)
        return E, y1 + fm_pairs(S, sq), (idx, val, E, S)

    def backward(self, dy, dE_dnn, cache, fm=True, dnn=True):
        idx, val, E, S = _check_paths(fm, dnn, dE_dnn, cache)
        K = E.shape[2]
        g = deepfm_row_grads(dy, S, E, dE_dnn if dnn else None, val, fm=fm)   # (B*F, K+1)
        sg = rows_to_sparse(idx.reshape(-1), g)                                 # (U, K+1): one scatter
        return {"V": SparseGrad(sg.rows, np.ascontiguousarray(sg.values[:, :K])),
                "w": SparseGrad(sg.rows, np.ascontiguousarray(sg.values[:, K])),
                "w0": np.array([dy.sum()], dtype=dy.dtype)}


def make_front(layout, fused=None):
    """fused=None: FusedFront when the layout allows it (no multi-valued field), else ReadableFront."""
    if fused is None:
        fused = not layout.has_multi
    return FusedFront(layout) if fused else ReadableFront(layout)


def _check_paths(fm, dnn, dE_dnn, cache):
    if not (fm or dnn):
        raise ValueError("front backward: at least one of the fm and dnn paths must be on")
    if dnn and dE_dnn is None:
        raise ValueError("front backward: the dnn path needs the MLP's input gradient dE_dnn")
    return cache


# --------------------------------------------------------------------------------------------------
# forward: E, S and sum_f e_f^2 in one pass over the rows
# --------------------------------------------------------------------------------------------------

def embedding_sums_numpy(V, idx, val):
    """V (R, K), idx (B, F) int64, val (B, F) -> E (B, F, K) = V[idx] x, S (B, K), sq (B, K).

    S = sum_f e_f and sq = sum_f e_f^2: layers/fm.py's field_sums, the sums fm_forward takes over the fields.
    """
    E, _ = embedding_forward(V, idx, val)
    S, sq = field_sums(E)
    return E, S, sq


@njit(cache=True, error_model="numpy")
def _embedding_sums_kernel(V, idx, val, E, S, sq):
    B, F = idx.shape
    K = V.shape[1]
    for b in range(B):
        for k in range(K):
            S[b, k] = 0
            sq[b, k] = 0
        for f in range(F):
            r = idx[b, f]
            x = val[b, f]
            for k in range(K):
                e = V[r, k] * x
                E[b, f, k] = e
                S[b, k] += e                  # field order, as NumPy's sum over the field axis
                sq[b, k] += e * e


def embedding_sums(V, idx, val):
    """embedding_sums_numpy in one pass: each table row is read once, E is written once."""
    check_array("V", V, floats=True, ndim=2)
    check_array("idx", idx, dtype=np.int64, ndim=2)
    if val.shape != idx.shape or val.dtype != V.dtype:
        raise ValueError(f"val must be {V.dtype} of shape {idx.shape}, got {val.dtype} {val.shape}")
    check_ids("idx", idx.reshape(-1), V.shape[0])
    B, F = idx.shape
    K = V.shape[1]
    E = np.empty((B, F, K), dtype=V.dtype)
    S = np.empty((B, K), dtype=V.dtype)
    sq = np.empty((B, K), dtype=V.dtype)
    _embedding_sums_kernel(V, idx, np.ascontiguousarray(val), E, S, sq)
    return E, S, sq


# --------------------------------------------------------------------------------------------------
# backward: the rows of dV (both paths, scaled by the values) and of dw, in one pass
# --------------------------------------------------------------------------------------------------

def deepfm_row_grads_numpy(dy, S, E, dx, val, fm=True):
    """(B*F, K+1): columns :K the per-slot rows of dV, column K those of dw.

    dy (B,) d loss / d logit, S (B, K) and E (B, F, K) from the forward, dx (B, F*K) the MLP's input
    gradient (None: DNN path off), val (B, F) the values; fm=False cuts the FM path off.
        dE_fm = dy (S - E)            (fm_backward)
        dE    = dE_fm + dE_dnn        (the two paths add)
        g     = dE * x                (embedding_backward: de/dV = x)
        g_w   = dy * x                (first_order_backward)
    One array for both tables, because V and w are read at the same ids: one scatter-add then sums
    both (each column is summed on its own, so the result equals two separate scatter-adds).
    """
    B, F, K = E.shape
    if fm:
        dE = fm_backward(dy, (E, S))
        if dx is not None:
            dE = dE + dx.reshape(B, F, K)
    else:
        dE = dx.reshape(B, F, K)
    gV = (dE * val[:, :, None]).reshape(B * F, K)
    gw = (dy[:, None] * val).reshape(-1, 1)
    return np.concatenate([gV, gw], axis=1)


@njit(cache=True, error_model="numpy")
def _deepfm_row_grads_kernel(dy, S, E, dx, val, use_fm, use_dx, out):
    B, F, K = E.shape
    for b in range(B):
        for f in range(F):
            x = val[b, f]
            n = b * F + f
            for k in range(K):
                if use_fm:
                    g = dy[b] * (S[b, k] - E[b, f, k])
                    if use_dx:
                        g = g + dx[b, f * K + k]
                else:
                    g = dx[b, f * K + k]
                out[n, k] = g * x
            out[n, K] = dy[b] * x
    return out


def deepfm_row_grads(dy, S, E, dx, val, fm=True):
    """Fused deepfm_row_grads_numpy (same arguments, same numbers, one pass, no temporaries)."""
    B, F, K = E.shape
    for name, arr, shape in (("dy", dy, (B,)), ("S", S, (B, K)), ("val", val, (B, F)), ("dx", dx, (B, F * K))):
        if arr is None and name == "dx":
            continue
        if arr.shape != shape or arr.dtype != E.dtype or not arr.flags.c_contiguous:
            raise ValueError(f"{name} must be C-contiguous {E.dtype} of shape {shape}, got {arr.dtype} {arr.shape}")
    if not fm and dx is None:
        raise ValueError("deepfm_row_grads: with fm=False the gradient needs dx")
    out = np.empty((B * F, K + 1), dtype=E.dtype)
    use_dx = dx is not None
    return _deepfm_row_grads_kernel(dy, S, E, dx if use_dx else S, val, bool(fm), use_dx, out)
