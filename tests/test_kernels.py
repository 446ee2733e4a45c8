"""Every Numba kernel against its plain NumPy twin, plus the wrappers' input checks.

The kernels and twins compute the same float64 expressions in the same order (and the scatter visits
occurrences in the same order as np.add.at), so most comparisons are exact.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepfm_np.kernels import rows as kn
from deepfm_np.sparse import SparseGrad, rows_to_sparse

DTYPES = [np.float32, np.float64]

# id patterns: repeated ids, all the same id, a single row, an empty batch, a large random case
ID_CASES = {
    "repeated": lambda rng, R: np.array([3, 1, 3, 0, 1, 3, 7, 7], dtype=np.int64) % R,
    "all_same": lambda rng, R: np.full(9, R - 1, dtype=np.int64),
    "single": lambda rng, R: np.array([2 % R], dtype=np.int64),
    "empty": lambda rng, R: np.zeros(0, dtype=np.int64),
    "large": lambda rng, R: rng.integers(0, R, size=5000).astype(np.int64),
    "skewed": lambda rng, R: np.minimum(rng.zipf(1.3, size=3000) - 1, R - 1).astype(np.int64),
}


def _unique_rows(rng, R, case):
    """Unique rows (as a SparseGrad would give) for an id case."""
    return np.unique(ID_CASES[case](rng, R)).astype(np.int64)


def assert_same(a, b):
    assert a.dtype == b.dtype
    assert a.shape == b.shape
    np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------ gather_rows

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", list(ID_CASES))
@pytest.mark.parametrize("K", [None, 1, 5])
def test_gather_rows_matches_numpy(dtype, case, K):
    rng = np.random.default_rng(0)
    R = 50
    table = rng.standard_normal((R,) if K is None else (R, K)).astype(dtype)
    idx = ID_CASES[case](rng, R)
    got = kn.gather_rows(table, idx)
    assert_same(got, kn.gather_rows_numpy(table, idx))
    assert got.dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES)
def test_gather_rows_into_out_buffer(dtype):
    rng = np.random.default_rng(1)
    table = rng.standard_normal((20, 4)).astype(dtype)
    idx = np.array([5, 5, 0, 19], dtype=np.int64)
    out = np.full((4, 4), np.nan, dtype=dtype)
    res = kn.gather_rows(table, idx, out=out)
    assert res is out
    assert_same(out, table[idx])


def test_gather_rows_errors():
    table = np.zeros((10, 3), dtype=np.float32)
    with pytest.raises(ValueError, match="int64"):
        kn.gather_rows(table, np.array([1, 2], dtype=np.int32))
    with pytest.raises(ValueError, match="float32 or float64"):
        kn.gather_rows(table.astype(np.int64), np.array([1], dtype=np.int64))
    with pytest.raises(ValueError, match="C-contiguous"):
        kn.gather_rows(np.zeros((3, 10), dtype=np.float32).T, np.array([1], dtype=np.int64))
    with pytest.raises(ValueError, match=r"idx\[2\] = 10 is out of range"):
        kn.gather_rows(table, np.array([0, 9, 10, 3], dtype=np.int64))
    with pytest.raises(ValueError, match=r"idx\[0\] = -1"):
        kn.gather_rows(table, np.array([-1], dtype=np.int64))
    with pytest.raises(ValueError, match="out must have shape"):
        kn.gather_rows(table, np.array([1], dtype=np.int64), out=np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="out must have dtype"):
        kn.gather_rows(table, np.array([1], dtype=np.int64), out=np.zeros((1, 3), np.float64))


# ------------------------------------------------------------------ scatter_add_rows

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", list(ID_CASES))
@pytest.mark.parametrize("K", [None, 1, 10])
def test_scatter_add_rows_matches_numpy(dtype, case, K):
    rng = np.random.default_rng(2)
    idx = ID_CASES[case](rng, 60)
    N = idx.shape[0]
    g = rng.standard_normal((N,) if K is None else (N, K)).astype(dtype)
    rows, summed = kn.scatter_add_rows(idx, g)
    rows_np, summed_np = kn.scatter_add_rows_numpy(idx, g)
    assert_same(rows, rows_np)      # sorted unique int64 (also for the empty batch)
    assert_same(summed, summed_np)  # same order of additions as np.add.at: bit-identical
    assert summed.shape == (rows.shape[0],) + g.shape[1:]
    # the sort-and-reduce NumPy version agrees up to rounding: reduceat may add in another order, so
    # each sum may differ by the textbook bound of recursive summation, 2 (n - 1) eps sum |g_i|
    rows_s, summed_s = kn.scatter_add_rows_sort_numpy(idx, g)
    assert_same(rows_s, rows_np)
    assert summed_s.dtype == dtype and summed_s.shape == summed_np.shape
    _, abs_sum = kn.scatter_add_rows_numpy(idx, np.abs(g).astype(np.float64))
    _, counts = np.unique(idx, return_counts=True)
    counts = counts.reshape((-1,) + (1,) * (g.ndim - 1))
    bound = 2 * np.maximum(counts - 1, 0) * np.finfo(dtype).eps * abs_sum
    assert np.all(np.abs(summed_s.astype(np.float64) - summed_np) <= bound)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ["repeated", "all_same", "single", "large"])
def test_scatter_add_rows_sort_fallback_matches_numpy(dtype, case, monkeypatch):
    """Huge ids take the stable-argsort kernel instead of the scratch; same answer, bit for bit."""
    monkeypatch.setattr(kn, "_SCRATCH_MAX_ROWS", 0)
    rng = np.random.default_rng(3)
    idx = ID_CASES[case](rng, 40)
    g = rng.standard_normal((idx.shape[0], 3)).astype(dtype)
    for a, b in zip(kn.scatter_add_rows(idx, g), kn.scatter_add_rows_numpy(idx, g)):
        assert_same(a, b)


def test_scatter_add_rows_huge_ids_and_scratch_left_clean():
    rng = np.random.default_rng(4)
    idx = np.array([2**40, 5, 2**40, 5, 7], dtype=np.int64)  # beyond the scratch: sort path
    g = rng.standard_normal((5, 2))
    rows, summed = kn.scatter_add_rows(idx, g)
    np.testing.assert_array_equal(rows, [5, 7, 2**40])
    np.testing.assert_array_equal(summed, [g[1] + g[3], g[4], g[0] + g[2]])
    kn.scatter_add_rows(rng.integers(0, 1000, 500).astype(np.int64), rng.standard_normal(500))
    assert np.all(kn._scratch.slot == -1)  # every touched entry reset


def test_scatter_add_rows_sums_duplicates_by_hand():
    idx = np.array([4, 2, 4, 4], dtype=np.int64)
    g = np.array([[1.0, 2.0], [10.0, 20.0], [100.0, 200.0], [1000.0, 2000.0]])
    rows, summed = kn.scatter_add_rows(idx, g)
    np.testing.assert_array_equal(rows, [2, 4])
    np.testing.assert_array_equal(summed, [[10.0, 20.0], [1101.0, 2202.0]])


def test_scatter_add_rows_errors():
    g = np.zeros((3, 2))
    with pytest.raises(ValueError, match="idx_flat must have dtype int64"):
        kn.scatter_add_rows(np.array([0, 1, 2], dtype=np.int32), g)
    with pytest.raises(ValueError, match="float32 or float64"):
        kn.scatter_add_rows(np.array([0, 1, 2], dtype=np.int64), g.astype(np.int64))
    with pytest.raises(ValueError, match="C-contiguous"):
        kn.scatter_add_rows(np.array([0, 1, 2], dtype=np.int64), np.zeros((2, 3)).T)
    with pytest.raises(ValueError, match=r"idx_flat\[1\] = -3 is out of range"):
        kn.scatter_add_rows(np.array([0, -3, 2], dtype=np.int64), g)
    with pytest.raises(ValueError, match="2 ids"):
        kn.scatter_add_rows(np.array([0, 1], dtype=np.int64), g)


def test_rows_to_sparse_uses_kernel_and_accepts_views():
    rng = np.random.default_rng(5)
    idx = rng.integers(0, 30, size=(8, 6))
    dE = rng.standard_normal((6, 8, 4)).transpose(1, 0, 2)  # non-contiguous (B, S, K)
    sg = rows_to_sparse(idx.reshape(-1), dE.reshape(-1, 4))
    rows_np, summed_np = kn.scatter_add_rows_numpy(idx.reshape(-1).astype(np.int64), dE.reshape(-1, 4))
    assert isinstance(sg, SparseGrad)
    assert_same(sg.rows, rows_np)
    assert_same(sg.values, summed_np)
    dense = np.zeros((30, 4))
    np.add.at(dense, idx.reshape(-1), dE.reshape(-1, 4))
    np.testing.assert_allclose(sg.to_dense((30, 4)), dense, rtol=1e-12, atol=1e-12)
    both = sg + sg
    np.testing.assert_allclose(both.to_dense((30, 4)), 2 * dense, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="integer row ids"):
        rows_to_sparse(np.array([0.0, 1.0]), np.zeros(2))


# ------------------------------------------------------------------ optimizer row updates

def _table_and_state(rng, R, K, dtype, n_state, positive=()):
    shape = (R,) if K is None else (R, K)
    table = rng.standard_normal(shape).astype(dtype)
    states = []
    for i in range(n_state):
        s = rng.standard_normal(shape).astype(dtype)
        states.append(np.abs(s) if i in positive else s)
    return table, states


def _run_both(fn, fn_np, arrays, rows, g, *scalars):
    """Run kernel and twin on copies of the same arrays; return both sets of arrays afterwards."""
    a1 = [a.copy() for a in arrays]
    a2 = [a.copy() for a in arrays]
    fn(*a1, rows, g, *scalars)
    fn_np(*a2, rows, g, *scalars)
    return a1, a2


OPT_CASES = ["repeated", "all_same", "single", "empty", "large"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", OPT_CASES)
@pytest.mark.parametrize("K", [None, 4])
def test_sgd_rows_matches_numpy(dtype, case, K):
    rng = np.random.default_rng(10)
    R = 6000 if case == "large" else 20
    table, _ = _table_and_state(rng, R, K, dtype, 0)
    rows = _unique_rows(rng, R, case)
    g = rng.standard_normal((rows.shape[0],) + table.shape[1:]).astype(dtype)
    (t1,), (t2,) = _run_both(kn.sgd_rows, kn.sgd_rows_numpy, [table], rows, g, 0.1, 0.01)
    assert_same(t1, t2)
    untouched = np.setdiff1d(np.arange(R), rows)
    assert_same(t1[untouched], table[untouched])
    if rows.size:
        assert not np.array_equal(t1[rows], table[rows])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", OPT_CASES)
@pytest.mark.parametrize("K", [None, 4])
def test_adagrad_rows_matches_numpy(dtype, case, K):
    rng = np.random.default_rng(11)
    R = 6000 if case == "large" else 20
    table, (acc,) = _table_and_state(rng, R, K, dtype, 1, positive=(0,))
    rows = _unique_rows(rng, R, case)
    g = rng.standard_normal((rows.shape[0],) + table.shape[1:]).astype(dtype)
    a1, a2 = _run_both(kn.adagrad_rows, kn.adagrad_rows_numpy, [table, acc], rows, g, 0.1, 1e-8, 0.01)
    for x, y in zip(a1, a2):
        assert_same(x, y)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", OPT_CASES)
@pytest.mark.parametrize("K", [None, 4])
def test_adam_rows_matches_numpy(dtype, case, K):
    rng = np.random.default_rng(12)
    R = 6000 if case == "large" else 20
    table, (m, v) = _table_and_state(rng, R, K, dtype, 2, positive=(1,))
    count = rng.integers(0, 5, size=R).astype(np.int64)
    rows = _unique_rows(rng, R, case)
    g = rng.standard_normal((rows.shape[0],) + table.shape[1:]).astype(dtype)
    a1, a2 = _run_both(kn.adam_rows, kn.adam_rows_numpy, [table, m, v, count], rows, g,
                       1e-2, 0.9, 0.999, 1e-8, 0.01)
    for x, y in zip(a1, a2):
        assert_same(x, y)
    expected_count = count.copy()
    expected_count[rows] += 1
    assert_same(a1[3], expected_count)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", OPT_CASES)
@pytest.mark.parametrize("K", [None, 4])
@pytest.mark.parametrize("l1", [0.0, 0.5])
def test_ftrl_rows_matches_numpy(dtype, case, K, l1):
    rng = np.random.default_rng(13)
    R = 6000 if case == "large" else 20
    table, (z, n) = _table_and_state(rng, R, K, dtype, 2, positive=(1,))
    rows = _unique_rows(rng, R, case)
    g = rng.standard_normal((rows.shape[0],) + table.shape[1:]).astype(dtype)
    a1, a2 = _run_both(kn.ftrl_rows, kn.ftrl_rows_numpy, [table, z, n], rows, g,
                       0.1, 1.0, l1, 0.01, 0.001)
    for x, y in zip(a1, a2):
        assert_same(x, y)
    if l1 > 0 and rows.size:
        zero = np.abs(a1[1][rows]) <= l1
        assert np.all(a1[0][rows][zero] == 0.0)


def test_adam_rows_first_step_is_bias_corrected():
    """A row touched for the first time moves by ~lr * sign(g), whatever the global step."""
    table = np.zeros((5, 3))
    m, v = np.zeros_like(table), np.zeros_like(table)
    count = np.array([0, 100, 0, 0, 0], dtype=np.int64)
    g = np.array([[2.0, -3.0, 0.5]])
    kn.adam_rows(table, m, v, count, np.array([3], dtype=np.int64), g, 0.01, 0.9, 0.999, 1e-8)
    np.testing.assert_allclose(table[3], -0.01 * np.sign(g[0]), rtol=1e-6)
    assert count.tolist() == [0, 100, 0, 1, 0]


ROW_UPDATES = {
    "sgd": (kn.sgd_rows, 0, (0.1,)),
    "adagrad": (kn.adagrad_rows, 1, (0.1,)),
    "adam": (kn.adam_rows, 2, (0.1,)),
    "ftrl": (kn.ftrl_rows, 2, (0.1,)),
}


def _call_row_update(name, table, rows, g, dtype=None, noncontig=False):
    fn, n_state, scalars = ROW_UPDATES[name]
    states = [np.zeros_like(table) for _ in range(n_state)]
    if noncontig and states:
        states[0] = np.zeros((table.shape[1], table.shape[0]), table.dtype).T
    if name == "adam":
        states.append(np.zeros(table.shape[0], dtype=np.int64))
    fn(table, *states, rows, g, *scalars)


@pytest.mark.parametrize("name", list(ROW_UPDATES))
def test_row_update_errors(name):
    table = np.zeros((10, 3), dtype=np.float32)
    rows = np.array([1, 4], dtype=np.int64)
    g = np.ones((2, 3), dtype=np.float32)
    with pytest.raises(ValueError, match="g must have dtype float32"):
        _call_row_update(name, table, rows, g.astype(np.float64))
    with pytest.raises(ValueError, match="rows must have dtype int64"):
        _call_row_update(name, table, rows.astype(np.int32), g)
    with pytest.raises(ValueError, match="table must be C-contiguous"):
        _call_row_update(name, np.zeros((3, 10), np.float32).T, rows, g)
    with pytest.raises(ValueError, match="g must be C-contiguous"):
        _call_row_update(name, table, rows, np.ones((3, 2), np.float32).T)
    if ROW_UPDATES[name][1]:
        with pytest.raises(ValueError, match="must be C-contiguous"):
            _call_row_update(name, table, rows, g, noncontig=True)
    with pytest.raises(ValueError, match=r"rows\[1\] = 10 is out of range"):
        _call_row_update(name, table, np.array([3, 10], dtype=np.int64), g)
    with pytest.raises(ValueError, match="row 4 appears more than once"):
        _call_row_update(name, table, np.array([4, 4], dtype=np.int64), g)
    with pytest.raises(ValueError, match="g must have shape"):
        _call_row_update(name, table, rows, np.ones((3, 3), np.float32))
    assert np.all(table == 0)  # nothing was written by a refused call


def test_row_updates_accept_unsorted_unique_rows():
    rng = np.random.default_rng(14)
    table = rng.standard_normal((10, 2))
    ref = table.copy()
    rows = np.array([7, 2, 5], dtype=np.int64)
    g = rng.standard_normal((3, 2))
    kn.sgd_rows(table, rows, g, 0.5)
    kn.sgd_rows_numpy(ref, rows, g, 0.5)
    assert_same(table, ref)


# ------------------------------------------------------------------ fused dense Adam

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(0,), (1,), (7, 3), (10000,)])
@pytest.mark.parametrize("step", [1, 2, 1000])
def test_adam_dense_matches_numpy(dtype, shape, step):
    rng = np.random.default_rng(15)
    p = rng.standard_normal(shape).astype(dtype)
    m = rng.standard_normal(shape).astype(dtype)
    v = np.abs(rng.standard_normal(shape)).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    a1 = [p.copy(), m.copy(), v.copy()]
    a2 = [p.copy(), m.copy(), v.copy()]
    kn.adam_dense(*a1, g, 1e-3, 0.9, 0.999, 1e-8, step)
    kn.adam_dense_numpy(*a2, g, 1e-3, 0.9, 0.999, 1e-8, step)
    for x, y in zip(a1, a2):
        assert_same(x, y)


def test_adam_dense_equals_adam_rows_with_every_row_touched():
    rng = np.random.default_rng(16)
    p = rng.standard_normal((6, 4))
    p2 = p.copy()
    m, v, m2, v2 = (np.zeros_like(p) for _ in range(4))
    count = np.zeros(6, dtype=np.int64)
    rows = np.arange(6, dtype=np.int64)
    for t in range(1, 6):
        g = rng.standard_normal((6, 4))
        kn.adam_dense(p, m, v, g, 1e-2, 0.9, 0.999, 1e-8, t)
        kn.adam_rows(p2, m2, v2, count, rows, g, 1e-2, 0.9, 0.999, 1e-8)
    assert_same(p, p2)
    assert_same(m, m2)
    assert_same(v, v2)


def test_adam_dense_errors():
    p = np.zeros(5, dtype=np.float32)
    z = np.zeros(5, dtype=np.float32)
    with pytest.raises(ValueError, match="grad must have dtype float32"):
        kn.adam_dense(p, z.copy(), z.copy(), np.zeros(5), 1e-3, 0.9, 0.999, 1e-8, 1)
    with pytest.raises(ValueError, match="m must have shape"):
        kn.adam_dense(p, np.zeros(4, np.float32), z.copy(), z.copy(), 1e-3, 0.9, 0.999, 1e-8, 1)
    with pytest.raises(ValueError, match="C-contiguous"):
        kn.adam_dense(np.zeros(10, np.float32)[::2], z.copy(), z.copy(), z.copy(),
                      1e-3, 0.9, 0.999, 1e-8, 1)
    with pytest.raises(ValueError, match="step must be >= 1"):
        kn.adam_dense(p, z.copy(), z.copy(), z.copy(), 1e-3, 0.9, 0.999, 1e-8, 0)


# ------------------------------------------------------------------ property test


@settings(max_examples=60, deadline=None)
@given(ids=st.lists(st.integers(0, 12), max_size=40), K=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_scatter_then_sgd_matches_numpy_on_random_batches(ids, K, seed):
    """Any batch: scatter-add equals the twin, and one SGD step on its rows equals the twin's."""
    rng = np.random.default_rng(seed)
    idx = np.array(ids, dtype=np.int64)
    g = rng.standard_normal((idx.size, K))
    rows, summed = kn.scatter_add_rows(idx, g)
    rows_np, summed_np = kn.scatter_add_rows_numpy(idx, g)
    assert_same(rows, rows_np)
    assert_same(summed, summed_np)
    table = rng.standard_normal((13, K))
    ref = table.copy()
    kn.sgd_rows(table, rows, summed, 0.3, 0.1)
    kn.sgd_rows_numpy(ref, rows_np, summed_np, 0.3, 0.1)
    assert_same(table, ref)
