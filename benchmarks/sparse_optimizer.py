"""Sparse optimizer step time against table size: only the touched rows (and their state) move.

One step = opt.step({"V": SparseGrad(rows, values)}) with U = 5,000 unique rows (what a Criteo-shaped
batch of 1,024 touches) of a K = 10 float32 table of R rows, R from 1e4 to 1e7. The rows are drawn
uniformly from the whole table, fresh for every step, so a large table is read where it is cold
(cache and TLB misses included): the worst case for "flat". Lazy Adam, Adagrad, FTRL and SGD.
A dense update of the same table is timed at each size for contrast, and so is the memory floor:
merely reading the touched rows of the table and of Adam's m and v (kernels.gather_rows, no
arithmetic). When the table outgrows the caches that floor grows, and no row update can beat it.
"""
from __future__ import annotations

import numpy as np

from benchmarks.common import parser, save, setup, summary, table, timeit


def main(argv=None):
    args = parser("sparse_optimizer", __doc__).parse_args(argv)
    header = setup(args)
    from deepfm_np.kernels.rows import gather_rows
    from deepfm_np.optim import make_optimizer
    from deepfm_np.sparse import SparseGrad

    K, U = 10, 5000
    sizes = [10_000, 100_000, 1_000_000, 10_000_000]
    names = ["adam", "adagrad", "ftrl", "sgd"]
    steps = 10 if args.quick else 40
    rng = np.random.default_rng(0)
    rows = []
    for R in sizes:
        row = {"rows": R, "touched": U, "table_mb": R * K * 4 / 2**20}
        for name in names:
            V = (rng.standard_normal((R, K)) * 0.01).astype(np.float32)
            opt = make_optimizer(name, {"V": V}, sparse={"V"}, lr=1e-3)
            grads = [SparseGrad(np.sort(rng.choice(R, U, replace=False)).astype(np.int64),
                                rng.standard_normal((U, K)).astype(np.float32)) for _ in range(steps)]
            i = [0]

            def step():
                opt.step({"V": grads[i[0] % steps]})
                i[0] += 1
            step()
            s = summary(timeit(step, steps - 1))
            row[f"{name}_ms"], row[f"{name}_ms_median"] = s["min"] * 1e3, s["median"] * 1e3
            if name == "adam":                                      # the memory floor: read the rows, no math
                st = opt.state["V"]
                j = [0]

                def read_rows():
                    r_ = grads[j[0] % steps].rows
                    j[0] += 1
                    for a in (V, st["m"], st["v"]):
                        gather_rows(a, r_, out=buf)
                buf = np.empty((U, K), np.float32)
                read_rows()
                row["read_rows_ms"] = summary(timeit(read_rows, steps - 1))["min"] * 1e3
            del V, opt, grads
        if R <= 1_000_000:                                          # dense Adam over the whole table
            V = np.zeros((R, K), np.float32)
            opt = make_optimizer("adam", {"V": V}, sparse=(), lr=1e-3)
            g = np.ones_like(V)
            row["dense_adam_ms"] = summary(timeit(lambda: opt.step({"V": g}), 3))["min"] * 1e3
            del V, opt, g
        rows.append(row)
        print(f"R={R:,}: " + ", ".join(f"{n} {row[n + '_ms']:.3f} ms" for n in names), flush=True)
    base = rows[0]
    for r in rows:
        for n in names:
            r[f"{n}_vs_1e4"] = r[f"{n}_ms"] / base[f"{n}_ms"]
        r["read_rows_vs_1e4"] = r["read_rows_ms"] / base["read_rows_ms"]
    print()
    print(table(rows, [("rows", "table rows", "{:,}"), ("table_mb", "MB", "{:,.0f}")]
                + [(f"{n}_ms", f"{n} ms", "{:.3f}") for n in names]
                + [("adam_vs_1e4", "adam / 1e4", "{:.2f}"), ("read_rows_ms", "read rows ms", "{:.3f}"),
                   ("read_rows_vs_1e4", "read / 1e4", "{:.2f}"), ("dense_adam_ms", "dense adam ms", "{:.1f}")]))
    save(args, header, {"benchmark": "sparse_optimizer", "config": {"K": K, "touched_rows": U, "dtype": "float32"},
                        "rows": rows})


if __name__ == "__main__":
    main()
