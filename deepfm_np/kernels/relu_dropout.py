"""Fused (bias +) relu + inverted dropout of the MLP's hidden layers: one pass over (B, H) where NumPy
would make several, each kernel beside the plain NumPy function it implements (`<name>_numpy`, same
signature); tests/test_fused.py proves they agree EXACTLY in float32 and float64.

    relu_dropout_forward   a = relu(z + b) * m / keep,  m = splitmix.keep_mask_numpy(seed, B*H, keep)
    relu_dropout_backward  dz = da / keep where a > 0, else 0; db = sum_b dz   (needs only a, not the mask)

The mask is the counter-based one of splitmix.py, the same bits layers/dropout.py uses, so the fused
pass equals relu_forward then dropout_forward with the same generator (tests/test_models.py).

Why the backward needs no mask: with a = relu(z) * m / keep and keep > 0,
    da/dz = m / keep * [z > 0] = 1/keep * [a > 0]
because a > 0 exactly when the unit was kept (m = 1) and active (z > 0). The layer's output, which
the MLP keeps in this layer's cache, is all the backward reads.

No fastmath here (the kernels compute exactly the twin's operations in the same order), and every
loop is serial: prange would split rows over threads that the BLAS also uses, and every parallel
region waits for its slowest thread (docs/DESIGN.md, "Speed").
Shape letters: B batch, H hidden units.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .inputs import check_array
from .splitmix import keep_mask_numpy, keep_threshold, keep_unit


def _scale(dtype, keep_prob):
    """1 / keep in the array's dtype, rounded the way layers/dropout.py rounds it."""
    dtype = np.dtype(dtype)
    return dtype.type(1) / dtype.type(keep_prob)


def relu_dropout_forward_numpy(z, keep_prob, seed, out=None, bias=None):
    """z (B, H) [+ bias (H,)] -> a (B, H) = relu(z + bias) * m / keep, m = keep_mask_numpy(seed, B*H, keep)."""
    if bias is not None:
        z = z + bias                                                     # dense_forward's  out += b
    m = keep_mask_numpy(seed, z.size, keep_prob).reshape(z.shape)
    a = np.maximum(z, 0) * (m * _scale(z.dtype, keep_prob)).astype(z.dtype)
    if out is None:
        return a
    out[...] = a
    return out


@njit(cache=True, error_model="numpy")
def _relu_dropout_forward_kernel(z, out, seed, thresh, scale, bias, use_bias):
    B, H = z.shape
    useed = np.uint64(seed)
    for b in range(B):
        base = b * H
        for h in range(H):
            zz = z[b, h] + bias[h] if use_bias else z[b, h]
            r = zz if zz > 0 else zz * 0          # relu; NaN passes as in np.maximum
            if thresh == np.uint64(4294967296):    # keep = 1: no mask
                out[b, h] = r * scale
            elif keep_unit(useed, base + h, thresh):
                out[b, h] = r * scale
            else:
                out[b, h] = r * 0
    return out


@njit(cache=True, error_model="numpy")
def _relu_dropout_forward_inplace(z, seed, thresh, scale, bias, use_bias):
    """The same loop with z as its own output. A separate kernel because LLVM vectorises a loop only
    after a run-time check that input and output do not overlap; with out = z they do, and the
    two-array kernel fell back to its scalar loop (docs/DESIGN.md, "Measured")."""
    B, H = z.shape
    useed = np.uint64(seed)
    for b in range(B):
        base = b * H
        for h in range(H):
            zz = z[b, h] + bias[h] if use_bias else z[b, h]
            r = zz if zz > 0 else zz * 0
            if thresh == np.uint64(4294967296):
                z[b, h] = r * scale
            elif keep_unit(useed, base + h, thresh):
                z[b, h] = r * scale
            else:
                z[b, h] = r * 0
    return z


def relu_dropout_forward(z: np.ndarray, keep_prob: float, seed: int, out: np.ndarray | None = None,
                         bias: np.ndarray | None = None):
    """Fused (bias +) relu + inverted dropout: z (B, H) float -> a (B, H); out may be z itself (in place).

    bias (H,) is added first (the dense layer's  + b, saving it a pass). keep_prob = 1 gives plain
    relu (seed unused).
    """
    check_array("z", z, floats=True, ndim=2)
    if out is None:
        out = np.empty_like(z)
    elif out.shape != z.shape or out.dtype != z.dtype or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous {z.dtype} array of shape {z.shape}")
    use_bias = bias is not None
    if use_bias and (bias.shape != z.shape[1:] or bias.dtype != z.dtype):
        raise ValueError(f"bias must be {z.dtype} of shape {z.shape[1:]}, got {bias.dtype} {bias.shape}")
    args = (np.uint64(seed), np.uint64(keep_threshold(keep_prob)), _scale(z.dtype, keep_prob),
            np.ascontiguousarray(bias) if use_bias else np.empty(0, z.dtype), use_bias)
    if out is z:
        return _relu_dropout_forward_inplace(z, *args)
    if np.may_share_memory(out, z):
        raise ValueError("out must be z itself or not overlap it")
    return _relu_dropout_forward_kernel(z, out, *args)


def relu_dropout_backward_numpy(da, a, keep_prob, out=None, db=None):
    """da (B, H), a (B, H) the forward's output -> dz (B, H) = da / keep where a > 0, else 0.

    db (H,), when given, receives sum_b dz (dense_backward's bias gradient), summed in row order.
    """
    dz = da * np.where(a > 0, _scale(da.dtype, keep_prob), da.dtype.type(0))
    if db is not None:
        db[...] = 0
        for row in dz:                                                   # row order, like the kernel
            db += row
    if out is None:
        return dz
    out[...] = dz
    return out


@njit(cache=True, error_model="numpy")
def _relu_dropout_backward_kernel(da, a, out, scale, db, use_db):
    B, H = da.shape
    zero = scale - scale                   # 0 in the dtype of scale (scale * 0 would be float64)
    if use_db:
        for h in range(H):
            db[h] = 0
    for b in range(B):
        for h in range(H):
            g = da[b, h] * (scale if a[b, h] > 0 else zero)
            out[b, h] = g
            if use_db:
                db[h] += g
    return out


@njit(cache=True, error_model="numpy")
def _relu_dropout_backward_inplace(da, a, scale, db, use_db):
    """The same loop writing into da (see _relu_dropout_forward_inplace for why it is separate)."""
    B, H = da.shape
    zero = scale - scale                   # 0 in the dtype of scale (scale * 0 would be float64)
    if use_db:
        for h in range(H):
            db[h] = 0
    for b in range(B):
        for h in range(H):
            g = da[b, h] * (scale if a[b, h] > 0 else zero)
            da[b, h] = g
            if use_db:
                db[h] += g
    return da


def relu_dropout_backward(da: np.ndarray, a: np.ndarray, keep_prob: float, out: np.ndarray | None = None,
                          db: np.ndarray | None = None):
    """Backward of relu_dropout_forward; out may be da itself (in place); db (H,) gets sum_b dz."""
    check_array("da", da, floats=True, ndim=2)
    check_array("a", a, floats=True, ndim=2)
    if a.shape != da.shape or a.dtype != da.dtype:
        raise ValueError(f"a {a.shape} {a.dtype} must match da {da.shape} {da.dtype}")
    if out is None:
        out = np.empty_like(da)
    elif out.shape != da.shape or out.dtype != da.dtype or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous {da.dtype} array of shape {da.shape}")
    use_db = db is not None
    if use_db and (db.shape != da.shape[1:] or db.dtype != da.dtype or not db.flags.c_contiguous):
        raise ValueError(f"db must be a C-contiguous {da.dtype} array of shape {da.shape[1:]}")
    args = (_scale(da.dtype, keep_prob), db if use_db else np.empty(0, da.dtype), use_db)
    if any(np.may_share_memory(x, y) for x, y in ((a, out), (a, da)) + (((db, da), (db, out), (db, a)) if use_db else ())):
        raise ValueError("a and db must not overlap da, out or each other")
    if out is da:
        return _relu_dropout_backward_inplace(da, a, *args)
    if np.may_share_memory(out, da):
        raise ValueError("out must be da itself or not overlap it")
    return _relu_dropout_backward_kernel(da, a, out, *args)
