"""A whole FM (or LR) training step in two Numba passes, for the models whose arithmetic is tiny.

An FM reads ~39 rows of K = 10 numbers per record and does ~1,200 flops with them; run through the
readable layers (gather, first order, pair term, loss, backward, scatter-add, optimizer) a batch makes a
dozen NumPy temporaries of shape (B, S, K) and as many passes over memory, which costs more than the
arithmetic. Here the step is:

    pass 1, per record b (one visit of its S slots to read, one to write gradients):
        u_s   = slot[idx[b,s]]                                the row map: row -> gradient position
        P_f   = sum_{s in field f} V[idx[b,s]] * x_s          (F, K)  field embeddings (pooled)
        S_k   = sum_f P_{f,k}
        z     = w0 + sum_s w[idx[b,s]] x_s + 1/2 sum_k (S_k^2 - sum_f P_{f,k}^2)
        loss += max(z, 0) - z y + log(1 + exp(-|z|))
        d     = (sigmoid(z) - y) / B                          d loss / d z of the batch mean
        gw[u_s] += d x_s                                      for every slot s
        gV[u_s] += d (S - P_{field(s)}) x_s                   (Rendle's O(FK) gradient, see layers/fm.py)
      the gradients of repeated rows are summed at their position in the slot map (first-seen order),
      in the order of occurrence, like sparse.rows_to_sparse does;
    pass 2, per unique row touched: the optimizer's row update (lazy Adam with per-row step counts,
      Adagrad or SGD: the same equations as kernels/rows.py, in float64, stored in the table's dtype);
      FM's two tables V and w in one loop over the rows (adam_fm_update).

Where the time goes (benchmarks/fm_speed.py's data: 160k records, 48k table rows, S = F = 39, K = 10,
batch 1024, ~5,000 unique rows a batch) and what the code does about it:
  - memory latency: a shuffled epoch visits records at random places of a 75 MB data set and table rows
    at random places of a few MB of V, m, v; each first touch would wait ~100 ns. Pass 1 prefetches
    the record AHEAD records ahead, pass 2 the rows ROWS_AHEAD rows ahead (kernels/prefetch.py).
    Pass 2 runs faster since its loops are vectorised (below), so 2 rows ahead came too late: 8 rows
    ahead took pass 2 0.80x the time of 2 (same-run alternating epochs; 10 and 16 no better).
  - aliasing: the kernels that write arrays are compiled with NoAliasCompiler (kernels/noalias.py), which
    tells LLVM that no two array arguments overlap (true here: the step allocates its scratch itself, see
    that file). Without it every store to gV[u, k] might change V or the running sums, so LLVM reloaded
    them and kept the loops over k scalar; with it they run 8 float64 to an instruction (AVX-512).
    Measured in the real step, same-run alternating epochs on fm_speed's data: pass 1 0.89x the time,
    the epoch 0.92x.
  - one slot a field (no pooling): S_k and sum_f P_{f,k}^2 are summed in the forward loop itself (SQ, in
    the order of the slots, so the numbers are those of summing P over f afterwards), and the
    backward loop recomputes P_s = V[r] x_s from the row it has just read (in L1) instead of storing the
    (S, K) P: pass 1 a further 0.89x.
  - the row map is looked up once per slot, in the forward loop, and the position kept in us (S,).
The three together (no-alias, the sums in the forward loop, 8 rows ahead): the step loop of an epoch
0.69-0.87x the time of before (median of 11-15 alternating epochs, three runs at load 0.5-1), with
bit-identical results. After these, on one thread at batch 1024: pass 1 ~75% of the epoch, pass 2
~20%, the Python of the step and the training loop ~5%.
Tried and measured no faster (so not done; the first five before the no-alias pipeline): float32
arithmetic for float32 tables, an int32 row map, prefetching the next record's table rows (again after
it: no faster), a branch for x == 1, unrolling the loops over k for a constant K = 10 (after it: 1.35x
SLOWER, LLVM's code for the unrolled 10 is worse than its vector loop plus remainder), prefetching the
gradient rows for the backward loop, summing four slots a step into SQ, and prefetching records 3, 4, 6
or 8 ahead instead of 2 (within the noise). The arithmetic of pass 1 is done in float64 whatever the
table's dtype.

The readable twin is the composition the other models use (layers/ + sparse.rows_to_sparse + optim.py);
tests/test_fm_step.py checks that the two agree: to 1e-12 relative in float64 (the NumPy layers sum some
axes pairwise, this kernel sums them in order) and to float32 rounding in float32.

Adam's per-row bias corrections need b1^c and b2^c for each row's count c; math.pow costs ~40 ns, more
than the row's whole update, so they are looked up in tables of b^c for c < POW_TABLE built with the same
math.pow (identical numbers), and computed directly beyond.

Ids are bounds-checked inside pass 1 (Numba does not check): an id outside [0, R) stops the pass and the
caller raises. No fastmath, no prange (two threads adding into one repeated row would race).

Shapes: B batch, S slots, F fields, K embedding size, R table rows, U unique rows of a batch.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from .noalias import NoAliasCompiler
from .prefetch import prefetch
from .rows import adam_row

POW_TABLE = 1 << 16       # b^c tabulated for counts c < 65536 (b2 = 0.999: b2^c < 1e-28 beyond)
AHEAD = 2                 # pass 1 prefetches the record this many records ahead (one record ~1 us)
ROWS_AHEAD = 8            # pass 2 prefetches the table rows of the update this many rows ahead


@njit(cache=True, error_model="numpy")
def pow_table(beta, n):
    """(n,) float64: t[c] = beta ** c, by math.pow as in kernels.rows.adam_rows."""
    t = np.empty(n)
    for c in range(n):
        t[c] = math.pow(beta, np.float64(c))
    return t


@njit(cache=True, error_model="numpy", inline="always")
def _logistic(z, y):
    """(loss, p) of one logit z and label y: the stable forms of losses.bce_with_logits."""
    e = math.exp(-abs(z))
    p = 1.0 / (1.0 + e) if z >= 0 else e / (1.0 + e)
    return max(z, 0.0) - z * y + math.log1p(e), p


@njit(cache=True, error_model="numpy", inline="always")
def _prefetch_record(idx, val, i, S):
    """Start loading record i's ids (S int64: 8 a cache line) and values (S float32: 16 a line)."""
    for j in range(0, S, 8):
        prefetch(idx, i, j)
    prefetch(idx, i, S - 1)
    for j in range(0, S, 16):
        prefetch(val, i, j)
    prefetch(val, i, S - 1)


@njit(cache=True, error_model="numpy", pipeline_class=NoAliasCompiler)
def fm_grads(V, w, w0, idx, val, y, rows, slot_field, n_fields, slot, uniq, gV, gw):
    """Pass 1 of an FM step: loss, d loss / d w0 and the summed row gradients of V and w.

    V (R, K), w (R,), w0 (1,) float; idx (N, S) int64; val (N, S) float; y (N,) float; rows (B,) int64
    the records of the batch (read in place: the batch is never copied out of the data set);
    slot_field (S,) int64 field of each slot; slot (R,) int64 all -1 on entry (row -> position);
    uniq (>= B*S,) int64, gV (>= B*S, K) float64, gw (>= B*S,) float64 scratch; the kernel zeroes the
    positions it hands out (gV[:U], gw[:U]).
    Returns (loss_sum, g0, U, bad): bad = -1, or the position b*S+s (in the batch) of the first id outside
    [0, R) (then the sums are incomplete). On return uniq[:U] are the rows touched (first seen first),
    slot[uniq[u]] = u (the caller resets them), gV[:U], gw[:U] their gradients.
    """
    K = V.shape[1]
    B, S = rows.shape[0], idx.shape[1]
    R = V.shape[0]
    pooled = n_fields != S                     # some field has several slots (multi-valued)
    P = np.empty((n_fields if pooled else 1, K))   # P_f (pooled layouts only)
    SQ = np.empty((2, K))                      # S_k = sum_f P_{f,k} and sum_f P_{f,k}^2
    us = np.empty(S, dtype=np.int64)           # gradient position of each slot's row
    U = 0
    loss = 0.0
    g0 = 0.0
    inv_B = 1.0 / B
    for b in range(min(AHEAD, B)):
        _prefetch_record(idx, val, rows[b], S)
    for b in range(B):
        i = rows[b]
        if b + AHEAD < B:                      # AHEAD records ahead: in L1 when we get there
            _prefetch_record(idx, val, rows[b + AHEAD], S)
        y1 = np.float64(w0[0])
        SQ[:, :] = 0.0
        if pooled:
            P[:, :] = 0.0
        for s in range(S):
            r = idx[i, s]
            if r < 0 or r >= R:
                return loss, g0, U, b * S + s
            u = slot[r]                        # the row map, looked up here while r is at hand
            if u < 0:                          # first time in this batch: the next free position
                u = U
                slot[r] = u
                uniq[u] = r
                gw[u] = 0.0
                for k in range(K):
                    gV[u, k] = 0.0
                U += 1
            us[s] = u
            x = np.float64(val[i, s])
            y1 += np.float64(w[r]) * x
            if pooled:
                f = slot_field[s]
                for k in range(K):
                    P[f, k] += np.float64(V[r, k]) * x
            else:                              # one slot a field: P_s = e_s = V[r] x_s, summed at once
                for k in range(K):
                    e = np.float64(V[r, k]) * x
                    SQ[0, k] += e
                    SQ[1, k] += e * e
        if pooled:                             # the same sums over the pooled fields, in the order of f
            for f in range(n_fields):
                for k in range(K):
                    e = P[f, k]
                    SQ[0, k] += e
                    SQ[1, k] += e * e
        y2 = 0.0                               # 2 y2 = sum_k (S_k^2 - sum_f P_{f,k}^2), in the order of k
        for k in range(K):
            y2 += SQ[0, k] * SQ[0, k] - SQ[1, k]
        z = y1 + 0.5 * y2
        lb, p = _logistic(z, np.float64(y[i]))
        loss += lb
        d = (p - np.float64(y[i])) * inv_B
        g0 += d
        for s in range(S):
            u = us[s]
            x = np.float64(val[i, s])
            gw[u] += d * x
            if pooled:
                f = slot_field[s]
                for k in range(K):
                    gV[u, k] += d * (SQ[0, k] - P[f, k]) * x
            else:                              # P_s recomputed from V (its row is still in L1)
                r = idx[i, s]
                for k in range(K):
                    gV[u, k] += d * (SQ[0, k] - np.float64(V[r, k]) * x) * x
    return loss, g0, U, -1


@njit(cache=True, error_model="numpy", pipeline_class=NoAliasCompiler)
def lr_grads(w, w0, idx, val, y, rows, slot, uniq, gw):
    """Pass 1 of an LR step: z = w0 + sum_s w[idx[b,s]] x_s; as fm_grads without V."""
    B, S = rows.shape[0], idx.shape[1]
    R = w.shape[0]
    us = np.empty(S, dtype=np.int64)
    U = 0
    loss = 0.0
    g0 = 0.0
    inv_B = 1.0 / B
    for b in range(min(AHEAD, B)):
        _prefetch_record(idx, val, rows[b], S)
    for b in range(B):
        i = rows[b]
        if b + AHEAD < B:
            _prefetch_record(idx, val, rows[b + AHEAD], S)
        z = np.float64(w0[0])
        for s in range(S):
            r = idx[i, s]
            if r < 0 or r >= R:
                return loss, g0, U, b * S + s
            u = slot[r]
            if u < 0:
                u = U
                slot[r] = u
                uniq[u] = r
                gw[u] = 0.0
                U += 1
            us[s] = u
            z += np.float64(w[r]) * np.float64(val[i, s])
        lb, p = _logistic(z, np.float64(y[i]))
        loss += lb
        d = (p - np.float64(y[i])) * inv_B
        g0 += d
        for s in range(S):
            gw[us[s]] += d * np.float64(val[i, s])
    return loss, g0, U, -1


@njit(cache=True, error_model="numpy")
def reset_slots(slot, uniq, U):
    """slot[uniq[:U]] = -1: leave the row map clean for the next batch."""
    for u in range(U):
        slot[uniq[u]] = -1


# ---- pass 2: row updates of the unique rows uniq[:U], gradients g[:U] (float64) -------------------
# Tables are 2-D: V (R, K) and w viewed as (R, 1). Equations as in kernels/rows.py. The rows are visited
# in first-seen order, i.e. at random places of tables a few MB large (beyond L2): each loop prefetches
# the rows it will update ROWS_AHEAD iterations later, and the FM's two tables are updated in one loop
# (adam_fm_update), so a row's uniq entry, count and gradient position are visited once.

@njit(cache=True, error_model="numpy", inline="always")
def _adam_scales(count, r, lr, beta1, beta2, pow1, pow2):
    """c_r += 1; returns (a_r, s_r) = (lr / (1 - b1^c), 1 / sqrt(1 - b2^c)), b^c from the tables."""
    c = count[r] + 1
    count[r] = c
    n = pow1.shape[0]
    p1 = pow1[c] if c < n else math.pow(beta1, np.float64(c))
    p2 = pow2[c] if c < n else math.pow(beta2, np.float64(c))
    return lr / (1.0 - p1), 1.0 / math.sqrt(1.0 - p2)


@njit(cache=True, error_model="numpy", inline="always")
def _prefetch_rows(arrays3, uniq, u, U):
    """Prefetch row uniq[u] of the three arrays (a table and its two state arrays), when u < U: its
    first and last element (a row of K = 10 float32s is 40 bytes and often spans two cache lines)."""
    if u < U:
        r = uniq[u]
        a, b, c = arrays3
        K = a.shape[1] - 1
        prefetch(a, r, 0)
        prefetch(a, r, K)
        prefetch(b, r, 0)
        prefetch(b, r, K)
        prefetch(c, r, 0)
        prefetch(c, r, K)


@njit(cache=True, error_model="numpy", pipeline_class=NoAliasCompiler)
def adam_update(table, m, v, count, uniq, U, g, lr, beta1, beta2, eps, l2, pow1, pow2):
    """Lazy Adam on rows uniq[:U]:  c_r += 1; g' = g + l2 w; m, v moments; w -= a_r m / (sqrt(v) s_r + eps)
    with a_r = lr / (1 - b1^c_r), s_r = 1 / sqrt(1 - b2^c_r); b^c from pow1/pow2 when c < their length."""
    c2 = count.reshape(count.shape[0], 1)     # (R, 1) view, for prefetch
    for u in range(U):
        _prefetch_rows((table, m, v), uniq, u + ROWS_AHEAD, U)
        if u + ROWS_AHEAD < U:
            prefetch(c2, uniq[u + ROWS_AHEAD], 0)
        r = uniq[u]
        a, s = _adam_scales(count, r, lr, beta1, beta2, pow1, pow2)
        adam_row(table, m, v, r, g, u, a, s, beta1, beta2, eps, l2)


@njit(cache=True, error_model="numpy", pipeline_class=NoAliasCompiler)
def adam_fm_update(V, mV, vV, cV, w, mw, vw, cw, uniq, U, gV, gw, lr, beta1, beta2, eps, l2, pow1, pow2):
    """adam_update of V (R, K) and of w (viewed (R, 1)) on the same rows uniq[:U], in one loop.

    The two tables keep their own counts (they are equal when every step touched both, as FM's do; the
    scales are recomputed only when they are not)."""
    cV2, cw2 = cV.reshape(cV.shape[0], 1), cw.reshape(cw.shape[0], 1)   # (R, 1) views, for prefetch
    for u in range(U):
        _prefetch_rows((V, mV, vV), uniq, u + ROWS_AHEAD, U)
        _prefetch_rows((w, mw, vw), uniq, u + ROWS_AHEAD, U)
        if u + ROWS_AHEAD < U:
            prefetch(cV2, uniq[u + ROWS_AHEAD], 0)
            prefetch(cw2, uniq[u + ROWS_AHEAD], 0)
        r = uniq[u]
        c = cV[r]
        a, s = _adam_scales(cV, r, lr, beta1, beta2, pow1, pow2)
        adam_row(V, mV, vV, r, gV, u, a, s, beta1, beta2, eps, l2)
        if cw[r] != c:
            a, s = _adam_scales(cw, r, lr, beta1, beta2, pow1, pow2)
        else:
            cw[r] = c + 1
        wk = np.float64(w[r, 0])               # adam_row for w's one number, without its loop
        gk = gw[u, 0] + l2 * wk
        mk = beta1 * mw[r, 0] + (1.0 - beta1) * gk
        vk = beta2 * vw[r, 0] + (1.0 - beta2) * gk * gk
        mw[r, 0] = mk
        vw[r, 0] = vk
        w[r, 0] = wk - a * mk / (math.sqrt(vk) * s + eps)


@njit(cache=True, error_model="numpy", pipeline_class=NoAliasCompiler)
def adagrad_update(table, acc, uniq, U, g, lr, eps, l2):
    """Adagrad on rows uniq[:U]:  g' = g + l2 w; acc += g'^2; w -= lr g' / (sqrt(acc) + eps)."""
    K = table.shape[1]
    for u in range(U):
        _prefetch_rows((table, acc, acc), uniq, u + ROWS_AHEAD, U)
        r = uniq[u]
        for k in range(K):
            wk = np.float64(table[r, k])
            gk = g[u, k] + l2 * wk
            a = acc[r, k] + gk * gk
            acc[r, k] = a
            table[r, k] = wk - lr * gk / (math.sqrt(a) + eps)


@njit(cache=True, error_model="numpy", pipeline_class=NoAliasCompiler)
def sgd_update(table, uniq, U, g, lr, l2):
    """SGD on rows uniq[:U]:  w -= lr (g + l2 w)."""
    K = table.shape[1]
    for u in range(U):
        _prefetch_rows((table, table, table), uniq, u + ROWS_AHEAD, U)
        r = uniq[u]
        for k in range(K):
            wk = np.float64(table[r, k])
            table[r, k] = wk - lr * (g[u, k] + l2 * wk)
