"""Checkpoints: atomic writes, and a resumed run (in a fresh process) bit-identical to an uninterrupted one."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from deepfm_np.data.checkpoint import load_checkpoint
from deepfm_np.errors import DataError

ROOT = Path(__file__).resolve().parents[1]

# The same data, model and settings in this process and in the fresh one (exec'd in both).
SETUP = '''
import numpy as np
from deepfm_np.data.dataset import ArrayDataset
from deepfm_np.fields import FieldLayout
from deepfm_np.models import build_model
from deepfm_np.train import TrainConfig, train

def setup(epochs):
    rng = np.random.default_rng(0)
    layout = FieldLayout.categorical([40, 40, 6])
    def rows(n):
        local = np.stack([rng.integers(0, s, n) for s in (40, 40, 6)], 1)
        idx = np.stack([layout.row(f, local[:, f]) for f in range(3)], 1)
        y = (rng.random(n) < 1 / (1 + np.exp(-(np.sin(local[:, 0]) + 0.5 * np.cos(local[:, 1]))))).astype(np.float32)
        return ArrayDataset(idx, np.ones(idx.shape, np.float32), y, layout)
    tr, va = rows(1500), rows(300)
    model = build_model("deepfm", layout, embed_dim=4, hidden=(16, 8), keep_prob=0.8, seed=3)
    cfg = TrainConfig(epochs=epochs, batch_size=100, lr=3e-3, eval_every=7, patience=0, seed=5, progress=False)
    return model, tr, va, cfg
'''


def _setup(epochs):
    ns = {}
    exec(SETUP, ns)
    return ns["setup"](epochs)


def _resume_in_fresh_process(ckpt, out, epochs):
    code = SETUP + f'''
model, tr, va, cfg = setup({epochs})
res = train(model, tr, va, cfg, resume={str(ckpt)!r})
np.savez({str(out)!r}, **model.params, history_loss=np.array([r["valid_logloss"] for r in res.history]))
'''
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return np.load(out)


@pytest.fixture(scope="module")
def uninterrupted():
    ns = {}
    exec(SETUP, ns)
    model, tr, va, cfg = ns["setup"](3)
    res = ns["train"](model, tr, va, cfg)
    return model.params, res


def _same(params, z, res):
    for k, v in params.items():
        assert np.array_equal(v, z[k]), k                     # bit for bit
    assert np.array_equal(z["history_loss"], [r["valid_logloss"] for r in res.history])


def test_resume_after_an_epoch_is_bit_identical(tmp_path, uninterrupted):
    model, tr, va, cfg = _setup(1)
    ns = {}
    exec(SETUP, ns)
    ns["train"](model, tr, va, cfg, checkpoint=tmp_path / "ck.npz")
    arrays, meta = load_checkpoint(tmp_path / "ck.npz")
    assert meta["epoch"] == 2 and meta["batches_done"] == 0 and len(meta["result"]["history"]) == 3
    assert any(k.startswith("opt/") for k in arrays) and any(k.startswith("best/") for k in arrays)
    assert [p.name for p in tmp_path.iterdir()] == ["ck.npz"]           # no temporary file left
    _same(uninterrupted[0], _resume_in_fresh_process(tmp_path / "ck.npz", tmp_path / "r.npz", 3), uninterrupted[1])


def test_ctrl_c_mid_epoch_writes_a_checkpoint_that_resumes_bit_identically(tmp_path, uninterrupted):
    model, tr, va, cfg = _setup(3)
    ns = {}
    exec(SETUP, ns)

    def interrupt(rec):
        if rec["step"] == 21:                                # epoch 2, batch 6 of 15
            os.kill(os.getpid(), signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        ns["train"](model, tr, va, cfg, checkpoint=tmp_path / "ck.npz", on_eval=interrupt)
    _, meta = load_checkpoint(tmp_path / "ck.npz")
    assert (meta["epoch"], meta["batches_done"], meta["step"]) == (2, 6, 21)   # checked right after that step
    _same(uninterrupted[0], _resume_in_fresh_process(tmp_path / "ck.npz", tmp_path / "r.npz", 3), uninterrupted[1])


def test_resume_refuses_other_settings_and_bad_files(tmp_path):
    from dataclasses import replace
    from deepfm_np.train import TrainingRefused, train
    model, tr, va, cfg = _setup(1)
    train(model, tr, va, cfg, checkpoint=tmp_path / "ck.npz")
    model2, *_ = _setup(2)
    with pytest.raises(TrainingRefused, match=r"other settings \(lr 0.003 vs 0.01\)"):
        train(model2, tr, va, replace(cfg, epochs=2, lr=0.01), resume=tmp_path / "ck.npz")
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(DataError, match="cannot read the checkpoint"):
        load_checkpoint(tmp_path / "bad.npz")
