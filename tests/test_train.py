"""The training loop: reproducibility, early stopping, the NaN guard, overfitting a tiny set."""
import numpy as np
import pytest

from deepfm_np.data.dataset import ArrayDataset
from deepfm_np.fields import FieldLayout
from deepfm_np.models import build_model
from deepfm_np.experiments.synthetic import make_synthetic, split
from deepfm_np.train import TrainConfig, TrainingDiverged, evaluate, predict, train


@pytest.fixture(scope="module")
def small():
    data = make_synthetic(6000, seed=3)
    tr, va, te = split(data, (0.7, 0.15, 0.15), seed=3)
    return ArrayDataset.from_data(tr), ArrayDataset.from_data(va), ArrayDataset.from_data(te)


def _run(small, seed, name="deepfm"):
    tr, va, te = small
    m = build_model(name, tr.layout, hidden=(32, 16), keep_prob=0.8, seed=seed)
    train(m, tr, va, TrainConfig(epochs=2, batch_size=256, seed=seed, progress=False))
    return predict(m, te)


def test_same_seed_bit_identical_predictions(small):
    a, b = _run(small, 7), _run(small, 7)
    assert a.dtype == np.float64 and a.shape == (small[2].n,)
    assert np.array_equal(a, b)                               # bit for bit
    assert not np.array_equal(a, _run(small, 8))               # and the seed matters


def test_early_stopping_restores_best_parameters(small):
    tr, va, _ = small
    m = build_model("fm", tr.layout, seed=0)
    seen = []
    res = train(m, tr, va, TrainConfig(epochs=6, batch_size=128, lr=0.05, patience=1, monitor="auc", progress=False),
                on_eval=seen.append)
    assert res.history == seen and len(seen) >= 2
    best = max(seen, key=lambda r: r["valid_auc"])
    assert res.best == best
    assert evaluate(m, va)["auc"] == pytest.approx(best["valid_auc"], abs=1e-12)   # restored, not the last
    if res.stopped_early:
        assert seen[-1]["valid_auc"] <= best["valid_auc"]


def test_eval_every_adds_validations(small):
    tr, va, _ = small
    m = build_model("lr", tr.layout)
    res = train(m, tr, va, TrainConfig(epochs=1, batch_size=100, eval_every=10, patience=0, progress=False))
    steps = -(-tr.n // 100)
    assert [r["step"] for r in res.history] == list(range(10, steps, 10)) + [steps]


def test_nan_loss_stops_with_clear_message(small):
    tr, va, _ = small
    m = build_model("fm", tr.layout)
    m.params["w0"][...] = np.nan                              # a poisoned parameter: the loss is NaN at once
    with pytest.raises(TrainingDiverged, match=r"loss became nan at epoch 1, step 1.*lr"):
        train(m, tr, va, TrainConfig(epochs=1, bias_init=False, progress=False))   # (bias_init would reset w0)


def test_overfits_fifty_rows():
    """A sanity check from CS231n: a model with enough capacity drives the loss on 50 rows to ~0."""
    rng = np.random.default_rng(0)
    layout = FieldLayout.categorical([20, 20, 20, 20])
    idx = np.stack([layout.row(f, rng.integers(0, 20, 50)) for f in range(4)], 1)
    y = rng.integers(0, 2, 50).astype(np.float32)
    ds = ArrayDataset(idx, np.ones((50, 4), np.float32), y, layout)
    m = build_model("deepfm", layout, hidden=(64, 64), keep_prob=1.0, embed_dim=8, seed=0)
    train(m, ds, None, TrainConfig(epochs=300, batch_size=50, lr=3e-3, progress=False))
    p = m.predict_proba(ds.idx, ds.val)
    loss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert loss < 0.01
    assert np.array_equal(p > 0.5, y == 1)


def test_training_learns_signal(small):
    tr, va, te = small
    m = build_model("fm", tr.layout, seed=0)
    before = evaluate(m, te)["auc"]
    train(m, tr, va, TrainConfig(epochs=3, batch_size=256, lr=3e-3, progress=False))
    after = evaluate(m, te)["auc"]
    assert after > 0.6 and after > before + 0.05


def test_bad_config_and_labels_rejected():
    with pytest.raises(ValueError, match="lr"):
        TrainConfig(lr=0)
    layout = FieldLayout.categorical([3])
    with pytest.raises(ValueError, match="label 2.0 is not 0 or 1"):
        ArrayDataset(np.zeros((2, 1), np.int64), np.ones((2, 1)), np.array([0, 2]), layout)
