"""train / evaluate reports at the command line: history, calibration, plots, one-class files, divergence."""
import json
import math
from pathlib import Path

import numpy as np
import pytest

from deepfm_np.cli import main

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "criteo_sample"
SMALL = ["--batch-size", "64", "--embed-dim", "4", "--hidden", "8,8", "--threads", "1", "--no-progress"]


def write_rows(path, n, seed, rate=0.3, label=None):
    """Criteo-format rows (label, 13 ints, 26 hex values) whose click rate depends on C1 and I1."""
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(n):
        c1, i1 = int(rng.integers(12)), int(rng.integers(0, 50))
        logit = math.log(rate / (1 - rate)) + 1.2 * math.sin(c1) + 0.02 * (i1 - 25)
        y = int(rng.random() < 1 / (1 + math.exp(-logit))) if label is None else label
        ints = [str(i1)] + ["" if rng.random() < 0.2 else str(int(rng.integers(0, 9))) for _ in range(12)]
        cats = [f"{c1:08x}"] + [f"{(j * 7919 + int(rng.integers(15))):08x}" for j in range(25)]
        lines.append("\t".join([str(y), *ints, *cats]))
    Path(path).write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("reports")
    return {"train": write_rows(d / "train.txt", 1500, 1), "valid": write_rows(d / "valid.txt", 400, 2),
            "test": write_rows(d / "test.txt", 400, 3), "zeros": write_rows(d / "zeros.txt", 300, 4, label=0),
            "dir": d}


def _train(files, *extra, train_file=None, test=None):
    d = files["dir"]
    return main(["train", "--format", "criteo", "--train", str(train_file or files["train"]), "--valid",
                 str(files["valid"]), "--test", str(test or files["test"]), "--out", str(d / "m.npz"), *SMALL,
                 *extra])


def test_train_json_carries_history_stop_reason_cpu_and_data(files, capsys):
    js = files["dir"] / "t.json"
    assert _train(files, "--model", "fm", "--epochs", "4", "--json", str(js)) == 0
    res = json.loads(js.read_text())
    err = capsys.readouterr().err
    assert len(res["history"]) >= 2
    for h in res["history"]:
        assert {"epoch", "step", "train_loss", "valid_auc", "valid_logloss"} <= set(h)
    assert res["chosen_epoch"] == min(res["history"], key=lambda h: h["valid_logloss"])["epoch"]
    assert res["stop_reason"] in ("early_stopping", "epoch_cap") and res["monitor"] == "logloss"
    assert res["train_cpu_seconds"] > 0 and res["train_seconds"] > 0
    assert res["data"]["train"]["rows"] == 1500 and 0 <= res["data"]["test"]["oov_rate"] < 1
    for part in ("valid", "test"):
        assert {"auc", "logloss", "mean_prediction", "observed_rate", "ece"} <= set(res[part])
        assert res[part]["logloss"] < res[part]["base_logloss"]
    lines = [ln for ln in err.splitlines() if ln.startswith("fm epoch")]      # --no-progress: one per validation
    assert len(lines) == len(res["history"]) and "valid AUC" in lines[0]


def test_one_class_training_file_is_refused_before_training(files, capsys):
    rc = _train(files, "--model", "lr", train_file=files["zeros"])
    cap = capsys.readouterr()
    assert rc == 2 and "Traceback" not in cap.err
    assert "only negative rows" in cap.err and len(cap.err.strip().splitlines()) == 1
    assert "training lr" not in cap.out


def test_huge_learning_rate_stops_with_a_message(files, capsys):
    rc = _train(files, "--model", "deepfm", "--lr", "1e6", "--epochs", "4")
    err = capsys.readouterr().err
    assert rc == 2 and "diverged" in err and "smaller --lr" in err and "Traceback" not in err


def test_single_class_test_file_reports_auc_undefined(files, capsys):
    assert _train(files, "--model", "lr", "--epochs", "2", test=files["zeros"]) == 0
    out = capsys.readouterr().out
    assert "test: AUC undefined (only negative rows" in out


def test_evaluate_prints_calibration_and_plots(files, capsys):
    assert _train(files, "--model", "fm", "--epochs", "2") == 0
    d = files["dir"]
    capsys.readouterr()
    assert main(["evaluate", "--model", str(d / "m.npz"), "--data", str(files["test"]), "--plot",
                 str(d / "p.png"), "--json", str(d / "e.json")]) == 0
    out = capsys.readouterr().out
    assert "mean prediction" in out and "vs observed" in out and "ECE" in out
    e = json.loads((d / "e.json").read_text())
    assert 0 <= e["ece"] <= 1 and sum(e["reliability"]["count"]) == 400
    assert (d / "p.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["evaluate", "--model", str(d / "m.npz"), "--data", str(files["zeros"])]) == 0
    assert "AUC undefined" in capsys.readouterr().out


def test_resume_with_other_settings_is_one_line(files, capsys):
    ck = files["dir"] / "ck.npz"
    assert _train(files, "--model", "lr", "--epochs", "1", "--checkpoint", str(ck)) == 0
    assert ck.is_file()
    rc = _train(files, "--model", "lr", "--epochs", "2", "--lr", "0.5", "--resume", str(ck))
    err = capsys.readouterr().err
    assert rc == 2 and "other settings" in err and "Traceback" not in err


@pytest.mark.skipif(not REAL.is_dir(), reason="shared Criteo sample not present (../shared/data/criteo_sample)")
def test_default_deepfm_beats_the_base_rate_on_the_criteo_sample(tmp_path):
    js = tmp_path / "r.json"
    rc = main(["train", "--format", "criteo", "--train", str(REAL / "train.txt"), "--valid", str(REAL / "dev.txt"),
               "--test", str(REAL / "test.txt"), "--model", "deepfm", "--out", str(tmp_path / "m.npz"),
               "--no-progress", "--json", str(js)])
    assert rc == 0
    t = json.loads(js.read_text())["test"]
    assert t["logloss"] < t["base_logloss"] - 0.02
