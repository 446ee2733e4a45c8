"""scale.model: deepfm_np <-> TorchRec EmbeddingBagCollection, in one process (extra `scale`).

Round trip: identical parameters. Forward through an unsharded EBC: equal to deepfm_np's predict to 1e-5
(float32 tables; measured ~1e-8) for every registry model, DeepFM and FM included.
"""
import numpy as np
import pytest

pytest.importorskip("torch", reason="extra `scale` not installed (torch==2.13.0)")
pytest.importorskip("torchrec", reason="extra `scale` not installed (torchrec==1.8.0, fbgemm-gpu-cpu==1.8.0)")

import torch  # noqa: E402

from deepfm_np.gradcheck.suite import check_batch, check_layout, generic_point  # noqa: E402
from deepfm_np.models.registry import build_model, model_names  # noqa: E402
from deepfm_np.scale.model import ALIGN, TorchRecCTR, batch_to_kjt  # noqa: E402


def _model(name, dtype=np.float32):
    m = build_model(name, check_layout(), dtype=dtype, embed_dim=5, hidden=(7, 5), seed=2)
    generic_point(m.params, np.random.default_rng(3))
    return m


def _unsharded(m):
    """A TorchRecCTR on CPU (not meta) with the model's rows written into its EBC."""
    net = TorchRecCTR(m, device=torch.device("cpu"))
    with torch.no_grad():
        for name, a in net.initial_weights().items():
            net.ebc.embedding_bags[name].weight.copy_(torch.from_numpy(a))
    return net.eval()


@pytest.mark.parametrize("name", model_names())
def test_forward_equals_predict(name):
    m = _model(name)
    idx, val = check_batch(m.layout, B=40, seed=1)[:2]      # multi-valued, numeric and repeated ids
    net = _unsharded(m)
    with torch.no_grad():
        p = torch.sigmoid(net(batch_to_kjt(idx, val, m.layout)).double()).numpy()
    assert np.abs(p - m.predict_proba(idx, val)).max() < 1e-5


@pytest.mark.parametrize("name", model_names())
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_gives_identical_parameters(name, dtype):
    m = _model(name, dtype)
    if dtype == np.float64:                                  # tables are float32: use float32-exact values
        for v in m.params.values():
            v[...] = v.astype(np.float32)
    net = TorchRecCTR(m)
    back = net.to_numpy(net.initial_weights(), m)
    assert set(back) == set(m.params)
    for k, v in m.params.items():
        assert back[k].dtype == v.dtype and back[k].shape == v.shape
        np.testing.assert_array_equal(back[k], v, err_msg=k)


def test_one_table_per_field_with_aligned_columns():
    m = _model("deepfm")
    net = TorchRecCTR(m)
    cfgs = net.ebc.embedding_bag_configs()
    assert [c.name for c in cfgs] == [f"f{f}" for f in range(m.layout.n_fields)]
    assert [c.num_embeddings for c in cfgs] == list(m.layout.sizes)
    assert all(c.embedding_dim == 8 and c.embedding_dim % ALIGN == 0 for c in cfgs)     # K=5, + w = 6 -> 8
    w = net.initial_weights()["f0"]
    np.testing.assert_array_equal(w[:, :5], m.params["V"][:6])
    np.testing.assert_array_equal(w[:, 5], m.params["w"][:6])
    assert not w[:, 6:].any()                                                         # padding is zero
