"""Tests for synthetic.py: layout, reproducibility, and the teacher's promised statistics."""
import numpy as np
import pytest

from deepfm_np.experiments.synthetic import make_synthetic, make_world, partial_aucs, split, teacher_metrics


@pytest.fixture(scope="module")
def data():
    return make_synthetic(50_000, seed=0)


def test_shapes_dtypes_layout(data):
    L = data.layout
    N = 50_000
    assert L.n_fields == 39 and L.names[0] == "I1" and L.names[13] == "C1" and L.names[-1] == "C26"
    assert L.kinds[:13] == ("numeric",) * 13 and L.kinds[13:] == ("categorical",) * 26
    assert L.n_rows <= 300_000
    assert data.idx.shape == data.val.shape == (N, 39)
    assert data.idx.dtype == np.int64 and data.val.dtype == np.float32
    assert data.y.shape == data.p.shape == (N,)
    assert data.y.dtype == np.float32 and data.p.dtype == np.float64
    assert set(np.unique(data.y)) == {0.0, 1.0}
    L.validate(data.idx, data.val)


def test_vocabularies_are_log_spaced(data):
    cat = np.array(data.layout.sizes[13:]) - 1                 # values per field, without OOV
    assert cat.min() == 10 and cat.max() == 50_000
    assert (np.diff(cat) > 0).all()


def test_numeric_fields(data):
    local = data.idx[:, :13] - data.layout.offsets[:13]
    v = data.val[:, :13]
    assert set(np.unique(local)) == {0, 1}
    np.testing.assert_array_equal(v[local == 0], 1.0)      # missing row carries val 1
    assert v.min() >= 0 and v.max() < 8
    missing = (local == 0).mean(axis=0)                      # per field
    assert (missing > 0.03).all() and (missing < 0.22).all()


def test_categorical_values_skewed_and_oov(data):
    local = data.idx[:, 13:] - data.layout.offsets[13:]
    np.testing.assert_array_equal(data.val[:, 13:], 1.0)
    oov = (local == 0).mean()
    assert 0.007 < oov < 0.013                               # 1% of rows land on OOV
    c = 9                                                    # C10: 154 values
    V = data.layout.sizes[13 + c] - 1
    counts = np.bincount(local[:, c], minlength=V + 1)[1:]
    top = counts.max() / counts.sum()
    assert top > 15 / V                                      # uniform would give 1/V


def test_logit_parts_sum_to_p(data):
    z = sum(data.logit_parts[k] for k in ("bias", "first_order", "pairwise", "higher_order"))
    np.testing.assert_allclose(1 / (1 + np.exp(-z)), data.p, rtol=1e-12)


def test_reproducible_bit_identical():
    a = make_synthetic(2_000, seed=3)
    b = make_synthetic(2_000, seed=3)
    for name in ("idx", "val", "y", "p"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_different_seeds_differ():
    a = make_synthetic(2_000, seed=3)
    b = make_synthetic(2_000, seed=4)
    c = make_synthetic(2_000, seed=3, sample_seed=9)
    assert not np.array_equal(a.idx, b.idx)
    assert not np.array_equal(a.idx, c.idx)
    assert not np.array_equal(a.world.w, b.world.w)


def test_world_depends_only_on_seed():
    a = make_synthetic(1_000, seed=5)
    b = make_synthetic(7_000, seed=5, sample_seed=11)
    assert a.layout == b.layout
    assert a.world.bias == b.world.bias
    for name in ("w", "v", "u", "triples", "pair_fields", "gate_sign"):
        np.testing.assert_array_equal(getattr(a.world, name), getattr(b.world, name))
    # and drawing from the world directly gives the same teacher probabilities for the same rows
    parts = make_world(5).logit_parts(b.idx, b.val)
    np.testing.assert_array_equal(parts["pairwise"], b.logit_parts["pairwise"])


def test_positive_rate_and_teacher_auc(data):
    assert 0.2 < data.y.mean() < 0.3
    t = teacher_metrics(data)
    assert 0.80 < t["auc"] < 0.85
    assert 0.35 < t["logloss"] < 0.5


def test_each_part_matters(data):
    lp = data.logit_parts
    assert lp["higher_order"].std() > 0.5
    assert abs(lp["higher_order"].mean()) < 0.05                 # centered by the world's offset
    assert lp["pairwise"].std() > 0.5
    a = partial_aucs(data)
    assert a["first_order"] < a["first_order+pairwise"] - 0.04
    assert a["first_order+pairwise"] < a["full"] - 0.03


def test_parts_are_uncorrelated(data):
    # Random, independent first-order weights, centered pairwise vectors and independent fields keep
    # the parts (nearly) uncorrelated; the gates' one-field shadows live inside the higher part.
    lp = data.logit_parts
    names = ("first_order", "pairwise", "higher_order")
    c = np.corrcoef(np.stack([lp[n] for n in names]))
    assert np.abs(c[np.triu_indices(3, 1)]).max() < 0.03


def test_split_and_subset(data):
    tr, va, te = split(data, (0.8, 0.1, 0.1), seed=1)
    assert (len(tr), len(va), len(te)) == (40_000, 5_000, 5_000)
    # rows are disjoint and cover everything: compare each row's p, which is (almost surely) unique
    joined = np.sort(np.concatenate([tr.p, va.p, te.p]))
    np.testing.assert_array_equal(joined, np.sort(data.p))
    sub = data.subset(np.array([4, 2]))
    np.testing.assert_array_equal(sub.idx, data.idx[[4, 2]])
    assert sub.logit_parts["pairwise"][0] == data.logit_parts["pairwise"][4]
    with pytest.raises(ValueError, match="fractions"):
        split(data, (0.5, 0.6))


def test_gates_are_genuinely_three_way(data):
    """No sum of one- and two-field terms equals a gate: fit the best sum of value-pair tables on its
    own three fields (backfitting: repeatedly subtract each pair's mean residual) and a large part remains."""
    w = data.world
    a, b, c = w.triples[0]
    g = w.gate_sign[0] * np.maximum(np.minimum(np.minimum(w.u[data.idx[:, a], 0], w.u[data.idx[:, b], 0]),
                                               w.u[data.idx[:, c], 0]), 0)
    codes = [data.idx[:, f] - data.layout.offsets[f] for f in (a, b, c)]
    pairs = [np.unique(codes[i] * (codes[j].max() + 1) + codes[j], return_inverse=True)[1].ravel()
             for i, j in ((0, 1), (0, 2), (1, 2))]             # one group per value pair: covers 1- and 2-field terms
    resid = g - g.mean()
    for _ in range(30):
        for grp in pairs:
            resid = resid - (np.bincount(grp, resid) / np.bincount(grp))[grp]
    assert resid.std() > 0.2 * g.std()


def _gate_scores_in_span_of_v(world):
    """Largest least-squares residual of each gate field's scores u[:, t] regressed on its v rows (K cols)."""
    worst = 0.0
    for t, fields in enumerate(world.triples):
        for f in fields:
            rows = slice(world.layout.offsets[f], world.layout.offsets[f] + world.layout.sizes[f])
            V, u = world.v[rows], world.u[rows, t]
            coef = np.linalg.lstsq(V, u, rcond=None)[0]
            worst = max(worst, float(np.abs(V @ coef - u).max() / np.abs(u).max()))
    return worst


WORLD10 = dict(n_numeric=0, n_categorical=10, vocab_range=(10, 100), pair_max_vocab=100, triple_max_vocab=100,
               n_triples=4, higher_order_std=2.0)


def test_gate_code_shared_reads_the_pairwise_vectors():
    """gate_code='shared': every gate score is a linear function of the value's pairwise vector, with one
    direction per gate (the same for every value); 'independent' (the default) is not."""
    shared = make_world(0, gate_code="shared", **WORLD10)
    indep = make_world(0, **WORLD10)
    assert _gate_scores_in_span_of_v(shared) < 1e-9
    assert _gate_scores_in_span_of_v(indep) > 0.1
    # one direction a_t per gate across all its fields: regress all of the gate's rows at once
    for t, fields in enumerate(shared.triples):
        rows = np.concatenate([np.arange(shared.layout.offsets[f], shared.layout.offsets[f] + shared.layout.sizes[f])
                               for f in fields])
        coef = np.linalg.lstsq(shared.v[rows], shared.u[rows, t], rcond=None)[0]
        np.testing.assert_allclose(shared.v[rows] @ coef, shared.u[rows, t], atol=1e-10)
    # the calibration still sets every part's scale and the click rate
    d = shared.sample(40_000, np.random.default_rng(3))
    assert abs(d.logit_parts["higher_order"].std() - 2.0) < 0.15
    assert abs(d.logit_parts["pairwise"].std() - 0.8) < 0.1
    assert abs(d.p.mean() - 0.25) < 0.02


def test_gate_code_default_world_unchanged():
    """The option does not change the default world: 'independent' is the default, bit for bit."""
    a, b = make_world(3), make_world(3, gate_code="independent")
    np.testing.assert_array_equal(a.u, b.u)
    np.testing.assert_array_equal(a.v, b.v)
    assert a.bias == b.bias


def test_gate_code_errors():
    with pytest.raises(ValueError, match="gate_code"):
        make_world(0, gate_code="both")
    with pytest.raises(ValueError, match="triple_max_vocab"):
        make_world(0, gate_code="shared", pair_max_vocab=50, triple_max_vocab=100)
