"""PNN's product layers: fast forms equal their naive pair loops, backwards equal finite differences."""
import numpy as np
import pytest

from deepfm_np.gradcheck.suite import product_checks
from deepfm_np.gradcheck.core import check_layer
from deepfm_np.layers.product import (inner_product_backward, inner_product_forward, inner_product_naive,
                                      outer_product_backward, outer_product_forward, outer_product_naive,
                                      pair_indices)

LAYERS = {"inner": (inner_product_forward, inner_product_backward, inner_product_naive),
          "outer": (outer_product_forward, outer_product_backward, outer_product_naive)}


@pytest.mark.parametrize("kind", ["inner", "outer"])
@pytest.mark.parametrize("shape", [(7, 5, 3), (1, 4, 2), (3, 2, 6), (4, 1, 3), (0, 5, 3)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_equals_naive(kind, shape, dtype):
    fwd, _, naive = LAYERS[kind]
    E = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    fast, _ = fwd(E)
    slow = naive(E)
    B, F, K = shape
    assert fast.shape == slow.shape == ((B, F * (F - 1) // 2) if kind == "inner" else (B, K * K))
    assert fast.dtype == dtype
    np.testing.assert_allclose(fast, slow, rtol=1e-12 if dtype == np.float64 else 1e-5,
                               atol=1e-12 if dtype == np.float64 else 1e-5)


@pytest.mark.parametrize("kind", ["inner", "outer"])
@pytest.mark.parametrize("shape", [(5, 4, 3), (1, 6, 2), (3, 2, 4)])
def test_backward_matches_finite_differences(kind, shape):
    fwd, bwd, _ = LAYERS[kind]
    E = np.random.default_rng(1).standard_normal(shape)
    (res,) = check_layer(kind, fwd, lambda d, c: {"E": bwd(d, c)}, {"E": E}, ["E"], seed=1)
    assert res.max_rel_error < 1e-7, res


@pytest.mark.parametrize("kind", ["inner", "outer"])
def test_backward_dtype_and_shape(kind):
    fwd, bwd, _ = LAYERS[kind]
    E = np.random.default_rng(2).standard_normal((3, 4, 5)).astype(np.float32)
    out, cache = fwd(E)
    dE = bwd(np.ones_like(out), cache)
    assert dE.shape == E.shape and dE.dtype == np.float32


def test_inner_products_follow_pair_indices():
    E = np.random.default_rng(3).standard_normal((2, 5, 3))
    P, _ = inner_product_forward(E)
    for n, (i, j) in enumerate(zip(*pair_indices(5))):
        assert i < j
        np.testing.assert_allclose(P[:, n], (E[:, i] * E[:, j]).sum(axis=1), rtol=1e-13)


def test_outer_cheap_form_is_all_ordered_pairs_including_self_terms():
    """What the docstring says the cheap form loses: s s^T = sum_i e_i e_i^T + sum_{i != j} e_i e_j^T."""
    E = np.random.default_rng(4).standard_normal((3, 4, 2))
    p, _ = outer_product_forward(E)
    self_terms = np.einsum("bik,bil->bkl", E, E)
    cross = sum(E[:, i, :, None] * E[:, j, None, :] for i in range(4) for j in range(4) if i != j)
    np.testing.assert_allclose(p.reshape(3, 2, 2), self_terms + cross, rtol=1e-12)
    assert np.abs(self_terms).max() > 0.1                     # the self terms are really there


def test_product_checks_in_gradcheck_pass():
    results = product_checks(seed=0)
    names = {r.name for r in results}
    assert {"inner_product/E", "outer_product/E", "inner_product fast == pair loop",
            "outer_product fast == pair loop"} <= names
    assert all(r.passed for r in results), results
