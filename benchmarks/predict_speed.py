"""Prediction rows/s: from a raw Criteo file (parsing and encoding included) and from encoded arrays,
beside PyTorch's DeepFM forward on the same arrays when torch is installed, in alternating rounds.

A Criteo-format file is written from the synthetic teacher (benchmarks.epoch_1m, not timed); FM and DeepFM
(paper configuration) are trained on it for one epoch by `python -m deepfm_np train` (not timed). Then,
timed, in rounds:

    raw       `python -m deepfm_np predict` run in this process (deepfm_np.cli.main): read the file,
              encode with the saved preprocessing, predict, write one probability per line
    arrays    model.predict_proba on the file's encoded idx / val (batch 8192)
    torch     the same DeepFM in PyTorch (benchmarks.vs_torch.torch_model, eval mode, no_grad), same
              arrays, same batch (DeepFM only)

One thread for everything (--threads). Ratios are medians over rounds of the per-round ratios.
"""
from __future__ import annotations

import importlib.util
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import loadavg, parser, save, setup, table


def main(argv=None):
    p = parser("predict_speed", __doc__)
    p.set_defaults(threads=1)
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    header = setup(args)
    from benchmarks.epoch_1m import write_criteo_file
    from deepfm_np.cli import main as cli
    from deepfm_np.model_file import load_model

    n = 20_000 if args.quick else args.rows
    rounds = 1 if args.quick else args.rounds
    have_torch = importlib.util.find_spec("torch") is not None
    rows = []
    with tempfile.TemporaryDirectory() as tmpd:
        tmp = Path(tmpd)
        data = tmp / "criteo.txt"
        write_criteo_file(data, n)
        th = str(args.threads)
        for model in ("fm", "deepfm"):
            mfile = tmp / f"{model}.npz"
            cli(["train", "--format", "criteo", "--train", str(data), "--model", model, "--epochs", "1",
                 "--no-progress", "--threads", th, "--out", str(mfile)])
            saved = load_model(mfile)
            idx, val = _encode_all(saved, data)
            tm = None
            if have_torch and model == "deepfm":
                tm = _torch_twin(saved.model, idx.shape[1])
            t = {"raw": [], "arrays": [], "torch": []}
            for r in range(rounds):
                t0 = time.perf_counter()
                cli(["predict", "--model", str(mfile), "--input", str(data), "--output", str(tmp / "p.txt"),
                     "--threads", th])
                t["raw"].append(n / (time.perf_counter() - t0))
                t0 = time.perf_counter()
                saved.model.predict_proba(idx, val, 8192)
                t["arrays"].append(len(idx) / (time.perf_counter() - t0))
                if tm is not None:
                    t["torch"].append(len(idx) / tm(idx, val))
            row = {"model": model, "rows": n, **{f"{k}_rows_per_s": float(np.median(v)) for k, v in t.items() if v}}
            if tm is not None:        # the same model: its probabilities agree with ours to float32 rounding
                row["torch_max_abs_diff"] = float(np.max(np.abs(tm.predict(idx[:8192], val[:8192])
                                                                - saved.model.predict_proba(idx[:8192], val[:8192]))))
            if t["torch"]:
                row["arrays_vs_torch"] = float(np.median(np.array(t["arrays"]) / np.array(t["torch"])))
            rows.append(row)
            print(f"{model}: " + ", ".join(f"{k} {np.median(v):,.0f}" for k, v in t.items() if v)
                  + f" rows/s (load {loadavg()[:1]})", flush=True)
    print()
    print(table(rows, [("model", "model", "{}"), ("raw_rows_per_s", "raw file rows/s", "{:,.0f}"),
                       ("arrays_rows_per_s", "encoded arrays rows/s", "{:,.0f}"),
                       ("torch_rows_per_s", "PyTorch rows/s", "{:,.0f}"),
                       ("arrays_vs_torch", "arrays / PyTorch", "{:.2f}")]))
    save(args, header, {"benchmark": "predict_speed", "config": {"rows": n, "rounds": rounds, "batch": 8192,
                                                                 "torch": have_torch}, "rows": rows})


def _encode_all(saved, path):
    """The whole file encoded with the saved preprocessing: idx (N, S) int64, val (N, S) float32."""
    from deepfm_np.commands.options import open_data
    parts = [saved.encoder.transform(ch) for ch in open_data(saved.reader, path).chunks()]
    return (np.concatenate([e.idx for e in parts]), np.concatenate([e.val for e in parts]))


def _torch_twin(model, n_slots):
    """A timing function for the same-shaped DeepFM in PyTorch (weights copied: same arithmetic)."""
    import torch
    from benchmarks.vs_torch import torch_model
    torch.set_num_threads(1)
    tm = torch_model(model.layout.n_rows, n_slots).eval()
    with torch.no_grad():
        tm.V.weight.copy_(torch.from_numpy(model.params["V"]))
        tm.w.weight.copy_(torch.from_numpy(model.params["w"]).unsqueeze(1))
        lin = [m for m in tm.mlp if isinstance(m, torch.nn.Linear)]
        for i, m in enumerate(lin):
            m.weight.copy_(torch.from_numpy(model.params[f"mlp.W{i}"]).T)
            m.bias.copy_(torch.from_numpy(model.params[f"mlp.b{i}"]))
        tm.bias.copy_(torch.from_numpy(model.params["w0"]))

    def predict(idx, val):
        with torch.no_grad():
            return torch.sigmoid(tm(torch.from_numpy(idx), torch.from_numpy(val))).double().numpy()

    def run(idx, val):
        ti, tv = torch.from_numpy(idx), torch.from_numpy(val)
        t0 = time.perf_counter()
        with torch.no_grad():
            for s in range(0, len(idx), 8192):
                torch.sigmoid(tm(ti[s:s + 8192], tv[s:s + 8192]))
        return time.perf_counter() - t0
    run.predict = predict
    return run


if __name__ == "__main__":
    main()
