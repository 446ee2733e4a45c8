"""Numba kernels for the hot sparse loops, each beside a plain NumPy twin.

What is here: the few loops whose cost grows with the batch, not with the table:

    gather_rows        E = V[idx]                           (N, K) rows of a table
    scatter_add_rows   sum per-occurrence row grads by id   (U,) rows, (U, K) sums
    sgd_rows           in-place SGD on the touched rows of a table
    adagrad_rows       in-place Adagrad on the touched rows
    adam_rows          in-place *lazy* Adam on the touched rows (per-row step counts)
    ftrl_rows          in-place FTRL-Proximal on the touched rows
    adam_dense         fused Adam for a flat dense parameter (one pass instead of ~10 NumPy temporaries)

Every public name is a Python wrapper. Numba does not check bounds, dtypes or contiguity, so the
wrapper does (and raises ValueError naming the problem), then calls the `@njit` kernel. Every kernel
has a NumPy twin `<name>_numpy` with the same signature as the wrapper; the tests compare the two on
repeated ids, an empty batch, a single row, float32 and float64.

`error_model="numpy"` on every kernel: a float division by zero gives inf/nan as in NumPy instead of
raising ZeroDivisionError. This is not fastmath (every operation is still IEEE-exact); it removes a
branch from every division, which lets LLVM vectorise the loops (docs/DESIGN.md, "Measured").

What is not here: no `fastmath` (it licenses reassociation, which would make a gradient kernel disagree
with its twin and with finite differences), and no `prange` over occurrences (two threads adding into
the same row of a repeated id would race).

Numerics of the optimizer kernels: the arithmetic is done in float64 and the result is stored in the
table's dtype. For a float32 table this keeps a tiny `lr * g` from being lost to float32 rounding
inside the expression, and it makes the Numba kernel and its NumPy twin compute the very same
float64 expression, so the tests can compare them tightly.

Shape letters: N occurrences (B*S ids of a batch, flattened), R table rows, K embedding size,
U unique rows touched, P size of a flat dense parameter.
"""
from __future__ import annotations

import math
import threading

import numpy as np
from numba import njit

from .inputs import check_array, check_ids

# --------------------------------------------------------------------------------------------------
# checks only the row wrappers need (the shared ones are in inputs.py)
# --------------------------------------------------------------------------------------------------

def _check_unique(rows: np.ndarray) -> None:
    """Row updates assume each row once (a SparseGrad's rows are sorted and unique)."""
    if rows.size > 1 and not np.all(rows[1:] > rows[:-1]):
        u, counts = np.unique(rows, return_counts=True)
        if np.any(counts > 1):
            raise ValueError(f"rows must be unique (sum duplicates with scatter_add_rows first); "
                             f"row {int(u[np.argmax(counts > 1)])} appears more than once")


def _as2d(a: np.ndarray) -> np.ndarray:
    """(R,) -> (R, 1) view (a first-order table is a table with K = 1); (R, K) unchanged."""
    return a.reshape(a.shape[0], 1) if a.ndim == 1 else a


def _check_row_update(table, rows, g, states):
    """Common checks of the row-update wrappers; returns 2-D views (no copies)."""
    check_array("table", table, floats=True, ndim=(1, 2))
    check_array("rows", rows, dtype=np.int64, ndim=1)
    check_array("g", g, dtype=table.dtype, shape=(rows.shape[0],) + table.shape[1:])
    for name, s in states.items():
        check_array(name, s, dtype=table.dtype if name != "count" else np.int64,
               shape=table.shape if name != "count" else table.shape[:1])
    check_ids("rows", rows, table.shape[0])
    _check_unique(rows)
    return _as2d(table), _as2d(g), {k: (_as2d(s) if k != "count" else s) for k, s in states.items()}


# --------------------------------------------------------------------------------------------------
# gather_rows: E = V[idx]
# --------------------------------------------------------------------------------------------------

@njit(cache=True, error_model="numpy")
def _gather_rows_kernel(table, idx, out):
    """out[n, :] = table[idx[n], :].

    table (R, K) float32|float64, idx (N,) int64 in [0, R), out (N, K) same dtype as table.
    """
    K = table.shape[1]
    for n in range(idx.shape[0]):
        r = idx[n]
        for k in range(K):
            out[n, k] = table[r, k]
    return out


def gather_rows_numpy(table, idx, out=None):
    """NumPy twin of gather_rows."""
    return np.take(table, idx, axis=0, out=out)


def gather_rows(table: np.ndarray, idx: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Rows of a table: table (R, K) or (R,), idx (N,) int64 -> (N, K) or (N,).

    `out` (N, K) or (N,), same dtype as `table`, is filled and returned when given (no allocation).
    """
    check_array("table", table, floats=True, ndim=(1, 2))
    check_array("idx", idx, dtype=np.int64, ndim=1)
    check_ids("idx", idx, table.shape[0])
    shape = (idx.shape[0],) + table.shape[1:]
    if out is None:
        out = np.empty(shape, dtype=table.dtype)
    else:
        check_array("out", out, dtype=table.dtype, shape=shape)
    _gather_rows_kernel(_as2d(table), idx, _as2d(out))
    return out


# --------------------------------------------------------------------------------------------------
# scatter_add_rows: one gradient per unique row, duplicates summed
# --------------------------------------------------------------------------------------------------
#
# Choice of algorithm. np.add.at is correct but slow (it is a generic unbuffered loop). Two O(N)-ish
# alternatives:
#   (a) sort: argsort the ids (N log N), then sum each run of equal ids;
#   (b) "slot of row": a scratch int64 array of R entries, all -1, maps a row to its output slot.
#       One pass collects the U unique rows, they are sorted (U log U, U <= N, and usually U << N
#       because ids repeat), the slots are numbered in sorted order, a second pass adds every
#       occurrence into its slot, and the touched scratch entries are reset to -1. Cost O(N + U log U),
#       no N-long sort and no O(R) work per call: the scratch is allocated once and reused.
# We use (b), and fall back to (a) when the ids are so large that the scratch would be huge.
# The sort of the U unique ids is done by NumPy between the two Numba passes: NumPy's SIMD sort beats
# Numba's np.sort (a plain quicksort) by far (docs/DESIGN.md, "Measured").
# Both visit the occurrences of a row in their original order, so the sums are bit-identical to
# np.add.at's, and both return the rows sorted ascending (the SparseGrad contract): deterministic.

_SCRATCH_MAX_ROWS = 1 << 24  # 16M rows = 128 MB of scratch; larger ids use the sort-based kernel


@njit(cache=True, error_model="numpy")
def _unique_rows_first_seen(idx, slot):
    """Pass 1 of the slot method: the distinct rows of idx in first-occurrence order.

    idx (N,) int64 in [0, len(slot)), slot (>= max(idx)+1,) int64, all -1 on entry.
    Marks slot[r] = 0 for every row seen. Returns uniq (U,) int64.
    """
    uniq = np.empty(idx.shape[0], dtype=np.int64)
    U = 0
    for n in range(idx.shape[0]):
        r = idx[n]
        if slot[r] < 0:
            slot[r] = 0
            uniq[U] = r
            U += 1
    return uniq[:U]


@njit(cache=True, error_model="numpy")
def _sum_into_slots(idx, grads, rows, slot):
    """Pass 2 of the slot method: summed[u] = sum of grads[n] over idx[n] == rows[u].

    idx (N,) int64, grads (N, K) float, rows (U,) int64 sorted unique (all the ids of idx),
    slot as left by pass 1. Leaves slot all -1. Returns summed (U, K) same dtype as grads.
    """
    U = rows.shape[0]
    K = grads.shape[1]
    for u in range(U):
        slot[rows[u]] = u
    summed = np.zeros((U, K), dtype=grads.dtype)
    for n in range(idx.shape[0]):  # in order of occurrence: same rounding as np.add.at
        u = slot[idx[n]]
        for k in range(K):
            summed[u, k] += grads[n, k]
    for u in range(U):  # leave the scratch all -1 for the next call
        slot[rows[u]] = -1
    return summed


@njit(cache=True, error_model="numpy")
def _sum_sorted_runs(idx, grads, order):
    """Sort method: sum grads over runs of equal ids, visiting them in `order`.

    idx (N,) int64, grads (N, K) float, order (N,) int64 a *stable* argsort of idx.
    Returns rows (U,) int64 sorted unique, summed (U, K) same dtype as grads.
    """
    N = idx.shape[0]
    K = grads.shape[1]
    U = 0
    for i in range(N):
        if i == 0 or idx[order[i]] != idx[order[i - 1]]:
            U += 1
    rows = np.empty(U, dtype=np.int64)
    summed = np.zeros((U, K), dtype=grads.dtype)
    u = -1
    for i in range(N):
        n = order[i]
        if i == 0 or idx[n] != idx[order[i - 1]]:
            u += 1
            rows[u] = idx[n]
        for k in range(K):
            summed[u, k] += grads[n, k]
    return rows, summed


class _Scratch:
    """The reusable row -> slot map of scatter_add_rows, grown on demand, guarded by a lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.slot = np.full(0, -1, dtype=np.int64)

    def get(self, size: int) -> np.ndarray:
        if self.slot.shape[0] < size:
            self.slot = np.full(max(size, 2 * self.slot.shape[0]), -1, dtype=np.int64)
        return self.slot


_scratch = _Scratch()


def _empty_scatter(row_grads):
    return np.empty(0, dtype=np.int64), np.zeros((0,) + row_grads.shape[1:], dtype=row_grads.dtype)


def scatter_add_rows_numpy(idx_flat, row_grads):
    """NumPy twin of scatter_add_rows: np.unique + np.add.at (the slow textbook way)."""
    rows, inv = np.unique(idx_flat, return_inverse=True)
    out = np.zeros((rows.shape[0],) + row_grads.shape[1:], dtype=row_grads.dtype)
    np.add.at(out, inv.ravel(), row_grads)
    return rows.astype(np.int64), out


def scatter_add_rows_sort_numpy(idx_flat, row_grads):
    """Sort-and-reduce in NumPy: a stable argsort, then np.add.reduceat over runs of equal ids."""
    if idx_flat.shape[0] == 0:
        return _empty_scatter(row_grads)
    order = np.argsort(idx_flat, kind="stable")
    s = idx_flat[order]
    starts = np.flatnonzero(np.concatenate(([True], s[1:] != s[:-1])))
    return s[starts].astype(np.int64), np.add.reduceat(row_grads[order], starts, axis=0)


def scatter_add_rows(idx_flat: np.ndarray, row_grads: np.ndarray):
    """Sum per-occurrence row gradients into one per unique row.

    idx_flat  (N,)  int64 >= 0, may repeat
    row_grads (N, K) or (N,) float32|float64
    returns rows (U,) int64 sorted unique, summed (U, K) or (U,) same dtype as row_grads
    """
    check_array("idx_flat", idx_flat, dtype=np.int64, ndim=1)
    check_array("row_grads", row_grads, floats=True, ndim=(1, 2))
    if row_grads.shape[0] != idx_flat.shape[0]:
        raise ValueError(f"row_grads has {row_grads.shape[0]} rows but idx_flat has "
                         f"{idx_flat.shape[0]} ids")
    if idx_flat.shape[0] == 0:
        return _empty_scatter(row_grads)
    check_ids("idx_flat", idx_flat, None)
    size = int(idx_flat.max()) + 1
    g2 = _as2d(row_grads)
    if size <= _SCRATCH_MAX_ROWS:
        with _scratch.lock:
            slot = _scratch.get(size)
            uniq = _unique_rows_first_seen(idx_flat, slot)
            try:
                rows = np.sort(uniq)
            except BaseException:  # keep the scratch clean even if the sort fails (e.g. MemoryError)
                slot[uniq] = -1
                raise
            summed = _sum_into_slots(idx_flat, g2, rows, slot)
    else:
        rows, summed = _sum_sorted_runs(idx_flat, g2, np.argsort(idx_flat, kind="stable"))
    return rows, (summed.reshape(-1) if row_grads.ndim == 1 else summed)


# --------------------------------------------------------------------------------------------------
# optimizer row updates (in place; rows unique). Equations next to each kernel.
# --------------------------------------------------------------------------------------------------

@njit(cache=True, error_model="numpy")
def _sgd_rows_kernel(table, rows, g, lr, l2):
    """table[r] -= lr * (g + l2 * table[r]) for each touched row r.

    table (R, K) float, rows (U,) int64 unique in [0, R), g (U, K) same dtype, lr, l2 float64.
    """
    for i in range(rows.shape[0]):
        r = rows[i]
        for k in range(table.shape[1]):
            w = np.float64(table[r, k])
            table[r, k] = w - lr * (g[i, k] + l2 * w)


def sgd_rows_numpy(table, rows, g, lr, l2=0.0):
    """NumPy twin of sgd_rows."""
    t2, g2 = _as2d(table), _as2d(g)
    w = t2[rows].astype(np.float64)
    t2[rows] = w - float(lr) * (g2.astype(np.float64) + float(l2) * w)


def sgd_rows(table, rows, g, lr, l2=0.0):
    """In-place SGD on touched rows: table (R, K) or (R,), rows (U,) int64 unique, g (U, K) or (U,).

        w_r <- w_r - lr * (g_r + l2 * w_r)
    """
    t2, g2, _ = _check_row_update(table, rows, g, {})
    _sgd_rows_kernel(t2, rows, g2, float(lr), float(l2))


@njit(cache=True, error_model="numpy")
def _adagrad_rows_kernel(table, acc, rows, g, lr, eps, l2):
    """Adagrad on touched rows.

    table, acc (R, K) float (same dtype), rows (U,) int64 unique, g (U, K); lr, eps, l2 float64.
    """
    for i in range(rows.shape[0]):
        r = rows[i]
        for k in range(table.shape[1]):
            w = np.float64(table[r, k])
            gk = g[i, k] + l2 * w
            a = acc[r, k] + gk * gk
            acc[r, k] = a
            table[r, k] = w - lr * gk / (math.sqrt(a) + eps)


def adagrad_rows_numpy(table, acc, rows, g, lr, eps=1e-8, l2=0.0):
    """NumPy twin of adagrad_rows."""
    t2, a2, g2 = _as2d(table), _as2d(acc), _as2d(g)
    w = t2[rows].astype(np.float64)
    gk = g2.astype(np.float64) + float(l2) * w
    a = a2[rows].astype(np.float64) + gk * gk
    a2[rows] = a
    t2[rows] = w - float(lr) * gk / (np.sqrt(a) + float(eps))


def adagrad_rows(table, acc, rows, g, lr, eps=1e-8, l2=0.0):
    """In-place Adagrad on touched rows (acc has the table's shape and dtype).

        g'_r   = g_r + l2 * w_r
        acc_r <- acc_r + g'_r**2
        w_r   <- w_r - lr * g'_r / (sqrt(acc_r) + eps)
    """
    t2, g2, st = _check_row_update(table, rows, g, {"acc": acc})
    _adagrad_rows_kernel(t2, st["acc"], rows, g2, float(lr), float(eps), float(l2))


_CHUNK = 64  # rows per block of the row-update kernels (see _touch_rows)


@njit(cache=True, error_model="numpy", inline="always")
def _touch_rows(a, rows, i0, i1):
    """Read the first and last entry of rows[i0:i1] of a (R, K) array; returns their sum (kept alive).

    Why: on a big table every touched row is a cache miss. Touching a block of rows in a tight loop of
    independent loads lets the CPU fetch them all at once (tens of misses in flight) before the
    arithmetic, instead of one miss at a time between the arithmetic of successive rows.
    A row of K <= 16 float32 spans at most two cache lines: its first and last entries.
    """
    K = a.shape[1] - 1
    t = 0.0
    for i in range(i0, i1):
        r = rows[i]
        t += a[r, 0] + a[r, K]
    return t


@njit(cache=True, error_model="numpy", inline="always")
def adam_row(table, m, v, r, g, u, a, s, beta1, beta2, eps, l2):
    """One row r of lazy Adam with gradient g[u] (K,): g' = g + l2 w; m = b1 m + (1 - b1) g';
    v = b2 v + (1 - b2) g'^2; w -= a m / (sqrt(v) s + eps), a = lr / (1 - b1^c), s = 1 / sqrt(1 - b2^c)
    for the row's count c. In float64, stored in the table's dtype. The one copy of these equations:
    this module's Adam kernel and the fused FM step (kernels/fm_step.py) both call it (inlined)."""
    for k in range(table.shape[1]):
        wk = np.float64(table[r, k])
        gk = g[u, k] + l2 * wk
        mk = beta1 * m[r, k] + (1.0 - beta1) * gk
        vk = beta2 * v[r, k] + (1.0 - beta2) * gk * gk
        m[r, k] = mk
        v[r, k] = vk
        table[r, k] = wk - a * mk / (math.sqrt(vk) * s + eps)


@njit(cache=True, error_model="numpy")
def _adam_rows_kernel(table, m, v, count, rows, g, lr, beta1, beta2, eps, l2):
    """Lazy Adam on touched rows, bias-corrected with each row's own step count.

    table, m, v (R, K) float (same dtype), count (R,) int64, rows (U,) int64 unique, g (U, K);
    lr, beta1, beta2, eps, l2 float64. Rows are done in blocks of _CHUNK: pass 1 touches the block's
    rows of table, m, v and computes each row's scalars; pass 2 updates them (same arithmetic,
    same order per row as the twin).
    """
    U = rows.shape[0]
    a = np.empty(_CHUNK)
    s = np.empty(_CHUNK)
    touched = 0.0
    for i0 in range(0, U, _CHUNK):
        i1 = min(i0 + _CHUNK, U)
        touched += _touch_rows(table, rows, i0, i1) + _touch_rows(m, rows, i0, i1) + _touch_rows(v, rows, i0, i1)
        for i in range(i0, i1):
            r = rows[i]
            c = count[r] + 1
            count[r] = c
            a[i - i0] = lr / (1.0 - math.pow(beta1, np.float64(c)))           # lr / (1 - b1^c)
            s[i - i0] = 1.0 / math.sqrt(1.0 - math.pow(beta2, np.float64(c)))  # 1 / sqrt(1 - b2^c)
        for i in range(i0, i1):
            r = rows[i]
            ai = a[i - i0]
            si = s[i - i0]
            adam_row(table, m, v, r, g, i, ai, si, beta1, beta2, eps, l2)
    return touched


def adam_rows_numpy(table, m, v, count, rows, g, lr, beta1=0.9, beta2=0.999, eps=1e-8, l2=0.0):
    """NumPy twin of adam_rows."""
    t2, m2, v2, g2 = _as2d(table), _as2d(m), _as2d(v), _as2d(g)
    beta1, beta2 = float(beta1), float(beta2)
    c = count[rows] + 1
    count[rows] = c
    a = (float(lr) / (1.0 - np.power(beta1, c.astype(np.float64))))[:, None]
    s = (1.0 / np.sqrt(1.0 - np.power(beta2, c.astype(np.float64))))[:, None]
    w = t2[rows].astype(np.float64)
    gk = g2.astype(np.float64) + float(l2) * w
    mk = beta1 * m2[rows].astype(np.float64) + (1.0 - beta1) * gk
    vk = beta2 * v2[rows].astype(np.float64) + (1.0 - beta2) * gk * gk
    m2[rows] = mk
    v2[rows] = vk
    t2[rows] = w - a * mk / (np.sqrt(vk) * s + float(eps))


def adam_rows(table, m, v, count, rows, g, lr, beta1=0.9, beta2=0.999, eps=1e-8, l2=0.0):
    """In-place lazy Adam on touched rows; m, v like the table, count (R,) int64 touches per row.

        c_r   <- c_r + 1                    (this row's own step count)
        g'_r   = g_r + l2 * w_r
        m_r   <- b1 m_r + (1 - b1) g'_r
        v_r   <- b2 v_r + (1 - b2) g'_r**2
        w_r   <- w_r - lr * (m_r / (1 - b1**c_r)) / (sqrt(v_r / (1 - b2**c_r)) + eps)

    computed as  w_r - a_r * m_r / (sqrt(v_r) * s_r + eps)  with the per-row scalars
    a_r = lr / (1 - b1**c_r) and s_r = 1 / sqrt(1 - b2**c_r): the same number up to rounding, with one
    division and one square root per coordinate instead of three divisions and a root.

    Why a per-row count: with one global step t, a row first seen at step t = 1000 would get
    m_r = (1 - b1) g, divided by 1 - b1**1000 ~ 1, i.e. a step ~10x too small (and sqrt(v) ~30x too
    small, so in fact a step of ~3x lr in a random direction); with its own count c_r = 1 the
    correction is exact, just like dense Adam's first step: w -= lr * g / (|g| + eps).
    Untouched rows' m, v are *not* decayed (that is what makes it lazy and O(U) instead of O(R)).
    """
    t2, g2, st = _check_row_update(table, rows, g, {"m": m, "v": v, "count": count})
    _adam_rows_kernel(t2, st["m"], st["v"], count, rows, g2, float(lr), float(beta1), float(beta2),
                      float(eps), float(l2))


@njit(cache=True, error_model="numpy")
def _ftrl_rows_kernel(table, z, n, rows, g, alpha, beta, l1, l2, l2g):
    """FTRL-Proximal on touched rows; the new weight is computed from (z, n), not stepped.

    table, z, n (R, K) float (same dtype), rows (U,) int64 unique, g (U, K);
    alpha, beta, l1, l2, l2g float64.
    """
    for i in range(rows.shape[0]):
        r = rows[i]
        for k in range(table.shape[1]):
            w = np.float64(table[r, k])
            gk = g[i, k] + l2g * w
            n_old = np.float64(n[r, k])
            n_new = n_old + gk * gk
            sigma = (math.sqrt(n_new) - math.sqrt(n_old)) / alpha
            zk = z[r, k] + gk - sigma * w
            z[r, k] = zk
            n[r, k] = n_new
            if abs(zk) <= l1:
                table[r, k] = 0.0
            else:
                table[r, k] = -(zk - math.copysign(l1, zk)) / ((beta + math.sqrt(n_new)) / alpha + l2)


def ftrl_rows_numpy(table, z, n, rows, g, alpha, beta=1.0, l1=0.0, l2=0.0, l2g=0.0):
    """NumPy twin of ftrl_rows."""
    t2, z2, n2, g2 = _as2d(table), _as2d(z), _as2d(n), _as2d(g)
    alpha, beta, l1, l2 = float(alpha), float(beta), float(l1), float(l2)
    w = t2[rows].astype(np.float64)
    gk = g2.astype(np.float64) + float(l2g) * w
    n_old = n2[rows].astype(np.float64)
    n_new = n_old + gk * gk
    sigma = (np.sqrt(n_new) - np.sqrt(n_old)) / alpha
    zk = z2[rows].astype(np.float64) + gk - sigma * w
    z2[rows] = zk
    n2[rows] = n_new
    w_new = -(zk - np.copysign(l1, zk)) / ((beta + np.sqrt(n_new)) / alpha + l2)
    t2[rows] = np.where(np.abs(zk) <= l1, 0.0, w_new)


def ftrl_rows(table, z, n, rows, g, alpha, beta=1.0, l1=0.0, l2=0.0, l2g=0.0):
    """In-place FTRL-Proximal (McMahan et al. 2013) on touched rows, per coordinate.

        g'     = g + l2g * w                          (optional extra L2 through the gradient)
        sigma  = (sqrt(n + g'^2) - sqrt(n)) / alpha
        z     <- z + g' - sigma * w
        n     <- n + g'^2
        w      = 0                                             if |z| <= l1
               = -(z - sign(z) l1) / ((beta + sqrt(n)) / alpha + l2)   otherwise
    """
    t2, g2, st = _check_row_update(table, rows, g, {"z": z, "n": n})
    if not alpha > 0:
        raise ValueError(f"FTRL alpha must be > 0, got {alpha}")
    _ftrl_rows_kernel(t2, st["z"], st["n"], rows, g2, float(alpha), float(beta), float(l1),
                      float(l2), float(l2g))


# --------------------------------------------------------------------------------------------------
# fused dense Adam
# --------------------------------------------------------------------------------------------------

@njit(cache=True, error_model="numpy")
def _adam_dense_kernel(param, m, v, grad, lr, beta1, beta2, eps, step):
    """One Adam step over a flat parameter in a single pass.

    param, m, v, grad (P,) float (same dtype); lr, beta1, beta2, eps float64; step int64 >= 1.
    """
    a = lr / (1.0 - math.pow(beta1, np.float64(step)))           # lr / (1 - b1^t)
    s = 1.0 / math.sqrt(1.0 - math.pow(beta2, np.float64(step)))  # 1 / sqrt(1 - b2^t)
    for i in range(param.shape[0]):
        gk = np.float64(grad[i])
        mk = beta1 * m[i] + (1.0 - beta1) * gk
        vk = beta2 * v[i] + (1.0 - beta2) * gk * gk
        m[i] = mk
        v[i] = vk
        param[i] = param[i] - a * mk / (math.sqrt(vk) * s + eps)


def adam_dense_numpy(param, m, v, grad, lr, beta1, beta2, eps, step):
    """NumPy twin of adam_dense (about ten temporaries of size P)."""
    beta1, beta2 = float(beta1), float(beta2)
    a = float(lr) / (1.0 - np.power(beta1, np.float64(step)))
    s = 1.0 / np.sqrt(1.0 - np.power(beta2, np.float64(step)))
    gk = grad.astype(np.float64)
    mk = beta1 * m.astype(np.float64) + (1.0 - beta1) * gk
    vk = beta2 * v.astype(np.float64) + (1.0 - beta2) * gk * gk
    m[...] = mk
    v[...] = vk
    param[...] = param.astype(np.float64) - a * mk / (np.sqrt(vk) * s + float(eps))


def adam_dense(param, m, v, grad, lr, beta1, beta2, eps, step):
    """In-place Adam on a C-contiguous parameter of any shape (viewed flat), step = t >= 1.

        m <- b1 m + (1 - b1) g,   v <- b2 v + (1 - b2) g^2
        p <- p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)

    computed, like adam_rows, as p - a * m / (sqrt(v) * s + eps), a = lr / (1 - b1^t),
    s = 1 / sqrt(1 - b2^t) (one division and one root per element; ~1 ns/element for float32).
    """
    check_array("param", param, floats=True)
    for name, a in (("m", m), ("v", v), ("grad", grad)):
        check_array(name, a, dtype=param.dtype, shape=param.shape)
    if int(step) < 1:
        raise ValueError(f"Adam step must be >= 1 (it counts updates including this one), got {step}")
    _adam_dense_kernel(param.reshape(-1), m.reshape(-1), v.reshape(-1), grad.reshape(-1),
                       float(lr), float(beta1), float(beta2), float(eps), int(step))
