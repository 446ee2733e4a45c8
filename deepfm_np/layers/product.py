"""Product layers of PNN (Qu et al. 2016): the pairwise signal fed to the first hidden layer.

Given field embeddings E (B, F, K), e_i = E[:, i]:

Inner products (IPNN). One number per unordered field pair i < j:

    p_ij = <e_i, e_j> = sum_k e_{i,k} e_{j,k}                    P (B, F(F-1)/2)

Computed through the Gram matrix G = E E^T (B, F, F), one batched matrix product,
and its strict upper triangle read row by row (pairs in np.triu_indices order):

    G[b] = E[b] E[b]^T,      P[b, n] = G[b, i_n, j_n]

Backward. dG is zero except dG[b, i_n, j_n] = dP[b, n]; since G = E E^T,

    dE[b] = (dG[b] + dG[b]^T) E[b]        i.e.  dE_i = sum_{j != i} dp_{min(i,j), max(i,j)} e_j

Outer product, cheap form (OPNN). The original OPNN forms every pair's K x K
matrix e_i e_j^T and weights each one with its own kernel; the paper's cheap
form sums the embeddings first and takes one outer product:

    s = sum_i e_i                          (B, K)
    p = s s^T = sum_i sum_j e_i e_j^T      (B, K, K), flattened to (B, K*K)

What the cheap form loses: it is the sum of ALL F^2 ordered pairs' outer
products, so (a) it includes the i = j self terms e_i e_i^T that are not
interactions at all, (b) it counts (i, j) and (j, i) alike, and (c) the next
(linear) layer sees only the sum, so it must apply the same weights to every
pair: it cannot weight the pair (user, ad) differently from (user, hour).
The cost drops from O(F^2 K^2) to O(F K + K^2) per row.

Backward (p = s s^T, so dp_{kl} touches s_k and s_l):

    ds = (dp + dp^T) s                     (B, K)
    dE_i = ds  for every field i           (the sum copies its gradient back)

`inner_product_naive` and `outer_product_naive` are the slow, obvious loops over
field pairs; the tests prove each fast form equals its twin to ~1e-15.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np


def pair_indices(F):
    """(rows (P,), cols (P,)) int64 of the F(F-1)/2 pairs i < j, in np.triu_indices order."""
    i, j = np.triu_indices(F, k=1)
    return i.astype(np.int64), j.astype(np.int64)


@lru_cache(maxsize=16)
def _symmetric_source(F):
    """(F*F,) int64: for cell (i, j) of an F x F matrix, the pair n holding {i, j}, or P for i = j.

    Gathering columns of [dP, 0] (B, P + 1) with it builds dG + dG^T (B, F*F) in one pass: a
    gather is cheaper than scattering dP into the two triangles (docs/DESIGN.md, "Measured").
    """
    i, j = pair_indices(F)
    src = np.full(F * F, i.shape[0], dtype=np.int64)          # the diagonal reads the zero column
    src[i * F + j] = np.arange(i.shape[0])
    src[j * F + i] = np.arange(i.shape[0])
    src.setflags(write=False)
    return src


def inner_product_forward(E):
    """E (B, F, K) -> P (B, F(F-1)/2) with P[:, n] = <e_{i_n}, e_{j_n}>, cache."""
    B, F, K = E.shape
    i, j = pair_indices(F)
    G = E @ E.transpose(0, 2, 1)                              # (B, F, F) Gram matrix, G_ij = <e_i, e_j>
    P = np.take(G.reshape(B, F * F), i * F + j, axis=1)       # (B, P) strict upper triangle
    return P, E


def inner_product_backward(dP, cache):
    """dP (B, F(F-1)/2) -> dE (B, F, K) = (dG + dG^T) E."""
    E = cache
    B, F, K = E.shape
    P = dP.shape[1]
    dPz = np.zeros((B, P + 1), dtype=dP.dtype)
    dPz[:, :P] = dP                                           # (B, P + 1), last column 0
    dGs = np.take(dPz, _symmetric_source(F), axis=1)          # (B, F*F) dG + dG^T, zero diagonal
    return dGs.reshape(B, F, F) @ E                           # (B, F, K)


def inner_product_naive(E):
    """The same P (B, F(F-1)/2) by the explicit double loop over field pairs i < j."""
    B, F, K = E.shape
    out = []
    for i in range(F):
        for j in range(i + 1, F):
            out.append((E[:, i, :] * E[:, j, :]).sum(axis=1))    # (B,) <e_i, e_j>
    return np.stack(out, axis=1) if out else np.zeros((B, 0), dtype=E.dtype)


def outer_product_forward(E):
    """E (B, F, K) -> p (B, K*K) = flatten(s s^T), s = sum_i e_i, cache."""
    B, F, K = E.shape
    s = E.sum(axis=1)                                         # (B, K)
    p = s[:, :, None] * s[:, None, :]                         # (B, K, K) outer product
    return p.reshape(B, K * K), (s, F)


def outer_product_backward(dp, cache):
    """dp (B, K*K) -> dE (B, F, K), every field gets ds = (dp + dp^T) s."""
    s, F = cache
    B, K = s.shape
    dp = dp.reshape(B, K, K)
    ds = ((dp + dp.transpose(0, 2, 1)) @ s[:, :, None])[:, :, 0]   # (B, K)
    return np.repeat(ds[:, None, :], F, axis=1)               # (B, F, K) d s / d e_i = identity


def outer_product_naive(E):
    """The same p (B, K*K) by summing e_i e_j^T over all ordered pairs (i, j), self pairs included."""
    B, F, K = E.shape
    p = np.zeros((B, K, K), dtype=E.dtype)
    for i in range(F):
        for j in range(F):
            p += E[:, i, :, None] * E[:, j, None, :]          # (B, K, K) e_i e_j^T
    return p.reshape(B, K * K)
