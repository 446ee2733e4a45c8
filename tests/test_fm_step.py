"""The fused FM / LR training step (kernels/fm_step.py via models/step.py) against its readable twin.

The twin is the path every model takes: layers/ forward and backward, losses.bce_with_logits,
sparse.rows_to_sparse, the optimizer's row kernels. In float64 the two agree to 1e-12 relative (the
NumPy layers sum some axes pairwise, the kernel in order, so the last bits of a logit may differ); in
float32 to float32 rounding. Small tables make ids repeat within a batch; the multi-valued layout repeats
rows within a record too (two slots of one field holding the same value).
"""
import re

import numpy as np
import pytest

from deepfm_np.data.dataset import ArrayDataset
from deepfm_np.fields import FieldLayout
from deepfm_np.kernels import fm_step as ks
from deepfm_np.losses import bce_with_logits
from deepfm_np.models.fm import FM
from deepfm_np.models.lr import LR
from deepfm_np.models.registry import build_model
from deepfm_np.optim import make_optimizer
from deepfm_np.train import TrainConfig, train
from deepfm_np.models.step import FusedFMStep, FusedLRStep, ReadableStep, make_step

PLAIN = FieldLayout.categorical([5, 3, 7, 4])
MULTI = FieldLayout(("a", "b", "g"), (4, 6, 5), ("categorical", "numeric", "multi"), (1, 1, 3))


def batch(layout, B, rng):
    """idx, val, y with ids drawn from each slot's field; multi slots may repeat one row in a record."""
    f = layout.slot_field
    lo, size = layout.offsets[f], np.asarray(layout.sizes)[f]
    idx = lo + rng.integers(0, size, (B, layout.n_slots))
    val = rng.uniform(0.3, 1.7, (B, layout.n_slots)).astype(np.float32)
    y = (rng.random(B) < 0.35).astype(np.float32)
    return idx, val, y


def pair(cls, layout, opt, dtype, **okw):
    """Two identical models and optimizers: one stepped by the fused kernel, one by the readable path."""
    out = []
    for fused in (True, False):
        m = cls(layout, dtype=dtype, **({"init_std": 0.3} if cls is FM else {}))
        o = make_optimizer(opt, m.params, sparse=m.sparse_params, **okw)
        out.append((m, o, make_step(m, o, fused=fused)))
    return out


def max_rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300))) if a.size else 0.0


@pytest.mark.parametrize("layout", [PLAIN, MULTI], ids=["plain", "multi"])
@pytest.mark.parametrize("cls", [FM, LR])
def test_pass1_gradients_equal_the_layers(cls, layout):
    """fm_grads / lr_grads: loss, dw0 and the summed row gradients of a batch, float64."""
    rng = np.random.default_rng(3)
    m = cls(layout, dtype=np.float64, **({"init_std": 0.3} if cls is FM else {}))
    m.params["w"][...] = rng.standard_normal(layout.n_rows) * 0.2
    idx, val, y = batch(layout, 23, rng)
    loss_ref, d = bce_with_logits(m.forward(idx, val, train=True), y)
    g = m.backward(d)
    o = make_optimizer("sgd", m.params, sparse=m.sparse_params, lr=0.1)
    st = make_step(m, o)
    st._grow(idx.size)
    loss_sum, g0, U, bad = st._grads(idx, val, y, np.arange(len(y)))
    assert bad == -1
    rows = st.uniq[:U].copy()
    ks.reset_slots(st.slot, st.uniq, U)
    assert np.all(st.slot == -1)
    order = np.argsort(rows)
    assert np.array_equal(rows[order], g["w"].rows)                    # the same rows, each once
    assert abs(loss_sum / len(y) - loss_ref) <= 1e-12 * loss_ref
    assert max_rel(g0, g["w0"][0]) < 1e-12
    assert max_rel(st.gw[:U][order], g["w"].values) < 1e-12
    if cls is FM:
        assert max_rel(st.gV[:U][order], g["V"].values) < 1e-12


@pytest.mark.parametrize("opt", ["adam", "adagrad", "sgd"])
@pytest.mark.parametrize("layout", [PLAIN, MULTI], ids=["plain", "multi"])
@pytest.mark.parametrize("cls", [FM, LR])
def test_fused_steps_follow_the_readable_path_float64(cls, layout, opt):
    (mf, of, sf), (mr, orr, sr) = pair(cls, layout, opt, np.float64, lr=0.05, l2_sparse=1e-3)
    assert isinstance(sf, FusedFMStep if cls is FM else FusedLRStep) and isinstance(sr, ReadableStep)
    rng = np.random.default_rng(0)
    pool = batch(layout, 40, rng)                     # the fused step reads records in place by row number
    for _ in range(25):
        rows = rng.integers(0, 40, int(rng.integers(1, 12)))             # may take a record twice
        lf, lr_ = sf(*pool, rows), sr(*(a[rows] for a in pool))
        assert abs(lf - lr_) <= 1e-12 * lr_
    for k in mf.params:
        assert max_rel(mf.params[k], mr.params[k]) < 1e-12, k
    sd_f, sd_r = of.state_dict(), orr.state_dict()
    assert sd_f.keys() == sd_r.keys()
    for k in sd_f:
        if sd_f[k].dtype.kind == "i":
            assert np.array_equal(sd_f[k], sd_r[k]), k                    # Adam's per-row step counts
        else:
            assert max_rel(sd_f[k], sd_r[k]) < 1e-12, k


@pytest.mark.parametrize("opt", ["adam", "adagrad"])
@pytest.mark.parametrize("cls", [FM, LR])
def test_fused_steps_float32_stay_float32_and_agree_to_rounding(cls, opt):
    """float32: the kernel sums in float64, the layers in float32: equal to float32 rounding."""
    lr = 0.01
    (mf, _, sf), (mr, _, sr) = pair(cls, PLAIN, opt, np.float32, lr=lr)
    rng = np.random.default_rng(1)
    steps = 10
    for _ in range(steps):
        b = batch(PLAIN, 16, rng)
        sf(*b), sr(*b)
    for k in mf.params:
        assert mf.params[k].dtype == np.float32
        # each step moves a weight by at most ~lr; float32 rounding of the gradient sums changes that
        # move by a relative ~1e-6
        assert np.max(np.abs(mf.params[k] - mr.params[k])) < 1e-5 * lr * steps, k


def test_route_is_chosen_once_and_only_where_it_applies():
    m = FM(PLAIN)
    assert make_step(m, make_optimizer("adam", m.params, sparse=m.sparse_params)).fused
    assert not make_step(m, make_optimizer("adam", m.params, sparse=m.sparse_params), fused=False).fused
    assert not make_step(m, make_optimizer("ftrl", m.params, sparse=m.sparse_params, lr=0.1)).fused
    lr = LR(PLAIN)
    assert make_step(lr, make_optimizer("sgd", lr.params, sparse=lr.sparse_params, lr=0.1)).fused
    d = build_model("deepfm", PLAIN, embed_dim=4, hidden=(8,))
    assert not make_step(d, make_optimizer("adam", d.params, sparse=d.sparse_params)).fused
    other = FM(PLAIN)                   # an optimizer built on another model's arrays: never fused
    assert not make_step(m, make_optimizer("adam", other.params, sparse=other.sparse_params)).fused
    shared = FM(PLAIN, embed_dim=4)     # tables that overlap in memory: the no-alias kernels must not see them
    buf = np.zeros(PLAIN.n_rows * 5, dtype=shared.dtype)
    shared.params["V"] = buf[:PLAIN.n_rows * 4].reshape(PLAIN.n_rows, 4)
    shared.params["w"] = buf[PLAIN.n_rows * 4 - 1:-1]
    assert not make_step(shared, make_optimizer("adam", shared.params, sparse=shared.sparse_params)).fused


@pytest.mark.parametrize("cls", [FM, LR])
def test_bad_id_raises_and_leaves_everything_untouched(cls):
    m = cls(PLAIN, dtype=np.float64)
    st = make_step(m, make_optimizer("adam", m.params, sparse=m.sparse_params))
    before = {k: v.copy() for k, v in m.params.items()}
    idx, val, y = batch(PLAIN, 6, np.random.default_rng(2))
    idx[4, 2] = PLAIN.n_rows + 3
    with pytest.raises(ValueError, match=r"row 4, slot 2: id 22 is outside the table's rows \[0, 19\)"):
        st(idx, val, y)
    assert np.all(st.slot == -1)
    for k in before:
        assert np.array_equal(m.params[k], before[k])


@pytest.mark.parametrize("cls", [FM, LR])
def test_non_finite_loss_updates_nothing(cls):
    m = cls(PLAIN, dtype=np.float64)
    m.params["w"][...] = 1.0
    st = make_step(m, make_optimizer("adam", m.params, sparse=m.sparse_params))
    before = {k: v.copy() for k, v in m.params.items()}
    idx, val, y = batch(PLAIN, 4, np.random.default_rng(2))
    val = val.astype(np.float64)
    val[1, 0] = np.inf
    assert not np.isfinite(st(idx, val, y))
    assert np.all(st.slot == -1)
    for k in before:
        assert np.array_equal(m.params[k], before[k])


def test_train_loop_fused_and_readable_give_the_same_history():
    rng = np.random.default_rng(5)
    idx, val, y = batch(PLAIN, 300, rng)
    data = ArrayDataset(idx, val, y, PLAIN)
    hist = []
    for fused in (True, False):
        m = FM(PLAIN, dtype=np.float64, init_std=0.1)
        res = train(m, data, data, TrainConfig(epochs=3, batch_size=32, lr=0.01, progress=False, patience=0,
                                               fused=fused))
        hist.append((res.history, m.params))
    (h1, p1), (h2, p2) = hist
    for a, b in zip(h1, h2):
        assert abs(a["train_loss"] - b["train_loss"]) < 1e-12 and abs(a["valid_auc"] - b["valid_auc"]) < 1e-12
    for k in p1:
        assert max_rel(p1[k], p2[k]) < 1e-11, k


@pytest.mark.parametrize("K", [1, 2, 3, 4, 6, 7])
@pytest.mark.parametrize("layout", [PLAIN, MULTI], ids=["plain", "multi"])
def test_fm_pass1_every_embedding_size(layout, K):
    """fm_grads' loops over k are vectorised (8 or 4 float64 at a time, then the rest): every remainder of K
    against the layers."""
    rng = np.random.default_rng(K)
    m = FM(layout, embed_dim=K, dtype=np.float64, init_std=0.3)
    m.params["w"][...] = rng.standard_normal(layout.n_rows) * 0.2
    idx, val, y = batch(layout, 17, rng)
    loss_ref, d = bce_with_logits(m.forward(idx, val, train=True), y)
    g = m.backward(d)
    st = make_step(m, make_optimizer("sgd", m.params, sparse=m.sparse_params, lr=0.1))
    st._grow(idx.size)
    loss_sum, g0, U, bad = st._grads(idx, val, y, np.arange(len(y)))
    rows = st.uniq[:U].copy()
    ks.reset_slots(st.slot, st.uniq, U)
    order = np.argsort(rows)
    assert bad == -1 and np.array_equal(rows[order], g["V"].rows)
    assert abs(loss_sum / len(y) - loss_ref) <= 1e-12 * loss_ref
    assert max_rel(st.gV[:U][order], g["V"].values) < 1e-12
    assert max_rel(st.gw[:U][order], g["w"].values) < 1e-12


def test_adam_fm_update_with_unequal_counts_follows_the_readable_path():
    """adam_fm_update shares V's bias correction with w only when their counts agree; a state where they
    do not (e.g. loaded from elsewhere) must still give each table its own Adam step."""
    (mf, of, sf), (mr, orr, sr) = pair(FM, PLAIN, "adam", np.float64, lr=0.05, l2_sparse=1e-3)
    for o in (of, orr):
        o.state["w"]["count"][::2] = 7                  # w's counts differ from V's on every other row
        o.state["V"]["count"][1::3] = 2
    rng = np.random.default_rng(4)
    for _ in range(6):
        b = batch(PLAIN, 9, rng)
        sf(*b), sr(*b)
    for k in mf.params:
        assert max_rel(mf.params[k], mr.params[k]) < 1e-12, k
    for name in ("V", "w"):
        assert np.array_equal(of.state[name]["count"], orr.state[name]["count"]), name


def test_noalias_pipeline_marks_the_array_arguments_and_the_kernels_use_it():
    """NoAliasCompiler reaches LLVM (the arguments' pointers are noalias) and every kernel that writes
    arrays is compiled with it; a plain njit of the same function is not marked."""
    from numba import njit
    from deepfm_np.kernels.noalias import NoAliasCompiler

    def add_into(out, a):
        for i in range(a.shape[0]):
            out[i] += a[i]

    sig = "void(float64[::1], float64[::1])"
    marked = njit(sig, pipeline_class=NoAliasCompiler)(add_into)
    plain = njit(sig)(add_into)
    ir_marked, ir_plain = (next(iter(f.inspect_llvm().values())) for f in (marked, plain))
    define = [ln for ln in ir_marked.splitlines() if ln.startswith("define") and "add_into" in ln][0]
    noalias = re.compile(r"\bnoalias\b")               # the attribute (not the word inside a mangled name)
    assert len(noalias.findall(define)) >= 2 + 2     # retptr, excinfo and at least the two data pointers
    define_plain = [ln for ln in ir_plain.splitlines() if ln.startswith("define") and "add_into" in ln][0]
    assert len(noalias.findall(define_plain)) == 2   # only Numba's own retptr and excinfo
    x, o = np.arange(3.0), np.ones(3)
    marked(o, x)
    assert np.array_equal(o, [1.0, 2.0, 3.0])
    for k in (ks.fm_grads, ks.lr_grads, ks.adam_update, ks.adam_fm_update, ks.adagrad_update, ks.sgd_update):
        assert k._compiler.pipeline_class is NoAliasCompiler, k


def test_noalias_kernels_load_from_the_cache_in_a_new_process():
    """cache=True still works with the pipeline: a second process loads fm_grads instead of compiling it."""
    import subprocess
    import sys
    code = """
import numpy as np
from deepfm_np.kernels import fm_step as ks
args = (np.zeros((5, 3)), np.zeros(5), np.zeros(1), np.zeros((2, 2), np.int64), np.ones((2, 2)), np.zeros(2),
        np.arange(2), np.arange(2), 2, np.full(5, -1), np.empty(4, np.int64), np.empty((4, 3)), np.empty(4))
ks.fm_grads(*args)
print(sum(ks.fm_grads.stats.cache_hits.values()), sum(ks.fm_grads.stats.cache_misses.values()))
"""
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True).stdout.split() for _ in range(2)]
    assert runs[1] == ["1", "0"], runs                  # the second run: one hit, no compilation
