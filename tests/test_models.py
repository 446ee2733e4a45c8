"""Every registered model: the registry, full-model gradient checks, DeepFM's two embedding gradients and
its two routes. Model-specific behaviour of the other models is in test_models_zoo.py."""
import numpy as np
import pytest

from deepfm_np.gradcheck.suite import check_batch, check_layout, embedding_path_checks, generic_point, model_checks, model_kwargs
from deepfm_np.fields import FieldLayout
from deepfm_np.models import DeepFM, build_model, model_names
from deepfm_np.models.registry import DEEP_MODELS, LABELS, SPECS, default


@pytest.mark.parametrize("name", model_names())
@pytest.mark.parametrize("seed", [0, 1])
def test_model_full_gradient(name, seed):
    results = model_checks([name], seed=seed)
    model = build_model(name, check_layout(), **model_kwargs())
    checked = {r.name.split("/", 1)[1] for r in results}
    for p in model.params:                                    # every parameter (or, when cut, each path of it)
        assert p in checked or f"{p} (fm path)" in checked or f"{p} (dnn path)" in checked, p
    if not name.startswith("deepfm"):                         # no paths: exactly the parameters
        assert checked == set(model.params)
    bad = [(r.name, r.max_rel_error) for r in results if not r.max_rel_error < 1e-6]
    assert not bad, bad


def test_gradient_check_sees_repeated_rows_and_numeric_and_multi_fields():
    layout = check_layout()
    idx, val, _ = check_batch(layout)
    counts = np.bincount(idx.ravel())
    assert counts.max() > 1                                   # some rows are hit more than once
    num = layout.names.index("num")
    assert np.any((val[:, num] != 1) & (val[:, num] != 0))    # numeric values scale their rows
    tags = layout.slot_field == layout.names.index("tags")
    assert np.any((val[:, tags] > 0) & (val[:, tags] < 1))    # pooled multi-valued slots


def _deepfm(**kw):
    m = build_model("deepfm", check_layout(), **{**model_kwargs(), **kw})
    generic_point(m.params, np.random.default_rng(0))
    return m


def test_deepfm_embedding_gradient_is_sum_of_fm_and_dnn_parts():
    m = _deepfm()
    idx, val, y = check_batch(m.layout)
    m.forward(idx, val, train=True, rng=np.random.default_rng(0))
    grads = m.backward(np.random.default_rng(1).standard_normal(len(y)))
    parts = m.embedding_grad_parts()
    R, K = m.params["V"].shape
    fm, dnn = parts["fm"].to_dense((R, K)), parts["dnn"].to_dense((R, K))
    assert np.abs(fm).max() > 0 and np.abs(dnn).max() > 0     # both paths really contribute
    np.testing.assert_allclose(grads["V"].to_dense((R, K)), fm + dnn, rtol=1e-12, atol=1e-14)
    assert all(r.max_rel_error < 1e-6 for r in embedding_path_checks(_deepfm(), idx, val, y))


@pytest.mark.parametrize("name,kept", [("deepfm_dnn_only", "dnn"), ("deepfm_fm_only", "fm")])
def test_stop_gradient_ablations_keep_one_path(name, kept):
    m = build_model(name, check_layout(), **model_kwargs())
    generic_point(m.params, np.random.default_rng(0))
    idx, val, y = check_batch(m.layout)
    m.forward(idx, val, train=True, rng=np.random.default_rng(0))
    grads = m.backward(np.ones(len(y)))
    parts = m.embedding_grad_parts()
    R, K = m.params["V"].shape
    np.testing.assert_array_equal(grads["V"].to_dense((R, K)), parts[kept].to_dense((R, K)))
    if kept == "fm":
        assert "dnn" not in parts                             # the DNN's input gradient is not even computed


def test_deepfm_is_fm_plus_mlp_output():
    """logit = w0 + first order + FM pairs + MLP: with the MLP's output layer at zero, DeepFM == FM."""
    layout = check_layout()
    d = build_model("deepfm", layout, **model_kwargs())
    f = build_model("fm", layout, embed_dim=3, dtype=np.float64)
    generic_point(d.params, np.random.default_rng(2))
    for k in ("V", "w", "w0"):
        f.params[k][...] = d.params[k]
    last = len(d.mlp.dims) - 2
    d.params[f"mlp.W{last}"][...] = 0
    d.params[f"mlp.b{last}"][...] = 0
    idx, val, _ = check_batch(layout)
    np.testing.assert_allclose(d.forward(idx, val), f.forward(idx, val), rtol=1e-12)


def test_both_paths_cannot_be_cut():
    with pytest.raises(ValueError, match="at least one"):
        DeepFM(check_layout(), fm_grad=False, dnn_grad=False)


def test_registry_has_the_papers_names():
    assert model_names() == ["lr", "fm", "fnn", "ipnn", "opnn", "pnn", "lr_dnn", "fm_dnn", "deepfm",
                             "deepfm_dnn_only", "deepfm_fm_only"]
    assert set(SPECS) == set(model_names()) == set(LABELS)


def test_specs_read_the_hyper_parameters_from_the_constructors():
    """One source of truth: what a model accepts, and its defaults, come from its __init__ signature."""
    assert SPECS["lr"].accepts == ("seed",)
    assert SPECS["fm"].accepts == ("embed_dim", "init_std", "seed")
    assert "pretrain_epochs" in SPECS["fnn"].accepts and "pretrain_epochs" not in SPECS["deepfm"].accepts
    assert "products" not in SPECS["ipnn"].accepts and "wide" not in SPECS["fm_dnn"].accepts
    assert SPECS["ipnn"].defaults["activation"] == "tanh" and SPECS["opnn"].defaults["activation"] == "relu"
    assert DEEP_MODELS == ("fnn", "ipnn", "opnn", "pnn", "lr_dnn", "fm_dnn", "deepfm", "deepfm_dnn_only",
                           "deepfm_fm_only")
    assert (default("embed_dim"), default("hidden"), default("keep_prob")) == (10, (400, 400, 400), 0.5)
    # the base class records the constructor's keywords, defaults included, once for every model
    m = build_model("ipnn", check_layout(), hidden=(5,), seed=4)
    assert m.config == {"products": ["inner"], "embed_dim": 10, "hidden": [5], "activation": "tanh",
                        "keep_prob": 0.5, "init_std": 0.01, "seed": 4}
    assert build_model("deepfm_fm_only", check_layout(), hidden=(5,)).config["dnn_grad"] is False


def test_models_survive_copy_and_pickle():
    """config is recorded by Model.__new__; copy and pickle recreate a model without calling it."""
    import copy
    import pickle
    m = build_model("ipnn", check_layout(), **model_kwargs())
    idx, val, _ = check_batch(m.layout)
    for twin in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        assert twin.config == m.config and twin.name == "ipnn"
        np.testing.assert_array_equal(twin.predict_proba(idx, val), m.predict_proba(idx, val))


def test_unknown_model_lists_valid_names():
    for bad in ("deepfn", "pnn2"):
        with pytest.raises(ValueError) as e:
            build_model(bad, check_layout())
        assert bad in str(e.value)
        for name in model_names():
            assert name in str(e.value)


def test_backward_before_forward_fails_loudly():
    m = build_model("fm", check_layout())
    with pytest.raises(RuntimeError, match="forward before backward"):
        m.backward(np.zeros(3))


def test_layout_validation_names_field_and_value():
    layout = FieldLayout(("user", "item"), (3, 5))
    idx = np.array([[0, 3], [1, 9]])                          # item rows are 3..7; 9 is outside
    with pytest.raises(ValueError, match=r"id 9 in field 'item'.*local id 6 not in \[0, 5\)"):
        layout.validate(idx)
    with pytest.raises(ValueError, match="field 'user'"):
        layout.validate(np.array([[3, 3]]))                   # row 3 belongs to item, not user
    layout.validate(np.array([[2, 7]]))                       # the last row of each field is fine


def test_models_train_in_float32_by_default():
    m = build_model("deepfm", check_layout(), hidden=(8,))
    assert all(p.dtype == np.float32 for p in m.params.values())
    idx, val, _ = check_batch(m.layout)
    assert m.forward(idx, val.astype(np.float32)).dtype == np.float32


def test_model_rejects_ids_outside_their_field():
    layout = FieldLayout(("user", "item"), (3, 5))
    m = build_model("deepfm", layout, hidden=(4,))
    with pytest.raises(ValueError, match="field 'item'"):
        m.forward(np.array([[0, 8]]), np.ones((1, 2)))
    with pytest.raises(ValueError, match="field 'user'"):
        m.predict_proba(np.array([[-1, 4]]), np.ones((1, 2)))


def test_keyword_typo_is_an_error_but_other_models_keywords_are_ignored():
    with pytest.raises(ValueError, match="unknown model keyword.*hiden"):
        build_model("deepfm", check_layout(), hiden=(8,))
    assert build_model("lr", check_layout(), hidden=(8,), keep_prob=0.5).name == "lr"


# ------------------------------------------------------------------ DeepFM's two routes

def _step(name, layout, dtype, fused, idx, val, y):
    from deepfm_np.losses import bce_with_logits
    m = build_model(name, layout, **{**model_kwargs(), "dtype": dtype, "fused": fused})
    generic_point(m.params, np.random.default_rng(2))
    logits = m.forward(idx, val.astype(dtype), train=True, rng=np.random.default_rng(9))   # dropout on
    _, d = bce_with_logits(logits, y.astype(dtype))
    grads = m.backward(d)
    return m, logits, grads, m.embedding_grad_parts()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("multi", [False, True])
@pytest.mark.parametrize("name", ["deepfm", "deepfm_dnn_only", "deepfm_fm_only"])
def test_readable_route_is_an_exact_twin_of_the_default(name, multi, dtype):
    """DeepFM(fused=False) runs the readable layers only; the default runs the fused kernels where the
    layout allows. Same dropout bits, same operations in the same order: bit-identical results."""
    from deepfm_np.gradcheck.core import assert_same_grads
    layout = check_layout(multi=multi)
    idx, val, y = check_batch(layout, B=50, seed=2)
    fast, slow = (_step(name, layout, dtype, f, idx, val, y) for f in (None, False))
    assert fast[0].front.fused == (not multi) and fast[0].mlp.fused and fast[0].front is not None
    assert not slow[0].front.fused and not slow[0].mlp.fused
    np.testing.assert_array_equal(fast[1], slow[1])
    assert fast[1].dtype == dtype
    assert_same_grads(fast[2], slow[2], dtype)                            # every parameter's gradient
    assert_same_grads(fast[3], slow[3], dtype)                            # each path of dV


def test_route_is_chosen_once_and_refused_where_impossible():
    assert not build_model("deepfm", check_layout(multi=True)).front.fused         # automatic: readable
    assert build_model("deepfm", check_layout(multi=False)).front.fused             # automatic: fused
    assert not build_model("deepfm", check_layout(), activation="tanh").mlp.fused   # tanh: readable only
    with pytest.raises(ValueError, match="multi-valued"):
        build_model("deepfm", check_layout(multi=True), fused=True)
    with pytest.raises(ValueError, match="fused=False"):
        build_model("deepfm", check_layout(multi=False), activation="tanh", fused=True)
