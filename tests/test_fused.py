"""Fused kernels (kernels/relu_dropout.py, kernels/splitmix.py, models/deepfm_front.py) against their NumPy twins and against the readable layers.

The kernels do the very operations of their twins, element by element and in the same order, so the
results are compared for EQUALITY in float32 and float64 (no tolerance is needed: no sum is
reassociated, and `error_model="numpy"` is not fastmath).
"""
import numpy as np
import pytest

from deepfm_np.kernels import splitmix as sm, relu_dropout as rd
from deepfm_np.models import deepfm_front as df
from deepfm_np import layers as L

DTYPES = [np.float32, np.float64]
SHAPES = [(0, 5), (1, 1), (7, 13), (64, 400)]


def eq(a, b):
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------ the mask

def test_mask_is_splitmix64():
    """Unit 0 of seed 0 is SplitMix64's first output from state 0, 0xE220A8397B1DCDAF (top 32 bits)."""
    top = 0xE220A839
    assert sm.keep_mask_numpy(0, 1, (top + 1) / 2**32)[0]             # u < threshold: kept
    assert not sm.keep_mask_numpy(0, 1, top / 2**32)[0]                # u == threshold: dropped


def test_one_splitmix64_for_kernels_numpy_and_the_holdout_split():
    """The scalar the kernels compile and the array twin are one formula; the split hashes with it too."""
    from deepfm_np.data.split import holdout_mask
    z = np.array([0, 1, 2**32, 2**63, 2**64 - 1, 0x9E3779B97F4A7C15], dtype=np.uint64)
    ref = sm.splitmix64_numpy(z)
    assert ref[0] == 0xE220A8397B1DCDAF                                # SplitMix64's first output from 0
    assert [int(sm.splitmix64(x)) for x in z] == [int(r) for r in ref]
    seed, thresh = 2**40 + 3, np.uint64(sm.keep_threshold(0.3))
    eq(np.array([sm.keep_unit(np.uint64(seed), n, thresh) for n in range(500)]), sm.keep_mask_numpy(seed, 500, 0.3))
    lines = np.arange(1, 2001, dtype=np.int64)
    u = (sm.splitmix64_numpy(lines.astype(np.uint64) + np.uint64(7 << 32)) >> np.uint64(11)) / float(1 << 53)
    eq(holdout_mask(lines, 0.2, 7), u < 0.2)


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.8])
def test_mask_rate_and_independence(keep):
    m = sm.keep_mask_numpy(12345, 400_000, keep)
    assert abs(m.mean() - keep) < 5 * np.sqrt(keep * (1 - keep) / m.size)
    # neighbouring units (and neighbouring seeds) are uncorrelated
    a, b = m[:-1].astype(float), m[1:].astype(float)
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.01
    other = sm.keep_mask_numpy(12346, 400_000, keep).astype(float)
    assert abs(np.corrcoef(m.astype(float), other)[0, 1]) < 0.01


def test_mask_keep_one_keeps_all_and_seed_is_reproducible():
    assert sm.keep_mask_numpy(7, 1000, 1.0).all()
    eq(sm.keep_mask_numpy(7, 1000, 0.5), sm.keep_mask_numpy(7, 1000, 0.5))
    assert sm.dropout_seed(np.random.default_rng(3)) == sm.dropout_seed(np.random.default_rng(3))
    with pytest.raises(ValueError, match="keep_prob"):
        sm.keep_threshold(0.0)
    with pytest.raises(ValueError, match="rng"):
        sm.dropout_seed(None)


# ------------------------------------------------------------------ relu + dropout

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("keep", [0.5, 0.8, 1.0])
def test_relu_dropout_forward_matches_twin(dtype, shape, keep):
    z = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    eq(rd.relu_dropout_forward(z, keep, 99), rd.relu_dropout_forward_numpy(z, keep, 99))
    zc = z.copy()
    out = rd.relu_dropout_forward(zc, keep, 99, out=zc)                # in place
    assert out is zc
    eq(out, rd.relu_dropout_forward_numpy(z, keep, 99))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("keep", [0.5, 0.8])
def test_relu_dropout_forward_is_relu_then_dropout_with_that_mask(dtype, keep):
    """The fused pass computes the readable layers' composition, given the same mask."""
    z = np.random.default_rng(1).standard_normal((33, 17)).astype(dtype)
    m = sm.keep_mask_numpy(5, z.size, keep).reshape(z.shape)
    a_relu, relu_cache = L.relu_forward(z)
    mask = m.astype(dtype) / dtype(keep)                               # what layers/dropout.py builds
    eq(rd.relu_dropout_forward(z, keep, 5), a_relu * mask)
    d = np.random.default_rng(2).standard_normal(z.shape).astype(dtype)
    a = rd.relu_dropout_forward(z, keep, 5)
    eq(rd.relu_dropout_backward(d, a, keep), L.relu_backward(L.dropout_backward(d, mask), relu_cache))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("keep", [0.5, 1.0])
def test_relu_dropout_backward_matches_twin(dtype, shape, keep):
    rng = np.random.default_rng(3)
    a = rd.relu_dropout_forward(rng.standard_normal(shape).astype(dtype), keep, 4)
    d = rng.standard_normal(shape).astype(dtype)
    eq(rd.relu_dropout_backward(d, a, keep), rd.relu_dropout_backward_numpy(d, a, keep))
    dc = d.copy()
    assert rd.relu_dropout_backward(dc, a, keep, out=dc) is dc
    eq(dc, rd.relu_dropout_backward_numpy(d, a, keep))


def test_relu_dropout_errors():
    z = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match="C-contiguous"):
        rd.relu_dropout_forward(np.zeros((3, 4), np.float32).T, 0.5, 0)
    with pytest.raises(ValueError, match="float32 or float64"):
        rd.relu_dropout_forward(np.zeros((4, 3), np.int64), 0.5, 0)
    with pytest.raises(ValueError, match="out must be"):
        rd.relu_dropout_forward(z, 0.5, 0, out=np.zeros((4, 3), np.float64))
    with pytest.raises(ValueError, match="must match"):
        rd.relu_dropout_backward(z, np.zeros((4, 3), np.float64), 0.5)


# ------------------------------------------------------------------ DeepFM's front end (models/deepfm_front.py)

def _front_inputs(dtype, B, R=50, F=6, K=4, seed=8):
    rng = np.random.default_rng(seed)
    V = rng.standard_normal((R, K)).astype(dtype)
    idx = rng.integers(0, 5, (B, F)).astype(np.int64) * 7                # repeated ids
    val = rng.uniform(-2, 2, (B, F)).astype(dtype)
    return V, idx, val


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("B", [0, 1, 33])
def test_embedding_sums_match_readable_layers(dtype, B):
    """E, S = sum_f e_f and sum_f e_f^2 in one pass equal embedding_forward and fm_forward's sums EXACTLY
    (NumPy sums over the field axis in field order, as the kernel does)."""
    V, idx, val = _front_inputs(dtype, B)
    fast, slow = df.embedding_sums(V, idx, val), df.embedding_sums_numpy(V, idx, val)
    for a, b in zip(fast, slow):
        eq(a, b)
    E, _ = L.embedding_forward(V, idx, val)
    y, (_, S) = L.fm_forward(E)
    eq(fast[0], E)
    eq(fast[1], S)
    eq(L.fm_pairs(fast[1], fast[2]), y)
    assert fast[1].shape == (B, V.shape[1])


def test_embedding_sums_errors():
    V, idx, val = _front_inputs(np.float32, 3)
    bad = idx.copy()
    bad[1, 2] = 50
    with pytest.raises(ValueError, match="out of range"):
        df.embedding_sums(V, bad, val)
    with pytest.raises(ValueError, match="val must be float32"):
        df.embedding_sums(V, idx, val.astype(np.float64))
    with pytest.raises(ValueError, match="idx must have dtype int64"):
        df.embedding_sums(V, idx.astype(np.int32), val)


def _row_grad_inputs(dtype, B, with_dx, F=5, K=3, seed=10):
    rng = np.random.default_rng(seed)
    E = rng.standard_normal((B, F, K)).astype(dtype)
    S = E.sum(axis=1)
    dy = rng.standard_normal(B).astype(dtype)
    dx = rng.standard_normal((B, F * K)).astype(dtype) if with_dx else None
    val = rng.uniform(-2, 2, (B, F)).astype(dtype)
    return dy, S, E, dx, val


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("B", [0, 1, 9])
@pytest.mark.parametrize("with_dx,fm", [(True, True), (False, True), (True, False)])
def test_deepfm_row_grads_matches_twin(dtype, B, with_dx, fm):
    dy, S, E, dx, val = _row_grad_inputs(dtype, B, with_dx)
    K = E.shape[2]
    got = df.deepfm_row_grads(dy, S, E, dx, val, fm=fm)
    eq(got, df.deepfm_row_grads_numpy(dy, S, E, dx, val, fm=fm))
    eq(got[:, K], (dy[:, None] * val).reshape(-1))                    # first_order_backward's rows


@pytest.mark.parametrize("fm,dnn", [(True, True), (True, False), (False, True)])
def test_deepfm_row_grads_are_the_layers_backward_on_each_path(fm, dnn):
    rng = np.random.default_rng(7)
    B, F, K = 6, 4, 3
    E = rng.standard_normal((B, F, K))
    y, cache = L.fm_forward(E)
    dy, dx, val = rng.standard_normal(B), rng.standard_normal((B, F * K)), rng.standard_normal((B, F))
    dE = (L.fm_backward(dy, cache) if fm else 0) + (dx.reshape(B, F, K) if dnn else 0)
    expect = (dE * val[:, :, None]).reshape(B * F, K)
    eq(df.deepfm_row_grads(dy, cache[1], E, dx if dnn else None, val, fm=fm)[:, :K], expect)


def test_deepfm_row_grads_errors():
    E = np.zeros((2, 3, 4), np.float32)
    S, val = np.zeros((2, 4), np.float32), np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match="dy must be C-contiguous float32"):
        df.deepfm_row_grads(np.zeros(2), S, E, None, val)
    with pytest.raises(ValueError, match="dx must be"):
        df.deepfm_row_grads(np.zeros(2, np.float32), S, E, np.zeros((2, 11), np.float32), val)
    with pytest.raises(ValueError, match="needs dx"):
        df.deepfm_row_grads(np.zeros(2, np.float32), S, E, None, val, fm=False)


# ------------------------------------------------------------------ the dense layer's bias, folded in

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("keep", [0.5, 0.7])                            # 1/0.7 is inexact: rounding shows
def test_relu_dropout_with_bias_and_db_match_twins(dtype, shape, keep):
    rng = np.random.default_rng(11)
    z = rng.standard_normal(shape).astype(dtype)
    b = rng.standard_normal(shape[1]).astype(dtype)
    a = rd.relu_dropout_forward(z, keep, 3, bias=b)
    eq(a, rd.relu_dropout_forward_numpy(z, keep, 3, bias=b))
    eq(a, rd.relu_dropout_forward(z + b, keep, 3))                     # = dense_forward's  x W + b  first
    d = rng.standard_normal(shape).astype(dtype)
    db1, db2 = np.empty(shape[1], dtype), np.empty(shape[1], dtype)
    dz = rd.relu_dropout_backward(d, a, keep, db=db1)
    eq(dz, rd.relu_dropout_backward_numpy(d, a, keep, db=db2))
    eq(db1, db2)                                                       # both sum the rows in order
    # and against NumPy's own column sum: float32 rounding of a sum of B terms, <= B eps sum|terms|
    bound = shape[0] * np.finfo(dtype).eps * np.abs(dz).sum(axis=0)
    assert np.all(np.abs(db1.astype(np.float64) - dz.sum(axis=0)) <= bound + 1e-300)


def test_bias_and_db_errors():
    z = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match="bias must be float32 of shape"):
        rd.relu_dropout_forward(z, 0.5, 0, bias=np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="db must be"):
        rd.relu_dropout_backward(z, z, 0.5, db=np.zeros(3, np.float64))


def test_overlapping_outputs_are_refused():
    """In place (out is the input itself) is fine; a partial overlap would give wrong numbers."""
    z = np.zeros((4, 6), np.float32)
    with pytest.raises(ValueError, match="not overlap"):
        rd.relu_dropout_forward(z[:2].reshape(4, 3), 0.5, 0, out=z[1:3].reshape(4, 3))
    a = rd.relu_dropout_forward(np.ones((4, 3), np.float32), 0.5, 0)
    with pytest.raises(ValueError, match="must not overlap"):
        rd.relu_dropout_backward(a, a, 0.5)
