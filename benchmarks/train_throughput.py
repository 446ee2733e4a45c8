"""DeepFM training throughput against the bound set by its matrix products, in one run.

The paper configuration: 39 fields (13 numeric + 26 categorical, synthetic Criteo-shaped data),
K = 10, MLP 400-400-400 relu, dropout keep 0.5, float32, Adam, one shared table. A "step" is what the
training loop does per batch: slice a shuffled batch, forward, loss, backward, optimizer update.

The bound: the same MLP's matrix products alone, on preallocated float32 arrays of the same shapes
    forward   a_l @ W_l                        every layer (the output layer is a (H, 1) product)
    backward  a_l^T @ d_l   (dW)               every layer
              d_l @ W_l^T   (dx)               the hidden layers and the input (DeepFM needs dE)
Everything else in a step (gathers, FM, relu/dropout, loss, scatter-adds, Adam, batching, Python) is
overhead on top of it; fraction = bound time / step time. Each training step is followed at once by
one bound step, so every pair runs under the same load; the fraction reported first is the median of
the pairs' ratios (robust on a shared machine), then the ratio of the minima and of the medians.
"""
from __future__ import annotations

import numpy as np

from benchmarks.common import parser, save, setup, summary, table, timeit

HIDDEN = (400, 400, 400)
K = 10


def matmul_only(B, d_in, hidden, rng, dtype=np.float32):
    """A function doing the MLP's forward + backward matrix products for batch B, nothing else."""
    dims = [d_in, *hidden, 1]
    Ws = [rng.standard_normal((a, b)).astype(dtype) * 0.05 for a, b in zip(dims[:-1], dims[1:])]
    acts = [rng.standard_normal((B, d)).astype(dtype) for d in dims[:-1]]        # a_0 .. a_L-1
    douts = [rng.standard_normal((B, d)).astype(dtype) for d in dims[1:]]        # d_1 .. d_L
    outs = [np.empty((B, d), dtype) for d in dims[1:]]
    dWs = [np.empty_like(W) for W in Ws]
    dxs = [np.empty((B, d), dtype) for d in dims[:-1]]
    L = len(Ws)

    def run():
        for l in range(L):
            np.matmul(acts[l], Ws[l], out=outs[l])
        for l in reversed(range(L)):
            np.matmul(acts[l].T, douts[l], out=dWs[l])
            if l < L - 1:                                   # the output unit's dx is an outer product
                np.matmul(douts[l], Ws[l].T, out=dxs[l])
    return run


def gemm_orientations(B, H, rounds, dtype=np.float32):
    """ms of the four products of a (B, H) x (H, H) layer: is the transposed case (dW) slower here?"""
    rng = np.random.default_rng(4)
    x, d = rng.standard_normal((B, H)).astype(dtype), rng.standard_normal((B, H)).astype(dtype)
    W = rng.standard_normal((H, H)).astype(dtype)
    cases = {"x @ W (forward)": lambda: x @ W, "x.T @ d (dW)": lambda: x.T @ d,
             "(d.T @ x).T (dW)": lambda: (d.T @ x).T, "d @ W.T (dx)": lambda: d @ W.T}
    t = {k: [] for k in cases}
    for _ in range(rounds):
        for k, f in cases.items():
            t[k] += timeit(f, 3, 5)
    return {k: summary(v)["min"] * 1e3 for k, v in t.items()}


def main(argv=None):
    p = parser("train_throughput", __doc__)
    p.add_argument("--rounds", type=int, default=5, help="rounds over the thread counts (default: %(default)s)")
    p.add_argument("--batches", type=int, nargs="*", default=[256, 1024, 4096])
    p.add_argument("--also-threads", type=int, nargs="*", default=[1],
                   help="other thread counts measured in the same run, alternating (default: 1)")
    args = p.parse_args(argv)
    header = setup(args)
    from deepfm_np.threads import set_threads
    thread_counts = [args.threads] + [t for t in args.also_threads if t != args.threads]
    from deepfm_np.data.dataset import ArrayDataset
    from deepfm_np.losses import bce_with_logits
    from deepfm_np.models.registry import build_model
    from deepfm_np.optim import Adam
    from deepfm_np.experiments.synthetic import make_synthetic

    batches = tuple(args.batches)
    rounds = 3 if args.quick else args.rounds
    data = ArrayDataset.from_data(make_synthetic(40_960 if args.quick else 81_920, seed=0))
    F = data.layout.n_fields
    rows = []
    for B in batches:
        model = build_model("deepfm", data.layout, embed_dim=K, hidden=HIDDEN, activation="relu",
                            keep_prob=0.5, seed=0, dtype=np.float32)
        opt = Adam(model.params, sparse=model.sparse_params, lr=1e-3)
        shuffle_rng, drop_rng = np.random.default_rng(1), np.random.default_rng(2)
        steps = max(4, (8192 if args.quick else 16384) // B)
        it = [iter(())]

        def batch():
            for _ in range(2):
                try:
                    return next(it[0])
                except StopIteration:
                    it[0] = data.iter_batches(B, shuffle_rng, shuffle=True)
            raise RuntimeError("empty data set")

        def train_step():
            idx, val, y = batch()
            if len(y) < B:                                  # keep every timed step at the full batch
                idx, val, y = batch()
            logits = model.forward(idx, val, train=True, rng=drop_rng)
            _, dlogits = bce_with_logits(logits, y)
            opt.step(model.backward(dlogits))

        mm = matmul_only(B, F * K, HIDDEN, np.random.default_rng(3))
        for _ in range(3):                                  # warm up (compilation, caches, allocator)
            train_step(), mm()
        pairs = {t: [] for t in thread_counts}
        for _ in range(rounds):
            for t in thread_counts:
                set_threads(t)
                for _ in range(steps):                      # step and bound back to back, pair by pair
                    pairs[t].append((timeit(train_step, 1)[0], timeit(mm, 1)[0]))
        set_threads(args.threads)
        for t in thread_counts:
            ts, tm = (np.array(x) for x in zip(*pairs[t]))
            s, m = summary(ts), summary(tm)
            row = {"batch": B, "threads": t, "pairs": len(ts),
                   "step_ms": s["min"] * 1e3, "step_ms_median": s["median"] * 1e3,
                   "matmul_ms": m["min"] * 1e3, "matmul_ms_median": m["median"] * 1e3,
                   "samples_per_s": B / s["min"], "bound_samples_per_s": B / m["min"],
                   "samples_per_s_median": B / s["median"], "bound_samples_per_s_median": B / m["median"],
                   # each pair ran back to back, under the same load: the median of the pairs' ratios
                   "fraction_of_bound_paired": float(np.median(tm / ts)),
                   "fraction_of_bound": m["min"] / s["min"],
                   "fraction_of_bound_median": m["median"] / s["median"]}
            rows.append(row)
            print(f"batch {B}, {t} threads: step {row['step_ms']:.2f} ms, matmuls {row['matmul_ms']:.2f} ms, "
                  f"fraction (paired median) {row['fraction_of_bound_paired']:.2f}", flush=True)
    gemm = {}
    for t in thread_counts:
        set_threads(t)
        gemm[t] = gemm_orientations(1024, HIDDEN[0], rounds)
    set_threads(args.threads)
    print()
    print(table(rows, [("batch", "batch", "{}"), ("threads", "threads", "{}"), ("step_ms", "step ms (min)", "{:.2f}"),
                       ("step_ms_median", "(median)", "{:.2f}"), ("matmul_ms", "matmuls ms (min)", "{:.2f}"),
                       ("matmul_ms_median", "(median)", "{:.2f}"), ("samples_per_s", "samples/s", "{:,.0f}"),
                       ("bound_samples_per_s", "bound samples/s", "{:,.0f}"),
                       ("fraction_of_bound_paired", "fraction (paired)", "{:.2f}"),
                       ("fraction_of_bound", "(mins)", "{:.2f}"),
                       ("fraction_of_bound_median", "(medians)", "{:.2f}")]))
    save(args, header, {"benchmark": "train_throughput",
                        "config": {"model": "deepfm", "fields": F, "embed_dim": K, "hidden": list(HIDDEN),
                                   "activation": "relu", "keep_prob": 0.5, "dtype": "float32", "optimizer": "adam",
                                   "table_rows": data.layout.n_rows, "data_rows": data.n},
                        "rows": rows, "gemm_1024x400x400_ms": {str(t): g for t, g in gemm.items()}})
    print("\nGEMM orientations, B=1024, 400x400, float32 (ms, best of rounds):")
    for t, g in gemm.items():
        print(f"  {t} thread(s): " + ", ".join(f"{k} {v:.3f}" for k, v in g.items()))


if __name__ == "__main__":
    main()
