"""What the training loop costs on top of its steps: train.train's epoch against bare steps, in one run.

Same model, same data, same batch size, same optimizer settings (the CLI's, train.default_config), same
thread count, alternating rounds:

    steps   the batches the step itself serves (step.batches: for the fused FM step the data set's arrays
            and the row numbers of the batch, which the kernel reads in place; for DeepFM the rows copied
            out by iter_batches) are drawn beforehand, not timed; then, timed, each one goes through the
            step (models.step.make_step: forward, loss, backward, update) back to back;
    loop    one epoch of train.train configured as `python -m deepfm_np train` configures it after reading
            the files (default_config: per-model optimizer, lr and L2; a progress bar, here drawn live to a
            discarding terminal, which is the costlier case; validation excluded from the timing as in the
            CLI): shuffling, batch assembly, the step, the divergence check, the running loss, the
            progress bookkeeping.

loop / steps samples/s is the fraction of the step speed the loop keeps (target >= 0.90). The loop's own
cost per batch is also measured directly ("loop cost"): the same epoch with the step replaced by one that
returns a constant loss (its batch generator kept), in microseconds per batch, at fixed threads and at
--threads auto (the CLI's default; there the tuner's bookkeeping and thread switches are included).

Why the steps are fed the step's own batches: the fused FM step reads its rows in place from the data set,
scattered over the whole array; batches copied out beforehand (untimed) would be contiguous and the same
step ~15% faster on them, but that copy is work the loop never does (and copying inside the loop costs
about what the scattered read does), so that reference would charge the loop for a gather it skips.
DeepFM (the paper configuration) and FM (the fused step) on synthetic Criteo-shaped rows.
"""
from __future__ import annotations

import contextlib
import sys
import time

import numpy as np

from benchmarks.common import loadavg, parser, save, setup, table


class _NullTerminal:
    """A stderr that says it is a terminal (so tqdm draws its bar, as in an interactive shell) and discards."""

    def write(self, s):
        return len(s)

    def flush(self):
        pass

    def isatty(self):
        return True


class _ConstantStep:
    """A step that serves the real step's batches but does no work: what is left is the loop's own cost."""

    def __init__(self, real):
        self.real, self.fused = real, real.fused

    def batches(self, data, batch_size, rng):
        return self.real.batches(data, batch_size, rng)

    def __call__(self, *batch):
        return 0.5


@contextlib.contextmanager
def _swapped(module, name, value):
    old = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, old)


def main(argv=None):
    p = parser("loop_overhead", __doc__)
    p.set_defaults(threads=1)
    p.add_argument("--rows", type=int, default=81_920)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args(argv)
    header = setup(args)
    import deepfm_np.train as train_module
    from deepfm_np.data.dataset import ArrayDataset
    from deepfm_np.experiments.synthetic import make_synthetic
    from deepfm_np.models.registry import build_model
    from deepfm_np.models.step import make_step
    from deepfm_np.optim import make_optimizer
    from deepfm_np.threads import set_threads
    from deepfm_np.train import default_config, train

    data = ArrayDataset.from_data(make_synthetic(20_480 if args.quick else args.rows, seed=0))
    rounds = 2 if args.quick else args.rounds
    B = 1024
    n_batches = -(-data.n // B)
    configs = {"deepfm": dict(embed_dim=10, hidden=(400, 400, 400), keep_prob=0.5), "fm": dict(embed_dim=10)}

    def cli_config(name, threads):
        """The TrainConfig of `python -m deepfm_np train --model name --epochs 1 --patience 0 --threads t`."""
        return default_config(name, epochs=1, batch_size=B, patience=0, progress=True, threads=threads)

    def fresh(name):
        set_threads(args.threads)                                        # --threads auto may have moved it
        m = build_model(name, data.layout, seed=0, **configs[name])
        c = cli_config(name, args.threads)
        return m, make_optimizer(c.optimizer, m.params, sparse=m.sparse_params, lr=c.lr, l2_sparse=c.l2_embed)

    def steps(name):
        m, o = fresh(name)
        step = make_step(m, o, np.random.default_rng(1))
        batches = list(step.batches(data, B, np.random.default_rng(2)))   # drawn beforehand, not timed
        t = time.perf_counter()
        for b in batches:
            step(*b)
        return data.n / (time.perf_counter() - t)

    def loop(name, threads=None, constant=False):
        m, o = fresh(name)
        cfg = cli_config(name, args.threads if threads is None else threads)
        real = train_module.make_step
        fake = (lambda *a, **k: _ConstantStep(real(*a, **k))) if constant else real
        with _swapped(sys, "stderr", _NullTerminal()), _swapped(train_module, "make_step", fake):
            res = train(m, data, None, cfg, optimizer=o)
        return res.samples_per_second if not constant else res.train_seconds / n_batches * 1e6

    rows = []
    for name in configs:
        steps(name), loop(name)                                          # compile, warm up
        s, lp = [], []
        for r in range(rounds):
            for f, out in ((steps, s), (loop, lp)) if r % 2 == 0 else ((loop, lp), (steps, s)):
                out.append(f(name))
        # the loop's own cost: the least disturbed of a few epochs with a step that does nothing
        cost = min(loop(name, constant=True) for _ in range(3))
        cost_auto = min(loop(name, threads="auto", constant=True) for _ in range(3))
        ratio = float(np.median(np.array(lp) / np.array(s)))
        s_med, lp_med = float(np.median(s)), float(np.median(lp))
        rows.append({"model": name, "steps_samples_per_s": s_med, "loop_samples_per_s": lp_med,
                     "loop_vs_steps": ratio, "met": ratio >= 0.90,
                     "step_ms": B / s_med * 1e3, "loop_ms_per_batch": B / lp_med * 1e3,
                     "loop_cost_us": cost, "loop_cost_auto_us": cost_auto,
                     "steps_runs": s, "loop_runs": lp})
        print(f"{name}: steps {s_med:,.0f}, loop {lp_med:,.0f} samples/s, loop/steps {ratio:.2f}; loop cost "
              f"{cost:.1f} us/batch ({cost_auto:.1f} with --threads auto) (load {loadavg()[:1]})", flush=True)
    print()
    print(table(rows, [("model", "model", "{}"), ("steps_samples_per_s", "steps samples/s", "{:,.0f}"),
                       ("loop_samples_per_s", "train loop samples/s", "{:,.0f}"),
                       ("loop_vs_steps", "loop / steps", "{:.2f}"), ("step_ms", "step ms", "{:.2f}"),
                       ("loop_cost_us", "loop cost us/batch", "{:.1f}"),
                       ("loop_cost_auto_us", "with auto", "{:.1f}"), ("met", "target met", "{}")]))
    save(args, header, {"benchmark": "loop_overhead",
                        "config": {"batch": B, "rows": data.n, "rounds": rounds, "models": configs,
                                   "train_config": {n: {k: getattr(cli_config(n, args.threads), k)
                                                        for k in ("optimizer", "lr", "l2_embed", "progress")}
                                                    for n in configs}},
                        "rows": rows})


if __name__ == "__main__":
    main()
