"""Fused kernels of the training step: one pass over an array where NumPy would make several.

Each fast kernel sits beside the plain NumPy function it implements (`<name>_numpy`, same signature);
tests/test_fused.py proves they agree in float32 and float64. The readable layers in layers/*.py stay
the reference for the mathematics; this module only changes how many times memory is walked.

    relu_dropout_forward   a = relu(z) * m / keep,  m ~ Bernoulli(keep) from a counter-based hash
    relu_dropout_backward  dz = da / keep where a > 0, else 0          (needs only a, not the mask)
    deepfm_front           E = V[idx] x, S = sum_f e_f, first-order and FM terms   (one read of each row)
    embedding_row_grads    g[b,s] = (dy_b (S_b - e_bs) + dx_bs) * x_bs    FM + DNN paths of dV, per slot
    deepfm_row_grads       the same with dw's rows dy_b x_bs as an extra column (one scatter for V and w)

Dropout masks without a random-number array. NumPy's generator would fill a (B, H) float array
(1.2M numbers per step for 3 x 400 units at B = 1024) that is read once and thrown away. Instead
unit n = b*H + h keeps its value when the n-th output of SplitMix64 started from `seed` falls below
keep * 2^32:

    u_n  = mix(seed + (n + 1) * G)  >> 32,      G = 0x9E3779B97F4A7C15 (the golden-ratio increment)
    mix(z): z ^= z >> 30; z *= 0xBF58476D1CE4E5B9; z ^= z >> 27; z *= 0x94D049BB133111EB; z ^= z >> 31
    keep_n = u_n < round(keep * 2^32)

Each unit is a pure function of (seed, n): no state to carry, the order of evaluation does not matter,
and a NumPy twin computes the same bits with uint64 array arithmetic. `seed` is ONE draw from the
np.random.Generator of the run per layer and step, so a run's seed still fixes every mask, and a
gradient check replays a mask by passing a fresh generator with the same seed.

Why the backward needs no mask: with a = relu(z) * m / keep and keep > 0,
    da/dz = m / keep * [z > 0] = 1/keep * [a > 0]
because a > 0 exactly when the unit was kept (m = 1) and active (z > 0). The activation the next
dense layer caches anyway is all the backward reads.

No fastmath here (the kernels compute exactly the twin's operations in the same order), and every
loop is serial: prange would split rows over threads that the BLAS also uses. Measured on the 2-core
development machine while other processes kept it loaded: prange versions of the relu+dropout
kernels and of dense Adam made a DeepFM step at 2 threads 2x SLOWER (115 -> 250 ms), because every
parallel region waits for its slowest thread and a loaded core makes that thread late.
Shape letters: B batch, H hidden units, S slots, K embedding size.
"""
from __future__ import annotations

import numpy as np
from numba import njit

_G = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S32 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(32)
_ONE = np.uint64(1)


# --------------------------------------------------------------------------------------------------
# the counter-based mask
# --------------------------------------------------------------------------------------------------

def dropout_seed(rng: np.random.Generator) -> int:
    """One 63-bit seed for one layer's mask in one step, drawn from the run's generator."""
    if rng is None:
        raise ValueError("dropout in training mode needs an rng (np.random.Generator)")
    return int(rng.integers(0, 2**63 - 1, dtype=np.int64))


def keep_threshold(keep_prob: float) -> int:
    """round(keep * 2^32): unit n is kept when the top 32 bits of its hash are below this."""
    if not 0.0 < keep_prob <= 1.0:
        raise ValueError(f"keep_prob must be in (0, 1], got {keep_prob}")
    return int(round(float(keep_prob) * 2.0**32))


def keep_mask_numpy(seed: int, n: int, keep_prob: float) -> np.ndarray:
    """The first n mask bits (n,) bool of `seed`: the readable definition of the kernels' mask."""
    with np.errstate(over="ignore"):                                 # uint64 arithmetic wraps mod 2^64
        z = np.uint64(seed) + (np.arange(n, dtype=np.uint64) + _ONE) * _G
        z = (z ^ (z >> _S30)) * _M1
        z = (z ^ (z >> _S27)) * _M2
        z = z ^ (z >> _S31)
    return (z >> _S32) < np.uint64(keep_threshold(keep_prob))


@njit(cache=True, inline="always")
def _keep(seed, n, thresh):
    """keep_n for counter n (uint64 seed, int n, uint64 thresh): SplitMix64's n-th output, top 32 bits."""
    z = seed + (np.uint64(n) + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(32)) < thresh


# --------------------------------------------------------------------------------------------------
# relu + dropout, forward and backward
# --------------------------------------------------------------------------------------------------

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
            elif _keep(useed, base + h, thresh):
                out[b, h] = r * scale
            else:
                out[b, h] = r * 0
    return out


@njit(cache=True, error_model="numpy")
def _relu_dropout_forward_inplace(z, seed, thresh, scale, bias, use_bias):
    """The same loop with z as its own output. A separate kernel because LLVM vectorises a loop only
    after a run-time check that input and output do not overlap; with out = z they do, and the
    two-array kernel fell back to its scalar loop (0.7 ms instead of 0.25 ms for 1024 x 400)."""
    B, H = z.shape
    useed = np.uint64(seed)
    for b in range(B):
        base = b * H
        for h in range(H):
            zz = z[b, h] + bias[h] if use_bias else z[b, h]
            r = zz if zz > 0 else zz * 0
            if thresh == np.uint64(4294967296):
                z[b, h] = r * scale
            elif _keep(useed, base + h, thresh):
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
    _check2d("z", z)
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
    zero = scale * 0
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
    zero = scale * 0
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
    _check2d("da", da)
    _check2d("a", a)
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
    from ..layers import embedding_forward, first_order_forward, fm_forward
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
    from .rows import _check, _check_ids
    _check("V", V, floats=True, ndim=2)
    _check("w", w, dtype=V.dtype, ndim=1)
    _check("idx", idx, dtype=np.int64, ndim=2)
    if w.shape[0] != V.shape[0]:
        raise ValueError(f"w has {w.shape[0]} rows but V has {V.shape[0]}")
    if val.shape != idx.shape or val.dtype != V.dtype:
        raise ValueError(f"val must be {V.dtype} of shape {idx.shape}, got {val.dtype} {val.shape}")
    _check_ids("idx", idx.reshape(-1), V.shape[0])
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


def _check2d(name, a):
    if not isinstance(a, np.ndarray) or a.ndim != 2 or a.dtype not in (np.float32, np.float64):
        raise ValueError(f"{name} must be a 2-D float32 or float64 array")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous")
