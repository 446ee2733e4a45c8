"""deepfm_np against an idiomatic PyTorch DeepFM: samples/second and test AUC after one epoch.

The PyTorch model is written here the way the popular DeepFM libraries write it: nn.Embedding tables
(one shared V of K = 10 and a first-order table), the FM term from the sum/square identity, an
nn.Sequential MLP 400-400-400 with ReLU and nn.Dropout(0.5), BCE-with-logits, and torch.optim.Adam
over all parameters (dense gradients: every step updates every row of the tables and their moments).
deepfm_np uses its own training loop (train.train) with lazy Adam on the touched rows.
PyTorch's MLP is initialised like deepfm_np's (He-normal hidden layers, Glorot-normal output, zero
layer biases; MATCH_INIT) and its output bias starts at the training base rate's log-odds, as train.train
starts deepfm_np's. With PyTorch's default init the two models differ by the init scheme alone, which moved the one-epoch test AUC by ~0.002-0.004; with the same scheme the AUCs agree to ~1e-4,
so the comparison isolates the implementation.

Same data (synthetic, Criteo-shaped: 13 numeric + 26 categorical fields), same batch 1024, same
thread count (torch.set_num_threads / deepfm_np.threads.set_threads), float32, one epoch each, then
test AUC. Two vocabularies: small (~30k table rows) and Criteo-sized (~1.2M rows).

Each training run is its own subprocess (PyTorch's and NumPy's thread pools never share a process),
and the contenders alternate over rounds: samples/s is reported as the best round (and the median);
the AUC comes from the first round (both runs are seeded). Each round also times the MLP's matrix
products alone (the bound of train_throughput): bound / PyTorch is the largest speedup any DeepFM
implementation could show against this PyTorch model on this machine. torch is optional: without it the
benchmark says so and writes only deepfm_np's figures.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import parser, save, setup, table

VOCABS = {"small": 7_000, "criteo": 400_000}      # largest field vocabulary (log-spaced from 10)
K, HIDDEN, KEEP, BATCH, LR = 10, (400, 400, 400), 0.5, 1024, 1e-3
MATCH_INIT = True   # initialise PyTorch's MLP like deepfm_np's, so the AUC compares implementations only


# ----------------------------------------------------------------------------------------------------
# the PyTorch DeepFM (only imported in the torch worker)
# ----------------------------------------------------------------------------------------------------

def torch_model(n_rows, n_fields):
    import torch
    from torch import nn

    class DeepFM(nn.Module):
        def __init__(self):
            super().__init__()
            self.V = nn.Embedding(n_rows, K)
            self.w = nn.Embedding(n_rows, 1)
            nn.init.normal_(self.V.weight, std=0.01)          # as deepfm_np (init_std=0.01)
            nn.init.zeros_(self.w.weight)
            self.bias = nn.Parameter(torch.zeros(1))
            layers, d = [], n_fields * K
            for h in HIDDEN:
                layers += [nn.Linear(d, h), nn.ReLU(), nn.Dropout(1 - KEEP)]
                d = h
            layers.append(nn.Linear(d, 1))
            self.mlp = nn.Sequential(*layers)
            if MATCH_INIT:                                     # deepfm_np's MLP.init_params scheme
                lin = [m for m in self.mlp if isinstance(m, nn.Linear)]
                for i, m in enumerate(lin):
                    fan_in, fan_out = m.in_features, m.out_features
                    std = (2.0 / fan_in) ** 0.5 if i < len(lin) - 1 else (2.0 / (fan_in + fan_out)) ** 0.5
                    nn.init.normal_(m.weight, std=std)
                    nn.init.zeros_(m.bias)

        def forward(self, idx, val):
            E = self.V(idx) * val.unsqueeze(-1)                        # (B, F, K)
            y1 = (self.w(idx).squeeze(-1) * val).sum(1) + self.bias    # first order
            S = E.sum(1)
            y2 = 0.5 * (S * S - (E * E).sum(1)).sum(1)                 # FM pairs
            y3 = self.mlp(E.flatten(1)).squeeze(-1)                    # DNN
            return y1 + y2 + y3
    return DeepFM()


def run_torch(d, threads, seed=0):
    import torch
    import torch.nn.functional as Fn
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    from deepfm_np.metrics import auc
    tr_idx, tr_val, tr_y = (torch.from_numpy(d[k]) for k in ("tr_idx", "tr_val", "tr_y"))
    model = torch_model(int(d["n_rows"]), tr_idx.shape[1])
    rate = float(d["tr_y"].mean())                 # train.train starts deepfm_np's output bias at the base
    with torch.no_grad():                          # rate's log-odds (TrainConfig.bias_init): so does this one
        model.bias.fill_(float(np.log(rate / (1.0 - rate))))
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    perm = torch.from_numpy(np.random.default_rng(seed).permutation(tr_idx.shape[0]))
    model.train()
    t0 = time.perf_counter()
    for s in range(0, perm.shape[0], BATCH):
        rows = perm[s:s + BATCH]
        logits = model(tr_idx[rows], tr_val[rows])
        loss = Fn.binary_cross_entropy_with_logits(logits, tr_y[rows])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    seconds = time.perf_counter() - t0
    model.eval()
    with torch.no_grad():
        te_idx, te_val = torch.from_numpy(d["te_idx"]), torch.from_numpy(d["te_val"])
        p = torch.cat([torch.sigmoid(model(te_idx[s:s + 8192], te_val[s:s + 8192]))
                       for s in range(0, te_idx.shape[0], 8192)]).numpy()
    return {"seconds": seconds, "samples_per_s": perm.shape[0] / seconds,
            "test_auc": auc(d["te_y"], p.astype(np.float64)), "torch": torch.__version__}


def run_numpy(d, threads, seed=0):
    from deepfm_np.data.dataset import ArrayDataset
    from deepfm_np.fields import FieldLayout
    from deepfm_np.models.registry import build_model
    from deepfm_np.threads import set_threads
    from deepfm_np.train import TrainConfig, evaluate, train
    set_threads(threads)
    layout = FieldLayout.from_dict(json.loads(str(d["layout"])))
    tr = ArrayDataset(d["tr_idx"], d["tr_val"], d["tr_y"], layout, validate=False)
    te = ArrayDataset(d["te_idx"], d["te_val"], d["te_y"], layout, validate=False)
    model = build_model("deepfm", layout, embed_dim=K, hidden=HIDDEN, keep_prob=KEEP, seed=seed)
    res = train(model, tr, None, TrainConfig(epochs=1, batch_size=BATCH, lr=LR, optimizer="adam", seed=seed,
                                             progress=False, patience=0))
    return {"seconds": res.train_seconds, "samples_per_s": res.samples_per_second,
            "test_auc": evaluate(model, te)["auc"]}


def run_bound(d, threads, steps=20):
    """samples/s of the MLP's matrix products alone at batch 1024 (train_throughput.matmul_only)."""
    from benchmarks.common import timeit
    from benchmarks.train_throughput import matmul_only
    from deepfm_np.threads import set_threads
    set_threads(threads)
    mm = matmul_only(BATCH, d["tr_idx"].shape[1] * K, HIDDEN, np.random.default_rng(0))
    mm()
    return {"samples_per_s": BATCH / min(timeit(mm, steps))}


def worker(argv):
    who, path, threads = argv[0], argv[1], int(argv[2])
    d = dict(np.load(path, allow_pickle=False))
    out = {"torch": run_torch, "numpy": run_numpy, "bound": run_bound}[who](d, threads)
    print("RESULT " + json.dumps(out))


# ----------------------------------------------------------------------------------------------------
# the driver
# ----------------------------------------------------------------------------------------------------

def make_data(vocab_hi, n_train, n_test, path):
    from deepfm_np.experiments.synthetic import make_synthetic, split
    data = make_synthetic(n_train + n_test, seed=0, vocab_range=(10, vocab_hi))
    tr, te = split(data, (n_train / (n_train + n_test), n_test / (n_train + n_test)), seed=0)
    np.savez(path, tr_idx=tr.idx, tr_val=tr.val.astype(np.float32), tr_y=tr.y.astype(np.float32),
             te_idx=te.idx, te_val=te.val.astype(np.float32), te_y=te.y.astype(np.float32),
             n_rows=np.int64(data.layout.n_rows), layout=json.dumps(data.layout.to_dict()))
    return data.layout.n_rows


def spawn(who, path, threads):
    cmd = [sys.executable, "-m", "benchmarks.vs_torch", "--worker", who, str(path), str(threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    if out.returncode != 0:
        raise RuntimeError(f"{who} worker failed:\n{out.stderr[-3000:]}")
    line = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        return worker(argv[1:])
    p = parser("vs_torch", __doc__)
    p.add_argument("--rounds", type=int, default=2, help="alternating training runs per contender")
    p.add_argument("--also-threads", type=int, nargs="*", default=[1],
                   help="other thread counts measured in the same run (default: 1)")
    p.add_argument("--train-rows", type=int, default=150_000)
    p.add_argument("--test-rows", type=int, default=50_000)
    args = p.parse_args(argv)
    header = setup(args)
    try:
        import torch  # noqa: F401
        have_torch = True
    except ImportError:
        have_torch = False
        print("torch is not installed: only deepfm_np is measured (pip install torch to compare)")
    if args.quick:
        args.rounds, args.train_rows, args.test_rows = 1, 40_000, 20_000
    thread_counts = [args.threads] + [t for t in args.also_threads if t != args.threads]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, hi in VOCABS.items():
            path = Path(tmp) / f"{name}.npz"
            n_rows = make_data(hi, args.train_rows, args.test_rows, path)
            runs = {(t, who): [] for t in thread_counts for who in ("deepfm_np", "torch", "bound")}
            for r in range(args.rounds):
                for t in thread_counts:
                    order = ["deepfm_np", "torch"] if r % 2 == 0 else ["torch", "deepfm_np"]
                    for who in order + ["bound"]:
                        if who == "torch" and not have_torch:
                            continue
                        res = spawn({"deepfm_np": "numpy"}.get(who, who), path, t)
                        runs[(t, who)].append(res)
                        print(f"{name} ({n_rows:,} rows) round {r + 1}, {t} thread(s), {who}: "
                              f"{res['samples_per_s']:,.0f} samples/s"
                              + (f", test AUC {res['test_auc']:.4f}" if "test_auc" in res else ""), flush=True)
            for t in thread_counts:
                row = {"vocab": name, "threads": t, "table_rows": n_rows, "train_rows": args.train_rows,
                       "test_rows": args.test_rows}
                for who in ("deepfm_np", "torch", "bound"):
                    rs = runs[(t, who)]
                    if rs:
                        sps = [x["samples_per_s"] for x in rs]
                        row[f"{who}_samples_per_s"] = max(sps)
                        row[f"{who}_samples_per_s_median"] = float(np.median(sps))
                        if "test_auc" in rs[0]:
                            row[f"{who}_test_auc"] = rs[0]["test_auc"]
                        row[f"{who}_runs"] = rs
                if runs[(t, "torch")]:
                    row["speedup"] = row["deepfm_np_samples_per_s"] / row["torch_samples_per_s"]
                    row["speedup_median"] = row["deepfm_np_samples_per_s_median"] / row["torch_samples_per_s_median"]
                    row["auc_diff"] = row["deepfm_np_test_auc"] - row["torch_test_auc"]
                    # no DeepFM can beat its own matrix products: the largest speedup possible here
                    row["max_speedup_at_bound"] = row["bound_samples_per_s"] / row["torch_samples_per_s"]
                rows.append(row)
    print()
    print(table(rows, [("vocab", "vocabulary", "{}"), ("threads", "threads", "{}"), ("table_rows", "table rows", "{:,}"),
                       ("deepfm_np_samples_per_s", "deepfm_np samples/s", "{:,.0f}"),
                       ("torch_samples_per_s", "PyTorch samples/s", "{:,.0f}"), ("speedup", "speedup", "{:.2f}x"),
                       ("speedup_median", "(medians)", "{:.2f}x"),
                       ("max_speedup_at_bound", "max possible", "{:.2f}x"),
                       ("deepfm_np_test_auc", "deepfm_np AUC", "{:.4f}"), ("torch_test_auc", "PyTorch AUC", "{:.4f}"),
                       ("auc_diff", "AUC diff", "{:+.4f}")]))
    save(args, header, {"benchmark": "vs_torch",
                        "config": {"embed_dim": K, "hidden": list(HIDDEN), "keep_prob": KEEP, "batch": BATCH,
                                   "lr": LR, "epochs": 1, "dtype": "float32", "rounds": args.rounds,
                                   "torch": next((r["torch_runs"][0].get("torch") for r in rows if r.get("torch_runs")), None)},
                        "rows": rows})


if __name__ == "__main__":
    main()
