"""Optimizers: sparse row updates against dense references, laziness, L2 on touched rows, convergence."""
import numpy as np
import pytest

from deepfm_np.optim import FTRL, SGD, Adagrad, Adam, make_optimizer
from deepfm_np.sparse import SparseGrad, rows_to_sparse

R, K = 30, 4


def _table(rng, dtype=np.float64, shape=(R, K)):
    return rng.standard_normal(shape).astype(dtype)


def _batch_grad(rng, dtype=np.float64, n=12, K_=K):
    """A SparseGrad built from n occurrences with repeated ids, as a model's backward would give."""
    idx = rng.integers(0, R // 2, size=n).astype(np.int64)  # rows >= R//2 are never touched
    g = rng.standard_normal((n, K_) if K_ else (n,)).astype(dtype)
    return rows_to_sparse(idx, g)


MAKERS = {
    "sgd": lambda p, s, **kw: SGD(p, s, lr=0.1, **kw),
    "adagrad": lambda p, s, **kw: Adagrad(p, s, lr=0.1, **kw),
    "adam": lambda p, s, **kw: Adam(p, s, lr=0.05, **kw),
    "ftrl": lambda p, s, **kw: FTRL(p, s, lr=0.1, l1=0.01, l2=0.01, **kw),
}


@pytest.mark.parametrize("name", ["sgd", "adagrad"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sparse_update_equals_dense_update(name, dtype):
    """SGD and Adagrad leave a coordinate with zero gradient alone, so sparse == dense exactly."""
    rng = np.random.default_rng(0)
    V0 = _table(rng, dtype)
    Vs, Vd = V0.copy(), V0.copy()
    opt_s = MAKERS[name]({"V": Vs}, frozenset({"V"}))
    opt_d = MAKERS[name]({"V": Vd}, frozenset())
    for _ in range(5):
        sg = _batch_grad(rng, dtype)
        opt_s.step({"V": sg})
        opt_d.step({"V": sg.to_dense(V0.shape)})
    np.testing.assert_array_equal(Vs, Vd)
    assert Vs.dtype == dtype
    np.testing.assert_array_equal(Vs[R // 2:], V0[R // 2:])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lazy_adam_equals_dense_adam_when_every_row_is_touched(dtype):
    rng = np.random.default_rng(1)
    V0 = _table(rng, dtype)
    Vs, Vd = V0.copy(), V0.copy()
    opt_s = Adam({"V": Vs}, frozenset({"V"}), lr=0.01)
    opt_d = Adam({"V": Vd}, frozenset(), lr=0.01)
    for _ in range(6):
        idx = np.concatenate([np.arange(R), rng.integers(0, R, 20)]).astype(np.int64)
        sg = rows_to_sparse(idx, rng.standard_normal((idx.size, K)).astype(dtype))
        opt_s.step({"V": sg})
        opt_d.step({"V": sg.to_dense(V0.shape)})
    np.testing.assert_array_equal(Vs, Vd)
    np.testing.assert_array_equal(opt_s.state["V"]["m"], opt_d.state["V"]["m"])
    np.testing.assert_array_equal(opt_s.state["V"]["v"], opt_d.state["V"]["v"])
    assert np.all(opt_s.state["V"]["count"] == 6)


def test_ftrl_touched_rows_equal_dense_update():
    rng = np.random.default_rng(2)
    V0 = _table(rng)
    Vs, Vd = V0.copy(), V0.copy()
    opt_s = MAKERS["ftrl"]({"V": Vs}, frozenset({"V"}))
    opt_d = MAKERS["ftrl"]({"V": Vd}, frozenset())
    touched = set()
    for _ in range(5):
        sg = _batch_grad(rng)
        touched |= set(sg.rows.tolist())
        opt_s.step({"V": sg})
        opt_d.step({"V": sg.to_dense(V0.shape)})
        if len(touched) == sg.rows.size:  # after the first step: bit-identical on the touched rows
            np.testing.assert_array_equal(Vs[sg.rows], Vd[sg.rows])
    t = np.array(sorted(touched))
    np.testing.assert_array_equal(Vs[R // 2:], V0[R // 2:])
    # A dense step recomputes *every* weight from (z, n), also those whose gradient was 0 this step;
    # that recomputation returns the same weight up to a rounding error (~1 ulp), which later steps
    # carry along. So after several steps sparse and dense agree to rounding, not bit for bit.
    np.testing.assert_allclose(Vs[t], Vd[t], rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(Vd[R // 2:], V0[R // 2:], rtol=1e-14, atol=0)


@pytest.mark.parametrize("name", list(MAKERS))
@pytest.mark.parametrize("K_", [None, K])
def test_untouched_rows_and_their_state_never_change(name, K_):
    rng = np.random.default_rng(3)
    V = _table(rng, shape=(R,) if K_ is None else (R, K_))
    opt = MAKERS[name]({"V": V}, frozenset({"V"}), l2_sparse=0.1)
    V0 = V.copy()
    state0 = opt.state_dict()
    for _ in range(4):
        opt.step({"V": _batch_grad(rng, K_=K_)})
    state1 = opt.state_dict()
    np.testing.assert_array_equal(V[R // 2:], V0[R // 2:])
    for key in state0:
        np.testing.assert_array_equal(state1[key][R // 2:], state0[key][R // 2:])
    assert not np.array_equal(V[: R // 2], V0[: R // 2])


@pytest.mark.parametrize("name", list(MAKERS))
def test_duplicate_ids_are_summed_first(name):
    rng = np.random.default_rng(4)
    V0 = _table(rng)
    idx = np.array([5, 2, 5, 5, 9, 2], dtype=np.int64)
    g = rng.standard_normal((6, K))
    manual = SparseGrad(np.array([2, 5, 9], dtype=np.int64),
                        np.stack([g[1] + g[5], g[0] + g[2] + g[3], g[4]]))
    V1, V2 = V0.copy(), V0.copy()
    MAKERS[name]({"V": V1}, frozenset({"V"})).step({"V": rows_to_sparse(idx, g)})
    MAKERS[name]({"V": V2}, frozenset({"V"})).step({"V": manual})
    np.testing.assert_allclose(V1, V2, rtol=1e-14, atol=1e-15)
    if name == "sgd":  # and the sum is what moves the row: one step of lr * (sum of its grads)
        np.testing.assert_allclose(V1[5], V0[5] - 0.1 * (g[0] + g[2] + g[3]), rtol=1e-14)


def test_lazy_adam_counts_touches_per_row():
    V = np.zeros((6, 2))
    opt = Adam({"V": V}, frozenset({"V"}), lr=0.1)
    for rows in ([0, 1], [1, 2], [1], [4, 0]):
        r = np.array(rows, dtype=np.int64)
        opt.step({"V": SparseGrad(r, np.ones((len(rows), 2)))})
    assert opt.state["V"]["count"].tolist() == [2, 3, 1, 0, 1, 0]
    # every row's first step was bias-corrected: a first touch with g = 1 moves by lr * 1/(1 + eps)
    np.testing.assert_allclose(V[4], -0.1, rtol=1e-6)
    np.testing.assert_allclose(V[2], -0.1, rtol=1e-6)
    # rows touched at every step with g = 1 move by lr each time: row 1 three times
    np.testing.assert_allclose(V[1], -0.3, rtol=1e-6)


@pytest.mark.parametrize("name", list(MAKERS))
def test_l2_sparse_only_on_touched_rows(name):
    V = np.ones((8, 3))
    opt = MAKERS[name]({"V": V}, frozenset({"V"}), l2_sparse=0.5)
    opt.step({"V": SparseGrad(np.array([1, 6], dtype=np.int64), np.zeros((2, 3)))})
    assert np.all(V[[1, 6]] < 1.0)  # pulled toward 0 by the penalty alone
    np.testing.assert_array_equal(V[[0, 2, 3, 4, 5, 7]], 1.0)


def test_dense_params_ignore_l2_sparse_and_sgd_is_plain():
    rng = np.random.default_rng(5)
    W = rng.standard_normal((3, 2))
    b = np.zeros(2)
    W0 = W.copy()
    g = rng.standard_normal((3, 2))
    SGD({"W": W, "b": b}, lr=0.5, l2_sparse=10.0).step({"W": g, "b": np.ones(2)})
    np.testing.assert_allclose(W, W0 - 0.5 * g, rtol=1e-15)
    np.testing.assert_allclose(b, -0.5)


def _least_squares(rng, n=200, d=8):
    """min_w,b 0.5/n ||X w + b - y||^2 with a sparse-table view: each sample has 3 ids into w."""
    idx = rng.integers(0, d, size=(n, 3)).astype(np.int64)
    X = np.zeros((n, d))
    np.add.at(X, (np.repeat(np.arange(n), 3), idx.ravel()), 1.0)
    y = X @ rng.standard_normal(d) + 0.5 + 0.1 * rng.standard_normal(n)
    A = np.hstack([X, np.ones((n, 1))])
    sol = np.linalg.lstsq(A, y, rcond=None)[0]
    f_min = 0.5 * np.mean((A @ sol - y) ** 2)
    return idx, X, y, f_min


@pytest.mark.parametrize("name,lr,steps", [("sgd", 0.1, 3000), ("adagrad", 0.5, 3000),
                                           ("adam", 0.05, 3000), ("ftrl", 0.5, 3000)])
def test_each_optimizer_minimises_least_squares(name, lr, steps):
    """w is a sparse table (gradients through rows_to_sparse), b a dense param."""
    rng = np.random.default_rng(6)
    idx, X, y, f_min = _least_squares(rng)
    w = np.zeros(X.shape[1])
    b = np.zeros(1)
    opt = make_optimizer(name, {"w": w, "b": b}, frozenset({"w"}), lr=lr)

    def loss():
        return 0.5 * np.mean((X @ w + b[0] - y) ** 2)

    f0 = loss()
    for _ in range(steps):
        r = (w[idx].sum(axis=1) + b[0] - y) / y.size  # dloss/dpred, (N,)
        opt.step({"w": rows_to_sparse(idx.ravel(), np.repeat(r, 3)), "b": np.array([r.sum()])})
    assert loss() - f_min < 1e-4 * (f0 - f_min)


def _train_ftrl_logistic(l1):
    rng = np.random.default_rng(7)
    n, d = 4000, 40
    w_true = np.zeros(d)
    support = rng.choice(d, size=6, replace=False)
    w_true[support] = rng.choice([-1.0, 1.0], size=6) * rng.uniform(1.0, 2.0, size=6)
    X = rng.standard_normal((n, d))
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-(X @ w_true)))).astype(np.float64)
    w = np.zeros(d)
    opt = FTRL({"w": w}, lr=0.5, beta=1.0, l1=l1, l2=1.0)
    for epoch in range(3):  # online, as in the paper: minibatches of 20, summed gradients
        order = rng.permutation(n)
        for s in range(0, n, 20):
            j = order[s:s + 20]
            p = 1.0 / (1.0 + np.exp(-(X[j] @ w)))
            opt.step({"w": X[j].T @ (p - y[j])})
    return w, w_true, support


def test_ftrl_l1_recovers_a_sparse_logistic_model():
    # l1 is compared with z, a *sum* of gradients over all 12000 samples seen: for a true-zero weight
    # that sum is a random walk of std ~ sqrt(12000 * E[(p - y)^2]) ~ 50, so l1 = 150 is ~3 std.
    w, w_true, support = _train_ftrl_logistic(l1=150.0)
    zero = np.setdiff1d(np.arange(w.size), support)
    assert np.mean(w[zero] == 0.0) >= 0.9  # exact zeros, thanks to the l1 threshold on z
    assert np.all(np.sign(w[support]) == np.sign(w_true[support]))
    np.testing.assert_allclose(w[support], w_true[support], atol=0.3)
    # control: without l1 the same run leaves most true-zero weights small but not exactly 0
    w0, _, _ = _train_ftrl_logistic(l1=0.0)
    assert np.mean(w0[zero] == 0.0) < 0.1


def test_state_dict_round_trip_resumes_identically():
    rng = np.random.default_rng(8)
    params = {"V": _table(rng), "W": rng.standard_normal((3, 3))}
    opt = Adam(params, frozenset({"V"}), lr=0.01)
    batches = [(_batch_grad(rng), rng.standard_normal((3, 3))) for _ in range(6)]
    for sg, gW in batches[:3]:
        opt.step({"V": sg, "W": gW})
    saved_params = {k: v.copy() for k, v in params.items()}
    saved_state = opt.state_dict()
    for sg, gW in batches[3:]:
        opt.step({"V": sg, "W": gW})
    # a fresh optimizer over the saved params, loaded with the saved state, ends in the same place
    params2 = {k: v.copy() for k, v in saved_params.items()}
    opt2 = Adam(params2, frozenset({"V"}), lr=0.01)
    opt2.load_state_dict(saved_state)
    for sg, gW in batches[3:]:
        opt2.step({"V": sg, "W": gW})
    for k in params:
        np.testing.assert_array_equal(params[k], params2[k])
    assert set(saved_state) == {"V.m", "V.v", "V.count", "W.m", "W.v", "W.step"}
    with pytest.raises(ValueError, match="missing"):
        opt2.load_state_dict({"V.m": saved_state["V.m"]})


def test_errors():
    p = {"V": np.zeros((4, 2)), "W": np.zeros(3)}
    with pytest.raises(ValueError, match="valid names: adagrad, adam, ftrl, sgd"):
        make_optimizer("rmsprop", p, frozenset(), lr=0.1)
    with pytest.raises(ValueError, match="not params"):
        SGD(p, frozenset({"E"}))
    with pytest.raises(ValueError, match="lr must be a positive"):
        Adam(p, lr=-1.0)
    with pytest.raises(ValueError, match="unknown params"):
        SGD(p).step({"X": np.zeros(1)})
    with pytest.raises(ValueError, match="shape"):
        SGD(p).step({"W": np.zeros(4)})
    with pytest.raises(ValueError, match="out of range"):
        SGD(p, frozenset({"V"})).step({"V": SparseGrad(np.array([4], np.int64), np.zeros((1, 2)))})
    with pytest.raises(ValueError, match="beta = 0"):
        FTRL({"W": np.ones(3)}, lr=0.1, beta=0.0)
