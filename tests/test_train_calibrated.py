"""Calibrated training: base-rate bias, --monitor, divergence and one-class guards, warnings, metrics.summary."""
import math

import numpy as np
import pytest

from deepfm_np.data.dataset import ArrayDataset
from deepfm_np.fields import FieldLayout
from deepfm_np.metrics import base_rate_logloss, calibration, summary
from deepfm_np.models import build_model
from deepfm_np.models.registry import model_names
from deepfm_np.train import (MODEL_DEFAULTS, TrainConfig, TrainingDiverged, TrainingRefused, default_config,
                             evaluate, train)


def _world(n, rate=0.3, seed=0, fields=(30, 30, 8)):
    """Categorical rows whose click probability depends on field 0's value (a learnable signal)."""
    rng = np.random.default_rng(seed)
    layout = FieldLayout.categorical(list(fields))
    local = np.stack([rng.integers(0, s, n) for s in fields], 1)
    idx = np.stack([layout.row(f, local[:, f]) for f in range(len(fields))], 1)
    logit = math.log(rate / (1 - rate)) + 1.5 * np.sin(local[:, 0])
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.float32)
    return ArrayDataset(idx, np.ones(idx.shape, np.float32), y, layout)


@pytest.fixture(scope="module")
def data():
    return _world(3000, seed=1), _world(600, seed=2)


CFG = dict(batch_size=128, progress=False)


# ---- metrics -------------------------------------------------------------------------------------
def test_calibration_by_hand():
    y = np.array([0, 1, 0, 0, 1, 1])
    p = np.array([0.05, 0.15, 0.5, 0.55, 0.95, 1.0])
    c = calibration(y, p, bins=2)                       # bins [0, .5): rows 0,1   [.5, 1]: rows 2..5
    assert c["bins"]["count"] == [2, 4]
    assert c["bins"]["mean_prediction"] == pytest.approx([0.1, 0.75])
    assert c["bins"]["observed_rate"] == pytest.approx([0.5, 0.5])
    assert c["ece"] == pytest.approx(2 / 6 * 0.4 + 4 / 6 * 0.25)
    assert c["mean_prediction"] == pytest.approx(p.mean()) and c["observed_rate"] == pytest.approx(0.5)


def test_summary_of_one_class_says_auc_is_undefined():
    s = summary(np.zeros(5), np.full(5, 0.1))
    assert s["auc"] is None and "only negative rows" in s["auc_undefined"]
    assert s["logloss"] == pytest.approx(-math.log(0.9)) and s["spread"] == 0.0
    assert base_rate_logloss(np.array([0, 0, 0, 1.0])) == pytest.approx(-(0.25 * math.log(0.25) + 0.75 * math.log(0.75)))


# ---- bias initialisation ------------------------------------------------------------------------
@pytest.mark.parametrize("name", model_names())
def test_init_bias_puts_the_output_at_the_base_rate(name, data):
    tr, _ = data
    m = build_model(name, tr.layout, embed_dim=4, hidden=(8,), seed=0)
    m.init_bias(0.02)
    b = m.params[m.output_bias_name()]
    assert b.shape[-1] == 1 and float(b[0]) == pytest.approx(math.log(0.02 / 0.98), rel=1e-6)
    if name in ("lr", "fm"):                            # nothing else moves their logit much at the start
        p = m.predict_proba(tr.idx[:200], tr.val[:200])
        assert np.allclose(p, 0.02, rtol=0.05)
    with pytest.raises(ValueError, match="base rate"):
        m.init_bias(1.0)


def test_training_starts_from_the_base_rate_on_a_rare_click_file():
    tr, va = _world(4000, rate=0.01, seed=3), _world(2000, rate=0.01, seed=4)
    m = build_model("fm", tr.layout, embed_dim=4, seed=0)
    res = train(m, tr, va, TrainConfig(epochs=1, lr=1e-5, **CFG))     # a tiny step: the start is what shows
    rate = float(tr.y.mean())
    assert res.base_rate == pytest.approx(rate)
    assert res.history[0]["valid_mean_prediction"] == pytest.approx(rate, rel=0.05)
    old = build_model("fm", tr.layout, embed_dim=4, seed=0)
    r0 = train(old, tr, va, TrainConfig(epochs=1, lr=1e-5, bias_init=False, **CFG))
    assert r0.history[0]["valid_mean_prediction"] > 0.45                # p = 0.5 at the start before
    assert res.history[0]["valid_logloss"] < r0.history[0]["valid_logloss"] / 5


# ---- the monitor -----------------------------------------------------------------------------------
@pytest.mark.parametrize("monitor", ["logloss", "auc", "auc-logloss"])
def test_early_stopping_keeps_the_best_validation_of_its_monitor(monitor, data):
    tr, va = data
    m = build_model("fm", tr.layout, embed_dim=4, seed=0)
    res = train(m, tr, va, TrainConfig(epochs=6, lr=0.05, patience=2, monitor=monitor, **CFG))
    key = {"logloss": lambda r: -r["valid_logloss"], "auc": lambda r: r["valid_auc"],
           "auc-logloss": lambda r: r["valid_auc"] - r["valid_logloss"]}[monitor]
    assert res.best == max(res.history, key=key) and res.monitor == monitor
    now = evaluate(m, va)
    assert now["logloss"] == pytest.approx(res.best["valid_logloss"], abs=1e-12)   # restored
    assert res.stop_reason in ("early_stopping", "epoch_cap")


def test_default_config_per_model_and_overrides():
    assert default_config("lr").lr == MODEL_DEFAULTS["lr"]["lr"]
    assert default_config("pnn").lr == MODEL_DEFAULTS["*"]["lr"]
    c = default_config("deepfm", lr=0.5, monitor=None)
    assert c.lr == 0.5 and c.monitor == "logloss" and c.epochs == 20 and c.bias_init
    with pytest.raises(ValueError, match="monitor"):
        TrainConfig(monitor="accuracy")


# ---- warnings --------------------------------------------------------------------------------------
def test_warns_when_the_epoch_cap_is_hit_while_still_improving(data):
    tr, va = data
    m = build_model("lr", tr.layout)
    seen = []
    res = train(m, tr, va, TrainConfig(epochs=3, lr=1e-3, **CFG), on_warning=seen.append)
    assert res.stop_reason == "epoch_cap" and res.best is res.history[-1]
    assert seen == res.warnings and any("epoch cap (3)" in w and "still improving" in w for w in seen)


def test_warns_with_the_count_when_validation_has_few_positives(data):
    tr, _ = data
    va = _world(400, rate=0.02, seed=5)
    res = train(build_model("lr", tr.layout), tr, va, TrainConfig(epochs=1, lr=0.01, **CFG))
    k = int(va.y.sum())
    assert any(f"only {k} positive rows (of 400)" in w for w in res.warnings)


def test_single_class_validation_falls_back_to_logloss_and_never_raises(data):
    tr, va = data
    one = ArrayDataset(va.idx, va.val, np.zeros_like(va.y), va.layout)
    res = train(build_model("lr", tr.layout), tr, one, TrainConfig(epochs=2, lr=0.01, monitor="auc", **CFG))
    assert res.monitor == "logloss" and all(r["valid_auc"] is None for r in res.history)
    assert any("AUC is undefined" in w for w in res.warnings)


def test_log_prints_one_plain_line_per_validation(data, capsys):
    tr, va = data
    train(build_model("lr", tr.layout), tr, va, TrainConfig(epochs=2, lr=0.01, log=True, **CFG))
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("lr epoch 1 step 24:") and "valid AUC 0." in lines[0]


# ---- guards ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("label", [0.0, 1.0])
def test_one_class_training_data_is_refused_before_any_step(label, data):
    tr, va = data
    one = ArrayDataset(tr.idx, tr.val, np.full_like(tr.y, label), tr.layout)
    m = build_model("fm", tr.layout, embed_dim=4)
    before = {k: v.copy() for k, v in m.params.items()}
    with pytest.raises(TrainingRefused, match=f"only {'negative' if label == 0 else 'positive'} rows"):
        train(m, one, va, TrainConfig(**CFG))
    assert all(np.array_equal(before[k], m.params[k]) for k in before)


@pytest.mark.parametrize("name", ["lr", "deepfm"])
def test_a_huge_learning_rate_stops_with_what_to_try(name, data):
    tr, va = data
    m = build_model(name, tr.layout, embed_dim=4, hidden=(8,), seed=0)
    with pytest.raises(TrainingDiverged, match=r"smaller --lr"):
        train(m, tr, va, TrainConfig(epochs=5, lr=1e6, **CFG))


def test_a_constant_predictor_is_reported_as_learning_nothing(data):
    tr, va = data
    m = build_model("lr", tr.layout)
    with pytest.raises(TrainingDiverged, match=r"predictions were constant .* for 3 validation"):
        train(m, tr, va, TrainConfig(epochs=5, lr=1e-30, patience=0, **CFG))   # lr ~ 0: w never moves


def test_an_overfitting_model_is_not_called_diverged(data):
    """A high learning rate that overfits (log loss above the base rate's, AUC still fine) keeps its best."""
    tr, va = data
    res = train(build_model("fm", tr.layout, embed_dim=8, seed=0), tr, va,
                TrainConfig(epochs=6, lr=0.1, patience=0, **CFG))
    assert res.history[-1]["valid_logloss"] > res.best["valid_logloss"]
    assert res.best["valid_logloss"] < res.best["valid_base_logloss"]
