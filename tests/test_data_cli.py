"""train / evaluate / predict on real file formats, the model file, and bad input at the command line."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from deepfm_np.cli import main
from deepfm_np.data import CriteoReader
from deepfm_np.errors import DataError
from deepfm_np.model_file import FILE_VERSION, load_model, save_model
from fixtures.fake_data import FAKE_ML100K, criteo_rows, write_criteo

ROOT = Path(__file__).resolve().parents[1]
REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "criteo_sample"
SMALL = ["--epochs", "2", "--batch-size", "64", "--embed-dim", "4", "--hidden", "8,8", "--no-progress",
         "--threads", "1", "--lr", "0.01"]


@pytest.fixture(scope="module")
def criteo(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    rows = criteo_rows(900, seed=21)
    write_criteo(d / "train.txt", rows[:600])
    write_criteo(d / "valid.txt", rows[600:750])
    write_criteo(d / "test.txt", rows[750:])
    return d


@pytest.fixture(scope="module")
def trained(criteo):
    out = criteo / "m.npz"
    rc = main(["train", "--format", "criteo", "--train", str(criteo / "train.txt"), "--valid",
               str(criteo / "valid.txt"), "--test", str(criteo / "test.txt"), "--model", "deepfm",
               "--out", str(out), "--json", str(criteo / "train.json"), *SMALL])
    assert rc == 0
    return out, json.loads((criteo / "train.json").read_text())


def test_train_json_has_the_promised_keys(trained):
    _, res = trained
    assert res["model"] == "deepfm"
    for part in ("valid", "test"):
        assert {"auc", "logloss", "ece", "mean_prediction"} <= set(res[part]) and 0 <= res[part]["auc"] <= 1
    assert res["train_seconds"] > 0 and res["samples_per_second"] > 0
    assert res["data"]["train"]["rows"] == 600 and res["data"]["test"]["rows"] == 150


def test_model_file_round_trip_and_evaluate(trained, criteo, capsys):
    path, res = trained
    saved = load_model(path)
    assert saved.meta["library_version"] and saved.meta["file_version"] == FILE_VERSION
    assert saved.reader == {"format": "criteo"}
    assert saved.meta["train"]["hyper_parameters"]["hidden"] == [8, 8]
    rc = main(["evaluate", "--model", str(path), "--data", str(criteo / "test.txt"),
               "--json", str(criteo / "eval.json")])
    assert rc == 0
    ev = json.loads((criteo / "eval.json").read_text())
    assert ev["rows"] == 150 and ev["auc"] == pytest.approx(res["test"]["auc"], abs=1e-12)
    assert 0 < ev["oov_rate"] < 1


def test_predictions_are_bit_identical_in_a_fresh_process(trained, criteo):
    path, _ = trained
    saved = load_model(path)
    chunk = next(CriteoReader(criteo / "test.txt").chunks())
    enc = saved.encoder.transform(chunk)
    here = saved.model.predict_proba(enc.idx, enc.val)
    out = criteo / "pred.txt"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "deepfm_np", "predict", "--model", str(path), "--input",
                           str(criteo / "test.txt"), "--output", str(out), "--threads", "1"],
                          capture_output=True, text=True, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    there = np.array([float(x) for x in out.read_text().split()])
    assert there.shape == (150,)
    np.testing.assert_array_equal(there, here)             # exact: %.17g round-trips a float64


def test_predict_unlabeled_with_line_numbers(trained, criteo):
    path, _ = trained
    rows = [r[1:] for r in criteo_rows(5, seed=22)]
    write_criteo(criteo / "nolabel.txt", rows)
    assert main(["predict", "--model", str(path), "--input", str(criteo / "nolabel.txt"), "--output",
                 str(criteo / "p.txt"), "--no-label", "--line-numbers"]) == 0
    lines = (criteo / "p.txt").read_text().splitlines()
    assert [ln.split("\t")[0] for ln in lines] == ["1", "2", "3", "4", "5"]


def test_broken_and_foreign_model_files(trained, tmp_path):
    path, _ = trained
    data = path.read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="truncated or not a deepfm_np model"):
        load_model(tmp_path / "cut.npz")
    with pytest.raises(DataError, match="model file not found"):
        load_model(tmp_path / "none.npz")
    saved = load_model(path)
    meta = dict(saved.meta, file_version=FILE_VERSION + 1, library_version="9.9.9")
    arrays = {f"param/{k}": v for k, v in saved.model.params.items()}
    np.savez(tmp_path / "future.npz", **{"meta.json": np.frombuffer(json.dumps(meta).encode(), np.uint8)}, **arrays)
    with pytest.raises(DataError, match=r"format version 2 \(written by deepfm_np 9.9.9\) cannot be read"):
        load_model(tmp_path / "future.npz")
    np.savez(tmp_path / "plain.npz", x=np.zeros(3))
    with pytest.raises(DataError, match="no meta.json"):
        load_model(tmp_path / "plain.npz")
    p = save_model(tmp_path / "again", saved.model, saved.encoder, saved.reader)
    assert p.name == "again.npz"
    again = load_model(p)
    for k, v in saved.model.params.items():
        np.testing.assert_array_equal(again.model.params[k], v)


def test_bad_rows_at_the_command_line(criteo, tmp_path, capsys):
    rows = criteo_rows(300, seed=23)
    rows[41][5] = "oops"
    bad = write_criteo(tmp_path / "bad.txt", rows)
    args = ["train", "--format", "criteo", "--train", str(bad), "--model", "lr", "--out", str(tmp_path / "m"),
            *SMALL]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "line 42, column 6 (I5): not a number: 'oops'" in err
    assert "Traceback" not in err
    assert main(args + ["--skip-bad-rows", "--json", str(tmp_path / "r.json")]) == 0
    res = json.loads((tmp_path / "r.json").read_text())
    skipped = res["data"]["train"]["skipped_rows"] + res["data"]["valid"]["skipped_rows"]
    assert skipped == 1                                     # the row is in exactly one of the two parts
    assert main(["evaluate", "--model", str(tmp_path / "nope.npz"), "--data", str(bad)]) == 2
    assert "model file not found" in capsys.readouterr().err


def test_csv_libsvm_and_movielens_end_to_end(tmp_path):
    rng = np.random.default_rng(0)
    lines = ["user,item,age,genres,click"]
    for _ in range(300):
        u, i = rng.integers(0, 20), rng.integers(0, 30)
        genres = "|".join(rng.choice(["a", "b", "c", "d"], rng.integers(0, 3), replace=False))
        lines.append(f"u{u},i{i},{rng.integers(10, 70)},{genres},{int(rng.random() < 0.3 + 0.02 * (u % 10))}")
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n")
    assert main(["train", "--format", "csv", "--train", str(tmp_path / "d.csv"), "--label", "click",
                 "--categorical", "user,item", "--numeric", "age", "--multi", "genres:|", "--model", "deepfm",
                 "--out", str(tmp_path / "c.npz"), *SMALL]) == 0
    assert load_model(tmp_path / "c.npz").encoder.layout.kinds[-1] == "multi"
    assert main(["predict", "--model", str(tmp_path / "c.npz"), "--input", str(tmp_path / "d.csv"),
                 "--output", str(tmp_path / "c.txt")]) == 0
    assert len((tmp_path / "c.txt").read_text().split()) == 300

    svm = "\n".join(f"{int(rng.random() < 0.3)} {rng.integers(1, 10)}:1 {rng.integers(10, 20)}:0.5"
                    for _ in range(300)) + "\n"
    (tmp_path / "d.svm").write_text(svm)
    assert main(["train", "--format", "libsvm", "--fields", "a:1-9,b:10-19", "--train", str(tmp_path / "d.svm"),
                 "--model", "fm", "--out", str(tmp_path / "s.npz"), *SMALL]) == 0
    assert load_model(tmp_path / "s.npz").encoder.layout.names == ("a", "b")

    assert main(["train", "--format", "movielens", "--train", str(FAKE_ML100K / "u1.base"), "--valid",
                 str(FAKE_ML100K / "u1.test"), "--model", "lr", "--min-count", "1",
                 "--out", str(tmp_path / "ml.npz"), *SMALL]) == 0


@pytest.mark.skipif(not (REAL / "train.txt").is_file(),
                    reason=f"real Criteo sample not found at {REAL} (it is not shipped with the repo)")
def test_real_criteo_sample_train_evaluate_predict(tmp_path):
    out = tmp_path / "m.npz"
    assert main(["train", "--format", "criteo", "--train", str(REAL / "train.txt"), "--valid",
                 str(REAL / "dev.txt"), "--test", str(REAL / "test.txt"), "--model", "deepfm", "--out", str(out),
                 "--json", str(tmp_path / "t.json"), "--epochs", "2", "--lr", "0.01", "--no-progress",
                 "--threads", "2"]) == 0
    res = json.loads((tmp_path / "t.json").read_text())
    assert res["test"]["auc"] > 0.6                          # far above chance on 391 rows
    assert main(["evaluate", "--model", str(out), "--data", str(REAL / "test.txt"),
                 "--json", str(tmp_path / "e.json")]) == 0
    assert json.loads((tmp_path / "e.json").read_text())["auc"] == pytest.approx(res["test"]["auc"], abs=1e-12)
    assert main(["predict", "--model", str(out), "--input", str(REAL / "test.txt"), "--output",
                 str(tmp_path / "p.txt")]) == 0
    assert len((tmp_path / "p.txt").read_text().split()) == 391


def test_training_from_the_on_disk_cache_matches_memory(criteo, tmp_path):
    common = ["train", "--format", "criteo", "--train", str(criteo / "train.txt"), "--valid",
              str(criteo / "valid.txt"), "--model", "fm", *SMALL]
    assert main(common + ["--out", str(tmp_path / "a"), "--json", str(tmp_path / "a.json")]) == 0
    assert main(common + ["--out", str(tmp_path / "b"), "--json", str(tmp_path / "b.json"),
                          "--cache", str(tmp_path / "cache")]) == 0
    assert (tmp_path / "cache" / "train" / "header.json").is_file()
    a = json.loads((tmp_path / "a.json").read_text())
    b = json.loads((tmp_path / "b.json").read_text())
    # the cache shuffles by blocks, so the runs differ in order only: same data, similar quality
    assert b["data"]["train"]["rows"] == a["data"]["train"]["rows"] == 600
    assert abs(a["valid"]["auc"] - b["valid"]["auc"]) < 0.1
