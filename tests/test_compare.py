"""compare and sweep end to end on tiny settings: rows, files and their keys."""
import json
from pathlib import Path

import numpy as np
import pytest

from deepfm_np.cli import main
from deepfm_np.experiments.paper_table import CompareConfig, compare, load_data, summarize, write_results
from deepfm_np.experiments.paper_studies import STUDIES, study_settings, sweep, write_sweep

REQUIRED = {"model", "auc_mean", "auc_std", "logloss_mean", "logloss_std", "time_vs_lr", "params"}
TINY = dict(rows=3000, epochs=1, seeds=2, hidden=(8,), batch_size=256)
CRITEO = Path(__file__).resolve().parents[2] / "shared" / "data" / "criteo_sample"


@pytest.fixture(scope="module")
def tiny_splits():
    return load_data("synthetic", rows=3000, seed=0)


def _png(path):
    return Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_library_returns_rows_and_writes_files(tiny_splits, tmp_path):
    cfg = CompareConfig(models=("lr", "fm", "fnn", "deepfm"), **TINY)
    res = compare(cfg, tiny_splits)
    assert [r["model"] for r in res.rows] == ["lr", "fm", "fnn", "deepfm"]
    assert len(res.runs) == 8 and {r["seed"] for r in res.runs} == {0, 1}
    for r in res.rows:
        assert REQUIRED <= set(r)
        assert 0 <= r["auc_mean"] <= 1 and r["auc_std"] >= 0 and r["params"] > 0
    by = {r["model"]: r for r in res.rows}
    assert by["lr"]["time_vs_lr"] == pytest.approx(1.0)
    assert by["fnn"]["pretrain_vs_lr"] > 0 and by["deepfm"]["pretrain_vs_lr"] is None
    assert by["deepfm"]["paper_auc"] == 0.8007                     # the paper's number, labelled as such
    paths = write_results(res, tmp_path / "out", command="python -m deepfm_np compare ...")
    rows = json.loads(Path(paths["json"]).read_text())
    assert isinstance(rows, list) and all(REQUIRED <= set(r) for r in rows)
    md = Path(paths["md"]).read_text()
    assert "paper, Criteo" in md and "DeepFM" in md and "python -m deepfm_np compare" in md
    assert " > ".join(r["label"] for r in sorted(res.rows, key=lambda r: -r["auc_mean"])) not in md  # no full ranking
    assert "not resolved from the best" in md and "ECE (ours)" in md
    assert res.info["test_positives"] == int((tiny_splits.test.y == 1).sum())
    for run in res.runs:                  # calibration and the log loss's test-set noise, beside AUC
        assert 0 <= run["ece"] <= 1 and run["logloss_se"] > 0
        assert run["observed_rate"] == pytest.approx(res.info["test_positives"] / tiny_splits.test.n)
    assert Path(paths["csv"]).read_text().splitlines()[0].startswith("model,")
    assert _png(paths["auc_png"]) and _png(paths["time_png"])


def test_summarize_spread_and_time_relative_to_lr():
    runs = [{"model": m, "auc": a, "logloss": 0.5, "seconds_per_epoch": t, "pretrain_seconds_per_epoch": 0.0,
             "epochs": 1, "params": 10} for m, a, t in
            [("lr", 0.70, 1.0), ("lr", 0.72, 3.0), ("deepfm", 0.80, 8.0), ("deepfm", 0.80, 8.0)]]
    rows = {r["model"]: r for r in summarize(runs)}
    assert rows["lr"]["auc_std"] == pytest.approx(np.std([0.70, 0.72], ddof=1))
    assert rows["deepfm"]["auc_std"] == 0.0
    assert rows["deepfm"]["time_vs_lr"] == pytest.approx(4.0)
    assert summarize([r for r in runs if r["model"] == "deepfm"])[0]["time_vs_lr"] is None   # no LR run


def test_compare_command_end_to_end(tmp_path, capsys):
    out = tmp_path / "cmp"
    code = main(["compare", "--models", "lr,opnn,fm_dnn", "--rows", "3000", "--epochs", "1", "--seeds", "1",
                 "--hidden", "8", "--batch-size", "256", "--threads", "1", "--out", str(out)])
    assert code == 0
    for f in ("results.md", "results.csv", "results.json", "runs.json", "auc.png", "time.png"):
        assert (out / f).stat().st_size > 0, f
    rows = json.loads((out / "results.json").read_text())
    assert [r["model"] for r in rows] == ["lr", "opnn", "fm_dnn"]
    assert "--models lr,opnn,fm_dnn" in (out / "results.md").read_text()   # the exact command is recorded
    assert "| OPNN |" in capsys.readouterr().out


def test_compare_command_rejects_unknown_model(tmp_path, capsys):
    assert main(["compare", "--models", "lr,deepfmm", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "deepfmm" in err and "deepfm" in err and "ipnn" in err


def test_study_settings_follow_section_3_3():
    assert [s for s, _ in study_settings("activation")] == ["relu", "tanh"]
    assert [o["keep_prob"] for _, o in study_settings("dropout")] == [1.0, 0.9, 0.8, 0.7, 0.6, 0.5]
    assert [o["hidden"] for _, o in study_settings("neurons", (100,) * 3)][-1] == (800, 800, 800)
    assert [len(o["hidden"]) for _, o in study_settings("layers")] == [1, 2, 3, 5, 7]
    shapes = dict(study_settings("shape", (200, 200, 200)))
    assert [o["hidden"] for o in shapes.values()] == [(200, 200, 200), (100, 200, 300), (300, 200, 100),
                                                      (150, 300, 150)]
    with pytest.raises(ValueError, match="activation"):
        study_settings("width")


def test_sweep_library_and_files(tiny_splits, tmp_path):
    cfg = CompareConfig(models=("deepfm", "ipnn"), **{**TINY, "seeds": 1})
    res = sweep("dropout", cfg, tiny_splits, quick=True)
    assert len(res.rows) == 3 * 2                                   # quick: 3 keep probabilities x 2 models
    for r in res.rows:
        assert {"study", "setting", "model", "auc_mean", "auc_std", "logloss_mean", "logloss_std"} <= set(r)
    paths = write_sweep(res, tmp_path)
    assert json.loads(Path(paths["json"]).read_text()) == res.rows
    assert _png(paths["png"])
    with pytest.raises(ValueError, match="no deep part|has none"):
        sweep("dropout", CompareConfig(models=("lr",), **TINY), tiny_splits)


def test_sweep_command_quick(tmp_path):
    assert main(["sweep", "--study", "layers", "--quick", "--threads", "1", "--out", str(tmp_path)]) == 0
    for suffix in (".json", ".csv", ".png", "_runs.json"):
        assert (tmp_path / f"sweep_layers{suffix}").stat().st_size > 0
    assert set(STUDIES) == {"activation", "dropout", "neurons", "layers", "shape"}


@pytest.mark.skipif(not CRITEO.is_dir(), reason=f"real Criteo sample not found at {CRITEO}")
def test_compare_on_the_criteo_sample(tmp_path):
    splits = load_data(f"criteo:{CRITEO}")
    assert splits.train.n == 7200 and splits.valid.n == 409 and splits.test.n == 391
    res = compare(CompareConfig(models=("lr", "deepfm"), data=f"criteo:{CRITEO}", epochs=1, seeds=1,
                                hidden=(8,), batch_size=256), splits)
    assert all(0.5 < r["auc_mean"] < 1 for r in res.rows)


def test_orderings_follow_the_noise_and_rewrite_needs_no_training(tmp_path):
    from deepfm_np.experiments.paper_table import format_orderings, rewrite_markdown
    row = lambda label, auc, sd: {"label": label, "auc_mean": auc, "auc_std": sd, "seeds": 3,   # noqa: E731
                                  "logloss_mean": 0.5, "logloss_std": 0.0, "logloss_se": 0.004}
    info = {"rows": {"test": 25000}, "test_positives": 6000}
    text = "\n".join(format_orderings([row("A", 0.760, 0.001), row("B", 0.758, 0.001), row("C", 0.700, 0.001)],
                                       info))
    assert "not resolved from the best (A): A, B." in text
    assert "| A | 0.7600 | C | - | B |" in text and "| C | 0.7000 | - | A, B | - |" in text
    assert "By test log loss" in text and "| A | 0.5000 | - | - | B, C |" in text     # equal log losses
    # rewrite_markdown rebuilds results.md from runs.json alone
    runs = [{"model": m, "seed": s, "auc": a + 0.001 * s, "logloss": 0.5, "seconds_per_epoch": 1.0,
             "pretrain_seconds_per_epoch": 0.0, "epochs": 1, "params": 10} for m, a in (("lr", 0.7), ("fm", 0.75))
            for s in range(2)]
    saved = {"config": {**CompareConfig(models=("lr", "fm")).__dict__, "models": ["lr", "fm"], "hidden": [8]},
             "info": {"data": "criteo:x", "rows": {"train": 10, "valid": 10, "test": 20000}, "table_rows": 5},
             "runs": runs, "command": "python -m deepfm_np compare --models lr,fm"}
    (tmp_path / "runs.json").write_text(json.dumps(saved))
    md = rewrite_markdown(tmp_path)
    assert (tmp_path / "results.md").read_text() == md and "only seed noise counts" in md
    assert "| FM | 0.7505 | LR | - | - |" in md and "Calibration (ECE" in md and "By log loss no ordering" in md
