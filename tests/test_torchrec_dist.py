"""scale-train: 2 processes, gloo on 127.0.0.1, TorchRec DMP; and its one-line errors (extra `scale`).

Each run: `train` fits the preprocessing (1 epoch), then `scale-train --fresh` trains the same model
from its seeded initial parameters for one epoch on 2 processes with Adagrad. The single-process
reference is deepfm_np's own train() from the same fresh model, same optimizer, lr, batch and epochs,
over SEEDS (init, shuffling and dropout): the 2-process test AUC must lie within 3 standard deviations
of the single-process seeds' mean AUC (the seed noise; benchmarks/torchrec_scale.py measures it on both
sides). Measured: synthetic 0.7868 vs 0.7883 +- 0.0136, Criteo sample 0.7178 vs 0.7234 +- 0.0030.
"""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch", reason="extra `scale` not installed (torch==2.13.0)")
pytest.importorskip("torchrec", reason="extra `scale` not installed (torchrec==1.8.0, fbgemm-gpu-cpu==1.8.0)")

from deepfm_np.cli import main  # noqa: E402
from deepfm_np.commands.options import open_data  # noqa: E402
from deepfm_np.data import encode  # noqa: E402
from deepfm_np.data.dataset import ArrayDataset  # noqa: E402
from deepfm_np.model_file import load_model  # noqa: E402
from deepfm_np.models.registry import SPECS  # noqa: E402
from deepfm_np.train import TrainConfig, evaluate, train  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fixtures.fake_data import criteo_rows, write_criteo  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CRITEO = ROOT.parent / "shared" / "data" / "criteo_sample"
SEEDS = (0, 1, 2, 3, 4)
SETTINGS = dict(optimizer="adagrad", lr=0.01, batch_size=256, epochs=1)


def signal_rows(n, seed):
    """Made-up Criteo rows whose label depends on five categorical columns (an AUC well above 0.5)."""
    rows = criteo_rows(n, seed=seed, n_values=20, missing=0.05)
    effect = np.random.default_rng(99).normal(0, 1.2, size=(5, 20))      # the same teacher for every file
    rng = np.random.default_rng(seed + 1000)
    for r in rows:
        z = -1.0
        for j in range(5):
            v = r[14 + j]
            z += effect[j, (int(v, 16) - j * 7919) % 20] if v else 0.0
        r[0] = "1" if rng.random() < 1 / (1 + np.exp(-z)) else "0"
    return rows


def run_cli(args, timeout=240):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "deepfm_np", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=timeout)


def single_process_aucs(model_path, train_path, test_path):
    """deepfm_np's train() from the fresh model at each seed, the same settings -> test AUCs."""
    saved = load_model(model_path)
    read = lambda p: (lambda d: ArrayDataset(d.idx, d.val, d.y, d.layout, validate=False))(  # noqa: E731
        encode(open_data(saved.reader, p), saved.encoder))
    tr, te = read(train_path), read(test_path)
    out = []
    for s in SEEDS:
        m = saved.model
        fresh = SPECS[m.name].build(m.layout, dtype=m.dtype, **dict(m.config, seed=s))
        train(fresh, tr, None, TrainConfig(epochs=SETTINGS["epochs"], batch_size=SETTINGS["batch_size"],
                                           optimizer=SETTINGS["optimizer"], lr=SETTINGS["lr"], patience=0,
                                           seed=s, progress=False))
        out.append(evaluate(fresh, te)["auc"])
    return np.array(out)


def two_process_run(tmp_path, train_path, test_path, valid_path=None, name="deepfm"):
    model = tmp_path / "start.npz"
    assert main(["train", "--format", "criteo", "--train", str(train_path), "--model", name, "--out", str(model),
                 "--epochs", "1", "--hidden", "32,32", "--embed-dim", "8", "--no-progress", "--threads", "1"]) == 0
    out, res = tmp_path / "scaled.npz", tmp_path / "scale.json"
    args = ["scale-train", "--model", str(model), "--train", str(train_path), "--test", str(test_path),
            "--out", str(out), "--world-size", "2", "--fresh", "--seed", "0", "--json", str(res),
            "--timeout", "200", "--optimizer", SETTINGS["optimizer"], "--lr", str(SETTINGS["lr"]),
            "--batch-size", str(SETTINGS["batch_size"]), "--epochs", str(SETTINGS["epochs"])]
    if valid_path:
        args += ["--valid", str(valid_path)]
    proc = run_cli(args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return model, out, json.loads(res.read_text()), proc.stdout


def check_run(model, out, result, stdout, train_path, test_path):
    ranks = {r for p in result["plan"].values() for r in p["ranks"]}
    assert ranks == {0, 1}                                                  # tables on both ranks
    assert "sharding plan" in stdout and "on rank(s) [1]" in stdout
    assert result["parity_before_training"] < 1e-5                          # TorchRec forward == predict
    assert result["parity_after_gather"] < 1e-5                             # the written file == TorchRec
    import torch
    for r in (0, 1):                                                        # each rank checkpointed its part
        state = torch.load(Path(result["checkpoints"]) / "epoch1" / f"rank{r}.pt", weights_only=False)
        assert set(state) == {"epoch", "tables", "table_optimizer", "dense", "dense_optimizer"}
        owned = {t for t, p in result["plan"].items() if r in p["ranks"]}
        assert {t for t, pieces in state["tables"].items() if pieces} == owned
    ev = run_cli(["evaluate", "--model", str(out), "--data", str(test_path), "--json", str(out) + ".eval.json"])
    assert ev.returncode == 0, ev.stderr
    assert json.loads(Path(str(out) + ".eval.json").read_text())["auc"] == pytest.approx(result["test"]["auc"],
                                                                                          abs=1e-4)
    single = single_process_aucs(model, train_path, test_path)
    noise = single.std(ddof=1)
    auc2 = result["test"]["auc"]
    print(f"2-process test AUC {auc2:.4f}; single-process over seeds {SEEDS}: {single.round(4)} "
          f"(mean {single.mean():.4f}, sd {noise:.4f})")
    # one 2-process run against the mean of n single-process runs: the difference has sd noise * sqrt(1 + 1/n)
    assert abs(auc2 - single.mean()) <= 3 * noise * np.sqrt(1 + 1 / len(SEEDS)), (auc2, single)


def test_two_processes_on_a_synthetic_file(tmp_path):
    train_path = write_criteo(tmp_path / "train.txt", signal_rows(3000, seed=1))
    test_path = write_criteo(tmp_path / "test.txt", signal_rows(1000, seed=2))
    model, out, result, stdout = two_process_run(tmp_path, train_path, test_path)
    assert result["test"]["auc"] > 0.6                                      # it learned the teacher
    check_run(model, out, result, stdout, train_path, test_path)


@pytest.mark.skipif(not CRITEO.is_dir(), reason="shared Criteo sample absent (../shared/data/criteo_sample)")
def test_two_processes_on_the_criteo_sample(tmp_path):
    model, out, result, stdout = two_process_run(tmp_path, CRITEO / "train.txt", CRITEO / "test.txt",
                                                 CRITEO / "dev.txt")
    assert result["valid"]["rows"] == 409 and result["test"]["rows"] == 391
    check_run(model, out, result, stdout, CRITEO / "train.txt", CRITEO / "test.txt")


# ---- one-line errors -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("scale_err")
    train_path = write_criteo(d / "train.txt", criteo_rows(300, seed=3))
    assert main(["train", "--format", "criteo", "--train", str(train_path), "--model", "fm", "--out",
                 str(d / "m.npz"), "--epochs", "1", "--embed-dim", "4", "--no-progress", "--threads", "1"]) == 0
    return d, train_path


def _one_line_error(proc, *needles):
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr[-2000:]
    for n in needles:
        assert n in lines[0], lines[0]


def test_port_in_use(small_model):
    d, train_path = small_model
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        proc = run_cli(["scale-train", "--model", str(d / "m.npz"), "--train", str(train_path), "--out",
                        str(d / "o.npz"), "--port", str(port)])
    _one_line_error(proc, f"port {port}", "in use")


def test_world_size_larger_than_the_data(small_model):
    d, train_path = small_model
    one = write_criteo(d / "one.txt", criteo_rows(1, seed=4))
    proc = run_cli(["scale-train", "--model", str(d / "m.npz"), "--train", str(train_path), "--test", str(one),
                    "--out", str(d / "o.npz"), "--world-size", "2", "--timeout", "200"])
    _one_line_error(proc, "world size 2 is larger than the data", "one.txt", "1 rows")
    assert not (d / "o.npz").exists()


def test_extra_missing(small_model):
    d, train_path = small_model
    block = ("import sys, importlib.abc\n"
             "class Block(importlib.abc.MetaPathFinder):\n"
             "    def find_spec(self, name, path=None, target=None):\n"
             "        if name.split('.')[0] == 'torchrec': raise ImportError('No module named torchrec')\n"
             "sys.meta_path.insert(0, Block())\n"
             "from deepfm_np.cli import main\n"
             f"sys.exit(main(['scale-train', '--model', {str(d / 'm.npz')!r}, '--train', {str(train_path)!r}, "
             f"'--out', {str(d / 'o.npz')!r}]))\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True, env=env, cwd=ROOT)
    _one_line_error(proc, "needs the extra `scale`", "torchrec", "pip install")


def test_one_step_equals_one_process_on_the_global_batch(tmp_path):
    """Loss and gradient scaling: one SGD step of 2 processes (200 rows each; tables fused, MLP under DDP)
    moves every parameter as one PyTorch process's step on all 400 rows (no dropout: keep_prob 1)."""
    import torch
    from deepfm_np.export import to_torch
    from deepfm_np.export.torch_module import from_torch
    train_path = write_criteo(tmp_path / "train.txt", signal_rows(400, seed=5))
    model = tmp_path / "start.npz"
    assert main(["train", "--format", "criteo", "--train", str(train_path), "--model", "deepfm", "--out", str(model),
                 "--epochs", "1", "--hidden", "16", "--embed-dim", "4", "--keep-prob", "1.0", "--no-progress",
                 "--threads", "1"]) == 0
    out = tmp_path / "stepped.npz"
    proc = run_cli(["scale-train", "--model", str(model), "--train", str(train_path), "--out", str(out),
                    "--world-size", "2", "--optimizer", "sgd", "--lr", "0.5", "--batch-size", "400",
                    "--timeout", "200"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    saved = load_model(model)
    d = encode(open_data(saved.reader, train_path), saved.encoder)
    module = to_torch(saved)
    opt = torch.optim.SGD(module.parameters(), lr=0.5)
    torch.nn.functional.binary_cross_entropy_with_logits(module(d.idx, d.val), torch.from_numpy(d.y)).backward()
    opt.step()
    expected, got = from_torch(module), load_model(out).model.params
    moved = 0
    for k, v in expected.items():
        np.testing.assert_allclose(got[k], v, rtol=1e-5, atol=1e-6, err_msg=k)
        moved += int((v != saved.model.params[k]).any())
    assert moved == len(expected)                                          # every parameter took the step
