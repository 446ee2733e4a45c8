"""What the training loop costs on top of its steps: train.train's epoch against bare steps, in one run.

Same model, same data, same batch size, same thread count, alternating rounds:

    steps   the batches are sliced out of the data set beforehand (not timed); then, timed, each one goes
            through the step the loop would use (models.step.make_step: forward, loss, backward, update)
            back to back - what benchmarks.train_throughput measures;
    loop    one epoch of train.train, which is what `python -m deepfm_np train` runs after reading the files:
            shuffling, batch assembly, the step, the divergence check, the running loss, the progress
            bookkeeping (no progress bar, no validation).

loop / steps samples/s is the fraction of the step speed the loop keeps (target >= 0.90). DeepFM (the paper
configuration) and FM (the fused step) on synthetic Criteo-shaped rows.
"""
from __future__ import annotations

import time

import numpy as np

from benchmarks.common import loadavg, parser, save, setup, table


def main(argv=None):
    p = parser("loop_overhead", __doc__)
    p.set_defaults(threads=1)
    p.add_argument("--rows", type=int, default=40_960)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    header = setup(args)
    from deepfm_np.data.dataset import ArrayDataset
    from deepfm_np.experiments.synthetic import make_synthetic
    from deepfm_np.models.registry import build_model
    from deepfm_np.optim import make_optimizer
    from deepfm_np.train import TrainConfig, train
    from deepfm_np.models.step import make_step

    data = ArrayDataset.from_data(make_synthetic(10_240 if args.quick else args.rows, seed=0))
    rounds = 1 if args.quick else args.rounds
    B = 1024
    configs = {"deepfm": dict(embed_dim=10, hidden=(400, 400, 400), keep_prob=0.5), "fm": dict(embed_dim=10)}

    def fresh(name):
        m = build_model(name, data.layout, seed=0, **configs[name])
        return m, make_optimizer("adam", m.params, sparse=m.sparse_params, lr=1e-3)

    def steps(name):
        m, o = fresh(name)
        step = make_step(m, o, np.random.default_rng(1))
        batches = list(data.iter_batches(B, np.random.default_rng(2), shuffle=True))   # sliced, not timed
        t = time.perf_counter()
        for b in batches:
            step(*b)
        return data.n / (time.perf_counter() - t)

    def loop(name):
        m, o = fresh(name)
        res = train(m, data, None, TrainConfig(epochs=1, batch_size=B, lr=1e-3, progress=False, patience=0),
                    optimizer=o)
        return res.samples_per_second

    rows = []
    for name in configs:
        steps(name), loop(name)                                          # compile, warm up
        s, lp = [], []
        for r in range(rounds):
            for f, out in ((steps, s), (loop, lp)) if r % 2 == 0 else ((loop, lp), (steps, s)):
                out.append(f(name))
        ratio = float(np.median(np.array(lp) / np.array(s)))
        rows.append({"model": name, "steps_samples_per_s": float(np.median(s)),
                     "loop_samples_per_s": float(np.median(lp)), "loop_vs_steps": ratio, "met": ratio >= 0.90})
        print(f"{name}: steps {np.median(s):,.0f}, loop {np.median(lp):,.0f} samples/s, loop/steps {ratio:.2f} "
              f"(load {loadavg()[:1]})", flush=True)
    print()
    print(table(rows, [("model", "model", "{}"), ("steps_samples_per_s", "steps samples/s", "{:,.0f}"),
                       ("loop_samples_per_s", "train loop samples/s", "{:,.0f}"),
                       ("loop_vs_steps", "loop / steps", "{:.2f}"), ("met", "target met", "{}")]))
    save(args, header, {"benchmark": "loop_overhead", "config": {"batch": B, "rows": data.n, "rounds": rounds,
                                                                 "models": configs},
                        "rows": rows})


if __name__ == "__main__":
    main()
