"""The fast paths of a training step compute what the readable layers compute.

DeepFM without multi-valued fields runs fused kernels (models/deepfm_front.py,
relu+dropout in the MLP); `python -m deepfm_np gradcheck` uses a layout WITH a multi-valued field,
i.e. the readable path. Here the fast path gets its own finite-difference check, is compared with
the readable composition, and every array of a float32 step is checked to stay float32.
"""
import numpy as np
import pytest

from deepfm_np.kernels import splitmix as sm
from deepfm_np import layers as L
from deepfm_np.gradcheck.suite import (check_batch, check_layout, check_model, embedding_path_checks, generic_point,
                              model_kwargs)
from deepfm_np.losses import bce_with_logits
from deepfm_np.models.registry import build_model
from deepfm_np.optim import Adam
from deepfm_np.sparse import SparseGrad


@pytest.mark.parametrize("name", ["deepfm", "deepfm_dnn_only", "deepfm_fm_only"])
def test_fast_path_gradients_match_finite_differences(name):
    layout = check_layout(multi=False)
    assert not layout.has_multi
    idx, val, y = check_batch(layout, B=7, seed=1)
    model = build_model(name, layout, **model_kwargs())
    generic_point(model.params, np.random.default_rng(1))
    names = [p for p in model.params if not (p == "V" and name != "deepfm")]
    results = check_model(model, idx, val, y, seed=1, max_coords=40, names=names)
    results += embedding_path_checks(model, idx, val, y, seed=1)      # each path of dV, and their sum
    for r in results:
        assert r.max_rel_error < 1e-6, (r.name, r.max_rel_error)


def _slow_deepfm_step(model, idx, val, y, seed):
    """Forward and backward of DeepFM through the readable layers only (no fused kernel)."""
    p, B = model.params, idx.shape[0]
    E, ec = L.embedding_forward(p["V"], idx, val)
    y1, lc = L.first_order_forward(p["w"], p["w0"], idx, val)
    y2, fc = L.fm_forward(E)
    # the MLP with relu_forward + dropout_forward, the mask taken from the fused path's generator
    rng = np.random.default_rng(seed)
    a, caches = E.reshape(B, -1), []
    L_ = len(model.mlp.dims) - 1
    for l in range(L_):
        z, dc = L.dense_forward(a, p[f"mlp.W{l}"], p[f"mlp.b{l}"])
        if l == L_ - 1:
            caches.append((dc, None, None))
            break
        a, rc = L.relu_forward(z)
        keep = model.mlp.keep_prob
        m = sm.keep_mask_numpy(sm.dropout_seed(rng), a.size, keep).reshape(a.shape)
        mask = m.astype(a.dtype) / a.dtype.type(keep)
        a = a * mask
        caches.append((dc, rc, mask))
    logits = y1 + y2 + z[:, 0]
    _, d = bce_with_logits(logits, y)
    grads = {}
    grads["w"], grads["w0"] = L.first_order_backward(d, lc)
    dd = d[:, None]
    for l in reversed(range(L_)):
        dc, rc, mask = caches[l]
        if rc is not None:
            dd = L.relu_backward(L.dropout_backward(dd, mask), rc)
        dd, grads[f"mlp.W{l}"], grads[f"mlp.b{l}"] = L.dense_backward(dd, dc)
    grads["V"] = L.embedding_backward(L.fm_backward(d, fc) + dd.reshape(E.shape), ec)
    return logits, grads


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fast_step_equals_readable_layers(dtype):
    layout = check_layout(multi=False)
    idx, val, y = check_batch(layout, B=50, seed=2)
    val, y = val.astype(dtype), y.astype(dtype)
    model = build_model("deepfm", layout, **dict(model_kwargs(), dtype=dtype))
    generic_point(model.params, np.random.default_rng(2))
    logits = model.forward(idx, val, train=True, rng=np.random.default_rng(9))
    _, d = bce_with_logits(logits, y)
    fast = model.backward(d)
    slow_logits, slow = _slow_deepfm_step(model, idx, val, y, 9)
    # Only summation order differs (pairwise in NumPy, sequential in the kernels); the tolerance is a
    # few units of rounding of the sums involved: float64 ~1e-16 * F, float32 ~6e-8 * F.
    rtol = 1e-12 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(logits, slow_logits, rtol=rtol, atol=rtol)
    assert set(fast) == set(slow)
    for k in slow:
        f, s = fast[k], slow[k]
        if isinstance(s, SparseGrad):
            np.testing.assert_array_equal(f.rows, s.rows)
            f, s = f.values, s.values
        assert f.dtype == dtype and f.shape == s.shape, k
        scale = np.abs(s).max() + 1e-30
        np.testing.assert_allclose(f / scale, s / scale, rtol=0, atol=rtol, err_msg=k)


def test_dense_backward_outer_product_equals_matmul():
    rng = np.random.default_rng(3)
    for dtype in (np.float32, np.float64):
        x, W = rng.standard_normal((9, 5)).astype(dtype), rng.standard_normal((5, 1)).astype(dtype)
        dout = rng.standard_normal((9, 1)).astype(dtype)
        dx, dW, db = L.dense_backward(dout, (x, W))
        np.testing.assert_array_equal(dx, dout @ W.T)              # one product per entry: exact
        assert dx.dtype == dtype


def test_float32_step_stays_float32():
    """No float64 creeps into a float32 training step (a silent 2x in memory traffic)."""
    from deepfm_np.experiments.synthetic import make_synthetic
    data = make_synthetic(600, seed=0)
    model = build_model("deepfm", data.layout, hidden=(16, 8), keep_prob=0.5, seed=0)
    opt = Adam(model.params, sparse=model.sparse_params, lr=1e-3)
    idx, val, y = data.idx[:256], data.val[:256], data.y[:256]
    assert val.dtype == np.float32 and y.dtype == np.float32 and idx.dtype == np.int64
    logits = model.forward(idx, val, train=True, rng=np.random.default_rng(0))
    assert logits.dtype == np.float32

    def arrays(obj):
        if isinstance(obj, np.ndarray):
            yield obj
        elif isinstance(obj, (tuple, list)):
            for o in obj:
                yield from arrays(o)
    floats = [a for a in arrays(model._cache) if a.dtype.kind == "f"]
    assert floats and all(a.dtype == np.float32 for a in floats)
    _, d = bce_with_logits(logits, y)
    assert d.dtype == np.float32
    grads = model.backward(d)
    for k, g in grads.items():
        g = g.values if isinstance(g, SparseGrad) else g
        assert g.dtype == np.float32, k
    opt.step(grads)
    for k, p in model.params.items():
        assert p.dtype == np.float32, k
    for st in opt.state.values():
        for s, a in st.items():
            assert a.dtype in (np.float32, np.int64), s
