"""experiments/sharing.py: equal parameter counts, paired verdicts from the numbers, a tiny end-to-end run."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from deepfm_np.experiments import sharing as S
from deepfm_np.experiments.synthetic import make_world
from deepfm_np.models.registry import build_model

ROOT = Path(__file__).resolve().parents[1]


def test_fm_dnn_matches_deepfm_parameter_count():
    layout = make_world(0, gate_code="shared", **S.LESSON_WORLD).layout
    n = {m: build_model(m, layout, **S.model_kwargs(m, layout)).n_params() for m in ("deepfm", "fm_dnn")}
    assert abs(n["fm_dnn"] - n["deepfm"]) < 0.01 * n["deepfm"], n
    assert S.model_kwargs("fm_dnn", layout)["embed_dim"] == S.MODEL_KW["embed_dim"] // 2


def _runs(diffs, world="shared"):
    return ([{"world": world, "rows": 10, "model": "deepfm", "seed": s, "auc": 0.7 + d} for s, d in enumerate(diffs)]
            + [{"world": world, "rows": 10, "model": "fm_dnn", "seed": s, "auc": 0.7} for s in range(len(diffs))])


def test_paired_interval_and_verdict():
    p = S.paired(_runs([0.010, 0.012, 0.011, 0.009]), "shared", "deepfm", "fm_dnn")
    d = np.array([0.010, 0.012, 0.011, 0.009])
    assert p["n_seeds"] == 4 and abs(p["mean"] - d.mean()) < 1e-12
    assert abs(p["half_width"] - 3.182 * d.std(ddof=1) / 2) < 1e-12
    assert p["resolved"] and "DeepFM better, resolved" in S.verdict(p)
    q = S.paired(_runs([0.01, -0.012, 0.004]), "shared", "deepfm", "fm_dnn")
    assert not q["resolved"] and "not resolved at this size" in S.verdict(q)
    assert S.paired(_runs([0.01, 0.02]), "independent", "deepfm", "fm_dnn")["n_seeds"] == 0


def test_command_writes_records(tmp_path):
    out = tmp_path / "s.json"
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, "-m", "deepfm_np.experiments.sharing", "--seeds", "2", "--rows", "2000",
                        "--worlds", "shared", "--out", str(out)], capture_output=True, text=True, env=env, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    res = json.loads(out.read_text())
    assert {(x["model"], x["seed"]) for x in res["runs"]} == {(m, s) for m in S.MODELS for s in (0, 1)}
    assert all(0.3 < x["auc"] < 1 for x in res["runs"]) and len(res["oracles"]) == 2
    bad = subprocess.run([sys.executable, "-m", "deepfm_np.experiments.sharing", "--seeds", "2", "--rows", "x",
                          "--out", str(out)], capture_output=True, text=True, env=env, cwd=ROOT)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--rows" in bad.stderr
