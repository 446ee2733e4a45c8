"""Every layer's backward against finite differences, and each fast path against its slow twin."""
import numpy as np
import pytest

from deepfm_np import layers as L
from deepfm_np.gradcheck.suite import fm_identity_check, layer_checks
from deepfm_np.losses import bce_with_logits

LAYER_RESULTS = {r.name: r for r in layer_checks(seed=0)}


@pytest.mark.parametrize("name", sorted(LAYER_RESULTS))
def test_layer_gradient(name):
    r = LAYER_RESULTS[name]
    assert r.max_rel_error < 1e-6, f"{name}: max relative error {r.max_rel_error:.2e}"
    assert r.n_coords > 0


def test_every_layer_is_checked():
    checked = {n.split("/")[0] for n in LAYER_RESULTS}
    assert {"embedding", "first_order", "fm", "field_pool", "dense", "relu", "tanh", "dropout", "mlp",
            "bce_with_logits"} <= checked


@pytest.mark.parametrize("seed", range(3))
def test_layer_gradients_other_seeds(seed):
    assert all(r.max_rel_error < 1e-6 for r in layer_checks(seed=seed + 1))


@pytest.mark.parametrize("B,F,K", [(1, 1, 1), (3, 2, 4), (7, 9, 5), (4, 39, 10)])
def test_fm_fast_equals_pair_loop(B, F, K):
    E = np.random.default_rng(F).standard_normal((B, F, K))
    fast, _ = L.fm_forward(E)
    np.testing.assert_allclose(fast, L.fm_pairs_naive(E), rtol=1e-12, atol=1e-12)
    assert fm_identity_check().max_rel_error < 1e-12


def test_fm_gradient_matches_paper_formula():
    """d y / d V_{i,k} = x_i S_k - V_{i,k} x_i^2 with S_k = sum_j V_{j,k} x_j (one record)."""
    rng = np.random.default_rng(1)
    F, K = 5, 3
    V, x = rng.standard_normal((F, K)), rng.uniform(0.5, 2, F)
    E = (V * x[:, None])[None]
    _, cache = L.fm_forward(E)
    dE = L.fm_backward(np.ones(1), cache)[0]
    dV = dE * x[:, None]                                     # chain rule through e_i = V_i x_i
    S = (V * x[:, None]).sum(0)
    np.testing.assert_allclose(dV, x[:, None] * S[None] - V * x[:, None] ** 2, rtol=1e-12)


def test_embedding_scales_by_value_and_sums_duplicate_ids():
    V = np.arange(12, dtype=np.float64).reshape(6, 2)
    idx = np.array([[1, 1], [4, 1]])
    val = np.array([[1.0, 2.0], [0.5, 3.0]])
    E, cache = L.embedding_forward(V, idx, val)
    np.testing.assert_array_equal(E, V[idx] * val[..., None])
    dE = np.ones_like(E)
    g = L.embedding_backward(dE, cache)
    dense = g.to_dense(V.shape)
    expected = np.zeros_like(V)
    np.add.at(expected, idx.ravel(), (dE * val[..., None]).reshape(-1, 2))
    np.testing.assert_array_equal(dense, expected)
    assert dense[1, 0] == 1 + 2 + 3                          # row 1 hit three times: all three summed
    assert sorted(g.rows.tolist()) == [1, 4]


def test_pooling_is_mean_of_values():
    E = np.arange(2 * 4 * 2, dtype=np.float64).reshape(2, 4, 2)
    slot_field = np.array([0, 1, 1, 1])
    w = np.array([[1, 0.5, 0.5, 0.0], [1, 1 / 3, 1 / 3, 1 / 3]])  # what the encoder writes (1/n, pad 0)
    P, _ = L.field_pool_forward(E * w[..., None], slot_field, 2)
    np.testing.assert_allclose(P[0, 1], E[0, 1:3].mean(0))
    np.testing.assert_allclose(P[1, 1], E[1, 1:4].mean(0))
    np.testing.assert_array_equal(P[:, 0], E[:, 0])


def test_bce_stable_for_huge_logits():
    z = np.array([1000.0, -1000.0, 1000.0, -1000.0, 0.0])
    y = np.array([1.0, 0.0, 0.0, 1.0, 1.0])
    loss, dz = bce_with_logits(z, y)
    per_row = np.array([0.0, 0.0, 1000.0, 1000.0, np.log(2)])
    assert np.isfinite(loss) and np.isfinite(dz).all()
    np.testing.assert_allclose(loss, per_row.mean(), rtol=1e-12)
    np.testing.assert_allclose(dz, (np.array([1, 0, 1, 0, 0.5]) - y) / 5, atol=1e-15)
    np.testing.assert_allclose(L.sigmoid(np.array([-1000.0, 0.0, 1000.0])), [0.0, 0.5, 1.0])


def test_bce_float32_matches_float64():
    z = np.linspace(-30, 30, 61)
    y = (np.arange(61) % 2).astype(np.float64)
    l64, d64 = bce_with_logits(z, y)
    l32, d32 = bce_with_logits(z.astype(np.float32), y.astype(np.float32))
    assert d32.dtype == np.float32
    np.testing.assert_allclose(l32, l64, rtol=1e-5)
    np.testing.assert_allclose(d32, d64, rtol=1e-5, atol=1e-8)


def test_dropout_keep_prob_semantics():
    rng = np.random.default_rng(0)
    x = np.ones((2000, 50))
    out, mask = L.dropout_forward(x, 0.8, True, rng)
    kept = (out != 0).mean()
    assert abs(kept - 0.8) < 0.01                            # keep_prob is the probability of KEEPING
    np.testing.assert_allclose(out[out != 0], 1 / 0.8)        # inverted: survivors scaled up
    assert abs(out.mean() - 1.0) < 0.01                       # expectation preserved
    ev, c = L.dropout_forward(x, 0.8, False, None)
    assert ev is x and c is None                               # identity in evaluation mode
    same, _ = L.dropout_forward(x, 1.0, True, rng)
    assert same is x
    with pytest.raises(ValueError, match="keep_prob"):
        L.dropout_forward(x, 0.0, True, rng)


def test_dense_and_activations_values():
    x = np.array([[1.0, -2.0]])
    W = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    out, c = L.dense_forward(x, W, np.array([0.5, 0.0, -0.5]))
    np.testing.assert_array_equal(out, [[-6.5, -8.0, -9.5]])
    a, rc = L.relu_forward(np.array([-1.0, 0.0, 2.0]))
    np.testing.assert_array_equal(L.relu_backward(np.ones(3), rc), [0, 0, 1])
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        L.get_activation("gelu")
