"""Scatter-add of per-occurrence row gradients (B*F, K) into one row per unique id: three ways.

    numba        kernels.scatter_add_rows: slot-of-row map, O(N + U log U), no N-long sort
    np.add.at    kernels.scatter_add_rows_numpy: np.unique + np.add.at (the textbook way)
    sort+reduce  kernels.scatter_add_rows_sort_numpy: stable argsort + np.add.reduceat
Ids are drawn like a Criteo batch: 39 fields of the synthetic data (Zipf-like per-field values), so
ids repeat within a batch as they do in real click logs. All three give the same sums (tests).
"""
from __future__ import annotations

import numpy as np

from benchmarks.common import parser, save, setup, summary, table, timeit


def main(argv=None):
    args = parser("scatter_add", __doc__).parse_args(argv)
    header = setup(args)
    from deepfm_np.kernels import rows as kn
    from deepfm_np.experiments.synthetic import make_synthetic

    data = make_synthetic(8192, seed=0)
    rng = np.random.default_rng(0)
    K = 10
    rounds = 3 if args.quick else 7
    fns = {"numba": kn.scatter_add_rows, "np.add.at": kn.scatter_add_rows_numpy,
           "sort+reduce": kn.scatter_add_rows_sort_numpy}
    rows = []
    for B in (256, 1024, 4096):
        idx = np.ascontiguousarray(data.idx[:B].reshape(-1))
        g = rng.standard_normal((idx.size, K)).astype(np.float32)
        ref = fns["np.add.at"](idx, g)
        for name, f in fns.items():                                    # same answer first
            r, s = f(idx, g)
            assert np.array_equal(r, ref[0]) and np.allclose(s, ref[1], rtol=1e-4, atol=1e-4), name
        t = {name: [] for name in fns}
        for _ in range(rounds):
            for name, f in fns.items():
                t[name] += timeit(lambda f=f: f(idx, g), 3, 5 if name != "np.add.at" else 2)
        st = {name: summary(v) for name, v in t.items()}
        row = {"batch": B, "fields": data.layout.n_fields, "K": K, "N": int(idx.size),
               "unique": int(ref[0].size)}
        for name in fns:
            row[f"{name}_ms"] = st[name]["min"] * 1e3
        row["speedup_vs_add_at"] = st["np.add.at"]["min"] / st["numba"]["min"]
        row["speedup_vs_sort"] = st["sort+reduce"]["min"] / st["numba"]["min"]
        row["speedup_vs_add_at_median"] = st["np.add.at"]["median"] / st["numba"]["median"]
        rows.append(row)
    print(table(rows, [("batch", "B", "{}"), ("N", "B*F", "{}"), ("unique", "U", "{}"),
                       ("numba_ms", "numba ms", "{:.3f}"), ("np.add.at_ms", "np.add.at ms", "{:.3f}"),
                       ("sort+reduce_ms", "sort+reduce ms", "{:.3f}"),
                       ("speedup_vs_add_at", "x vs add.at", "{:.1f}"), ("speedup_vs_sort", "x vs sort", "{:.1f}")]))
    save(args, header, {"benchmark": "scatter_add", "config": {"K": K, "dtype": "float32"}, "rows": rows})


if __name__ == "__main__":
    main()
