"""LR trained with FTRL-Proximal (the paper's optimizer for LR) recovers a known sparse solution."""
import numpy as np
import pytest

from deepfm_np.data.dataset import ArrayDataset
from deepfm_np.fields import FieldLayout
from deepfm_np.metrics import auc
from deepfm_np.models import build_model
from deepfm_np.optim import make_optimizer
from deepfm_np.train import TrainConfig, evaluate, train

F, V = 6, 20


@pytest.fixture(scope="module")
def problem():
    """Six categorical fields of 20 values; only fields 0 and 1 carry weight (+-1.5), the rest none."""
    rng = np.random.default_rng(0)
    layout = FieldLayout.categorical([V] * F)
    w_true = np.zeros(layout.n_rows)
    relevant = np.zeros(layout.n_rows, dtype=bool)
    for f in (0, 1):
        rows = layout.row(f, np.arange(V))
        w_true[rows] = rng.choice([-1.5, 1.5], V)
        relevant[rows] = True

    def draw(n):
        idx = layout.offsets + rng.integers(0, V, (n, F))
        z = w_true[idx].sum(axis=1) - 0.5
        y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(np.float32)
        return ArrayDataset(idx, np.ones((n, F), np.float32), y, layout), z

    (train_set, _), (test_set, z_test) = draw(20_000), draw(5_000)
    return layout, w_true, relevant, train_set, test_set, auc(test_set.y, z_test)


def _fit(problem, l1):
    layout, _, _, train_set, _, _ = problem
    model = build_model("lr", layout)
    opt = make_optimizer("ftrl", model.params, sparse=model.sparse_params, lr=0.1, l1=l1)
    train(model, train_set, None, TrainConfig(epochs=3, batch_size=256, progress=False), optimizer=opt)
    return model


def test_ftrl_with_l1_finds_the_sparse_solution(problem):
    layout, w_true, relevant, _, test_set, bayes_auc = problem
    model = _fit(problem, l1=0.5)
    w = model.params["w"]
    assert np.all(w[~relevant] == 0.0)                     # exact zeros where the truth is zero
    assert np.all(w[relevant] != 0.0)
    assert np.corrcoef(w[relevant], w_true[relevant])[0, 1] > 0.9
    assert evaluate(model, test_set)["auc"] > bayes_auc - 0.005


def test_without_l1_the_weights_are_dense(problem):
    """The zeros above come from l1, not from the data: without it no weight is exactly zero."""
    _, _, relevant, _, test_set, bayes_auc = problem
    model = _fit(problem, l1=0.0)
    assert np.mean(model.params["w"][~relevant] == 0.0) < 0.05
    assert evaluate(model, test_set)["auc"] > bayes_auc - 0.01
