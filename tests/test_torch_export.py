"""export.to_torch: a PyTorch nn.EmbeddingBag twin of every registry model, and the way back (extra `torch`).

Tolerances: float64 models agree with deepfm_np to 1e-12 in probability (only the summation order
differs), float32 models to 1e-6 (float32 rounding of F*K-term sums; measured ~1.5e-8).
"""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="extra `torch` not installed (pip install torch==2.13.0)")

from deepfm_np.cli import main  # noqa: E402
from deepfm_np.data import CriteoReader  # noqa: E402
from deepfm_np.export import to_torch  # noqa: E402
from deepfm_np.export.torch_module import from_torch  # noqa: E402
from deepfm_np.gradcheck.suite import check_batch, check_layout, generic_point  # noqa: E402
from deepfm_np.model_file import load_model  # noqa: E402
from deepfm_np.models.registry import build_model, model_names  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fixtures.fake_data import criteo_rows, write_criteo  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CRITEO = ROOT.parent / "shared" / "data" / "criteo_sample"
TOL = {np.float64: 1e-12, np.float32: 1e-6}


def _model(name, dtype, keep_prob=0.5):
    m = build_model(name, check_layout(), dtype=dtype, embed_dim=4, hidden=(7, 5), keep_prob=keep_prob, seed=3)
    generic_point(m.params, np.random.default_rng(1))        # biases and w off zero: every term matters
    return m


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", model_names())
def test_forward_equals_deepfm_np(name, dtype):
    """Multi-valued (mean-pooled, padded), numeric (scaled) and categorical fields, repeated ids."""
    m = _model(name, dtype)
    idx, val = check_batch(m.layout, B=64, seed=2)[:2]
    module = to_torch(m)
    assert all(isinstance(b, torch.nn.EmbeddingBag) for bags in module.bags.values() for b in bags)
    assert len(module.bags["V" if "V" in m.params else "w"]) == m.layout.n_fields    # one bag per field
    p_np, p_t = m.predict_proba(idx, val), module.predict_proba(idx, val)
    assert np.abs(p_np - p_t).max() < TOL[dtype]
    assert module.bags[next(iter(module.bags))][0].weight.dtype == (
        torch.float64 if dtype == np.float64 else torch.float32)


@pytest.mark.parametrize("name", model_names())
def test_autograd_equals_the_hand_written_backward(name):
    """The same function, not only the same values: torch's gradients equal deepfm_np's (float64)."""
    m = _model(name, np.float64, keep_prob=1.0)
    idx, val = check_batch(m.layout, B=16, seed=4)[:2]
    d = np.random.default_rng(5).standard_normal(16)          # an arbitrary upstream gradient dL/dlogit
    m.forward(idx, val, train=True, rng=np.random.default_rng(0))
    grads = m.backward(d)
    module = to_torch(m)
    (module(idx, val) * torch.as_tensor(d)).sum().backward()
    g_t = from_torch_grads(module, m)
    for k, g in grads.items():
        dense = g.to_dense(m.params[k].shape) if hasattr(g, "rows") else g
        np.testing.assert_allclose(g_t[k], dense, rtol=1e-10, atol=1e-12, err_msg=f"{name}: {k}")


def from_torch_grads(module, model):
    """The module's .grad tensors in deepfm_np's names and shapes (reusing from_torch on a copy)."""
    import copy
    twin = copy.deepcopy(module)
    for p_twin, p in zip(twin.parameters(), module.parameters()):
        p_twin.data = p.grad.clone() if p.grad is not None else torch.zeros_like(p)
    target = copy.deepcopy(model)
    return from_torch(twin, target)


@pytest.mark.parametrize("name", model_names())
def test_round_trip_gives_identical_parameters(name):
    m = _model(name, np.float32)
    back = from_torch(to_torch(m))
    assert set(back) == set(m.params)
    for k, v in m.params.items():
        assert back[k].dtype == v.dtype and back[k].shape == v.shape
        np.testing.assert_array_equal(back[k], v)


def test_train_in_torch_then_back_to_deepfm_np():
    """A few torch SGD steps, then from_torch into the model: deepfm_np predicts what torch predicts."""
    m = _model("deepfm", np.float64)
    idx, val = check_batch(m.layout, B=32, seed=6)[:2]
    y = torch.as_tensor((np.arange(32) % 3 == 0).astype(np.float64))
    module = to_torch(m)
    before = {k: v.copy() for k, v in m.params.items()}
    opt = torch.optim.SGD(module.parameters(), lr=0.5)
    for _ in range(5):
        opt.zero_grad()
        torch.nn.functional.binary_cross_entropy_with_logits(module(idx, val), y).backward()
        opt.step()
    for k, v in before.items():
        np.testing.assert_array_equal(m.params[k], v)          # the module holds copies, not views
    from_torch(module, m)
    assert not np.array_equal(before["V"], m.params["V"])
    assert np.abs(m.predict_proba(idx, val) - module.predict_proba(idx, val)).max() < 1e-12


def test_from_torch_refuses_a_foreign_model():
    module = to_torch(_model("fm", np.float32))
    with pytest.raises(ValueError, match="parameters"):
        from_torch(module, _model("deepfm", np.float32))


def _train_file(tmp_path, name, train, test, extra=()):
    out = tmp_path / f"{name}.npz"
    rc = main(["train", "--format", "criteo", "--train", str(train), "--test", str(test), "--model", name,
               "--out", str(out), "--epochs", "1", "--hidden", "16,16", "--embed-dim", "4", "--no-progress",
               "--threads", "1", *extra])
    assert rc == 0
    return load_model(out)


@pytest.mark.parametrize("name", ["lr", "fm", "deepfm"])
def test_saved_model_file_parity_on_made_up_criteo_rows(tmp_path, name):
    train = write_criteo(tmp_path / "train.txt", criteo_rows(400, seed=1))
    test = write_criteo(tmp_path / "test.txt", criteo_rows(100, seed=2, n_values=30))   # unseen values too
    saved = _train_file(tmp_path, name, train, test)
    enc = saved.encoder.transform(next(CriteoReader(test).chunks()))
    assert np.abs(saved.model.predict_proba(enc.idx, enc.val) - to_torch(saved).predict_proba(enc.idx, enc.val)
                  ).max() < TOL[np.float32]


@pytest.mark.skipif(not CRITEO.is_dir(), reason="shared Criteo sample absent (../shared/data/criteo_sample)")
def test_saved_model_file_parity_on_the_criteo_sample(tmp_path):
    saved = _train_file(tmp_path, "deepfm", CRITEO / "train.txt", CRITEO / "test.txt")
    enc = saved.encoder.transform(next(CriteoReader(CRITEO / "test.txt").chunks()))
    diff = np.abs(saved.model.predict_proba(enc.idx, enc.val) - to_torch(saved).predict_proba(enc.idx, enc.val))
    assert diff.max() < TOL[np.float32]


def test_the_core_never_imports_torch():
    code = ("import sys, deepfm_np, deepfm_np.cli, deepfm_np.export, deepfm_np.train, deepfm_np.model_file, "
            "deepfm_np.models.registry, deepfm_np.data; deepfm_np.cli.build_parser(); "
            "print('torch' in sys.modules)")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
