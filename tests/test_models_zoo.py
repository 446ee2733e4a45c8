"""The paper's model zoo, model by model: activations, PNN's product signals, FNN's two stages, FM & DNN's
separate tables, overfitting a small batch. (Registry and gradient checks of every model: test_models.py.)"""
import numpy as np
import pytest

from deepfm_np.gradcheck.suite import check_batch, check_layout, generic_point, model_kwargs
from deepfm_np.data.dataset import ArrayDataset
from deepfm_np.losses import bce_with_logits
from deepfm_np.models import FM, build_model
from deepfm_np.optim import make_optimizer
from deepfm_np.experiments.synthetic import make_synthetic
from deepfm_np.train import TrainConfig, train

ZOO = ["fnn", "ipnn", "opnn", "pnn", "lr_dnn", "fm_dnn"]


def test_activation_defaults_follow_the_paper():
    layout = check_layout()
    assert build_model("ipnn", layout).mlp.activation == "tanh"
    for name in ("opnn", "pnn", "fnn", "lr_dnn", "fm_dnn"):
        assert build_model(name, layout).mlp.activation == "relu"
    assert build_model("ipnn", layout, activation="relu").mlp.activation == "relu"


def test_pnn_first_layer_sees_linear_and_product_signals():
    layout = check_layout()
    F, K = layout.n_fields, 4
    widths = {"ipnn": F * K + F * (F - 1) // 2, "opnn": F * K + K * K, "pnn": F * K + F * (F - 1) // 2 + K * K}
    for name, width in widths.items():
        m = build_model(name, layout, embed_dim=K, hidden=(5,))
        assert m.params["mlp.W0"].shape == (width, 5)
        assert m.sparse_params == {"V"}


def test_wide_deep_table_names():
    layout = check_layout()
    lr_dnn, fm_dnn = build_model("lr_dnn", layout), build_model("fm_dnn", layout)
    assert lr_dnn.sparse_params == {"w", "V_dnn"} and "V_fm" not in lr_dnn.params
    assert fm_dnn.sparse_params == {"w", "V_fm", "V_dnn"}
    assert not np.array_equal(fm_dnn.params["V_fm"], fm_dnn.params["V_dnn"])


def test_fm_dnn_tables_are_separate():
    """V_fm's gradient does not depend on the DNN path: it is the FM's gradient, and stays the same
    when the DNN (its weights and V_dnn) changes under a fixed upstream gradient."""
    layout = check_layout()
    idx, val, _ = check_batch(layout)
    m = build_model("fm_dnn", layout, **model_kwargs())
    generic_point(m.params, np.random.default_rng(0))
    d = np.random.default_rng(1).standard_normal(idx.shape[0])
    m.forward(idx, val, train=True, rng=np.random.default_rng(0))
    g1 = m.backward(d)
    rng = np.random.default_rng(2)
    for k in m.params:
        if k.startswith("mlp.") or k == "V_dnn":
            m.params[k] += rng.standard_normal(m.params[k].shape)
    m.forward(idx, val, train=True, rng=np.random.default_rng(0))
    g2 = m.backward(d)
    np.testing.assert_array_equal(g1["V_fm"].rows, g2["V_fm"].rows)
    np.testing.assert_array_equal(g1["V_fm"].values, g2["V_fm"].values)
    assert not np.allclose(g1["V_dnn"].values, g2["V_dnn"].values)
    # and it equals a plain FM's gradient of the same table
    fm = FM(layout, embed_dim=3, dtype=np.float64)
    fm.params.update(V=m.params["V_fm"], w=m.params["w"], w0=m.params["w0"])
    fm.forward(idx, val)
    gf = fm.backward(d)
    np.testing.assert_allclose(g2["V_fm"].to_dense(m.params["V_fm"].shape), gf["V"].to_dense(fm.params["V"].shape),
                               rtol=1e-12, atol=1e-14)


def _tiny_data(n=3000, seed=0):
    d = make_synthetic(n, seed=seed)
    return ArrayDataset.from_data(d)


def test_fnn_pretrain_copies_the_fms_tables():
    data = _tiny_data()
    cfg = TrainConfig(epochs=1, batch_size=256, lr=1e-2, progress=False, seed=0)
    fnn = build_model("fnn", data.layout, embed_dim=4, hidden=(8,), seed=3)
    V0 = fnn.params["V"].copy()
    pre = fnn.pretrain(data, None, cfg, fit=train)
    # the same FM trained on its own, with the same seeds, gives bit-identical tables
    fm = build_model("fm", data.layout, embed_dim=4, seed=3)
    train(fm, data, None, cfg)
    np.testing.assert_array_equal(fnn.params["V"], fm.params["V"])
    np.testing.assert_array_equal(fnn.params["w"][:, 0], fm.params["w"])
    assert not np.array_equal(fnn.params["V"], V0)
    assert pre.train_seconds > 0
    assert fnn.pretrain(data, None, cfg, fit=train) is None                  # runs once


def test_train_runs_fnn_pretraining_and_counts_its_time():
    data = _tiny_data()
    fnn = build_model("fnn", data.layout, embed_dim=4, hidden=(8,), seed=0)
    res = train(fnn, data, None, TrainConfig(epochs=1, batch_size=512, progress=False))
    assert fnn.pretrain_result is not None
    assert 0 < res.pretrain_seconds < res.train_seconds
    assert res.to_dict()["pretrain_seconds"] == res.pretrain_seconds


@pytest.mark.parametrize("name", ZOO)
def test_overfits_a_small_batch(name):
    """CS231n's sanity check: with enough capacity and no dropout, 64 rows are learned almost exactly."""
    data = _tiny_data(64, seed=1)
    m = build_model(name, data.layout, embed_dim=4, hidden=(32,), keep_prob=1.0, init_std=0.1, seed=0)
    opt = make_optimizer("adam", m.params, sparse=m.sparse_params, lr=2e-2)
    for _ in range(60):
        loss, d = bce_with_logits(m.forward(data.idx, data.val, train=True, rng=np.random.default_rng(0)), data.y)
        opt.step(m.backward(d))
    assert loss < 0.05, loss                                   # from log(2) = 0.69
