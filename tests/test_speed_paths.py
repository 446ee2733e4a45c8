"""The fast paths of a training step compute what the readable layers compute.

DeepFM without multi-valued fields runs the fused front end (models/deepfm_front.py) and the fused
relu+dropout MLP. Its finite-difference checks are in the gradcheck suite (model_checks checks every
model on a layout with and one without multi-valued fields; tests/test_models.py), its comparison
with DeepFM(fused=False) in tests/test_models.py. Here the fused step is compared with the layers
composed by hand, independently of the model's code, and every array of a float32 step is checked
to stay float32.
"""
import numpy as np
import pytest

from deepfm_np.kernels import splitmix as sm
from deepfm_np import layers as L
from deepfm_np.gradcheck.core import assert_same_grads
from deepfm_np.gradcheck.suite import check_batch, check_layout, generic_point, model_kwargs
from deepfm_np.losses import bce_with_logits
from deepfm_np.models.registry import build_model
from deepfm_np.optim import Adam
from deepfm_np.sparse import SparseGrad


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
    # The same operations in the same order (the kernels sum over fields and rows in the order NumPy
    # does, and the sums over K are the same NumPy calls): equal, in float32 as in float64.
    np.testing.assert_array_equal(logits, slow_logits)
    assert_same_grads(fast, slow, dtype)


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
