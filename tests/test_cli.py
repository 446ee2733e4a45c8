"""The command line: exit codes, --help, the demo's JSON shape."""
import json
import subprocess
import sys


from deepfm_np.cli import main


def test_gradcheck_command_passes_and_prints_a_row_per_parameter(capsys):
    assert main(["gradcheck", "--models", "lr,deepfm"]) == 0
    out = capsys.readouterr().out
    assert "deepfm/V (fm path)" in out and "deepfm/mlp.W0" in out and "embedding/V" in out
    assert "FAIL" not in out and "all" in out


def test_gradcheck_exits_nonzero_on_failure(capsys, monkeypatch):
    import deepfm_np.gradcheck.core as G
    monkeypatch.setattr(G, "THRESHOLD", -1.0)                  # nothing can pass a negative threshold
    assert main(["gradcheck", "--models", "lr"]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_unknown_model_is_one_clear_line(capsys):
    assert main(["gradcheck", "--models", "deepfn"]) == 2
    err = capsys.readouterr().err
    assert "unknown model(s) deepfn" in err and "deepfm" in err and "Traceback" not in err


def test_demo_json(tmp_path, capsys):
    js = tmp_path / "r.json"
    rc = main(["demo", "--rows", "20000", "--epochs", "2", "--models", "lr,fm", "--no-progress",
               "--out", str(tmp_path), "--json", str(js)])
    assert rc == 0
    rep = json.loads(js.read_text())
    assert [r["model"] for r in rep["results"]] == ["lr", "fm"]
    for r in rep["results"]:
        assert 0.55 < r["auc"] < rep["teacher"]["auc"] and r["logloss"] > rep["teacher"]["logloss"]
    assert 0.5 < rep["teacher"]["auc"] <= 1 and rep["teacher"]["logloss"] > 0
    assert (tmp_path / "learning_curves.png").stat().st_size > 1000
    assert "teacher (Bayes-optimal)" in capsys.readouterr().out


def test_module_help_lists_commands():
    out = subprocess.run([sys.executable, "-m", "deepfm_np", "--help"], capture_output=True, text=True, check=True)
    for cmd in ("demo", "gradcheck"):
        assert cmd in out.stdout
