"""The FM pair term: Rendle's O(F K) identity against the O(F^2 K) loop over field pairs.

    fast   layers.fm_forward:     1/2 sum_k [(sum_i e_ik)^2 - sum_i e_ik^2]
    naive  layers.fm_pairs_naive: sum_{i<j} <e_i, e_j>
B = 1024 rows, K = 10, float32, F from 4 to 256 fields.
"""
from __future__ import annotations

import numpy as np

from benchmarks.common import parser, save, setup, summary, table, timeit


def main(argv=None):
    args = parser("fm_term", __doc__).parse_args(argv)
    header = setup(args)
    from deepfm_np.layers import fm_forward, fm_pairs_naive

    B, K = 1024, 10
    rng = np.random.default_rng(0)
    rows = []
    for F in (4, 8, 16, 39, 64, 128, 256):
        E = rng.standard_normal((B, F, K)).astype(np.float32)
        fast, naive = fm_forward(E)[0], fm_pairs_naive(E)
        err = float(np.max(np.abs(fast - naive) / (np.abs(naive) + np.abs(E).sum(axis=(1, 2)))))
        tf = summary(timeit(lambda: fm_forward(E), 5, 5))
        tn = summary(timeit(lambda: fm_pairs_naive(E), 3 if F <= 64 else 1, 1))
        rows.append({"fields": F, "pairs": F * (F - 1) // 2, "fast_ms": tf["min"] * 1e3, "naive_ms": tn["min"] * 1e3,
                     "speedup": tn["min"] / tf["min"], "max_rel_diff": err})
    print(table(rows, [("fields", "F", "{}"), ("pairs", "pairs", "{:,}"), ("fast_ms", "O(FK) ms", "{:.3f}"),
                       ("naive_ms", "pair loop ms", "{:.2f}"), ("speedup", "speedup", "{:.0f}x"),
                       ("max_rel_diff", "max rel diff", "{:.1e}")]))
    save(args, header, {"benchmark": "fm_term", "config": {"batch": B, "K": K, "dtype": "float32"}, "rows": rows})


if __name__ == "__main__":
    main()
