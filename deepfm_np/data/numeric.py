"""The two ways a numeric column becomes a field: buckets (categorical) or a scaled value.

Bucket mode (Criteo style; the winning Kaggle solution's rule, used by many CTR papers)
-------------------------------------------------------------------------------------
A number is replaced by the id of a bucket, and the bucket is an ordinary
categorical value with its own embedding:

    code(v) = 0                          v missing (empty, NaN, inf)
              1                          v < 0         (all negatives share one bucket)
              2 / 4 / 6                  v == 0 / 1 / 2
              3 / 5                      0 < v < 1 / 1 < v < 2   (non-integers)
              7 + floor(ln(v)^2)         v > 2

Counts 0, 1 and 2 are frequent and mean different things, so each keeps a
bucket of its own instead of sharing the floor(ln(v)^2) = 0 bucket with
2 < v < e; larger counts get buckets of growing width. Codes are then
counted and numbered like any categorical value (`vocab.IntVocab`).

Value mode (the DeepFM paper's continuous fields: e_i = V_i * x_i)
-------------------------------------------------------------------
The field has 2 rows: local 0 for "missing" (val 1.0, so missingness gets a
learned embedding of its own) and local 1 for "present", whose val scales
the row's embedding and first-order weight:

    x = sign(v) * ln(1 + |v|)

The log keeps counts in the thousands from swamping the dot products (a
count of 10,000 becomes 9.2), and is odd so negatives stay negative.
"""
from __future__ import annotations

import numpy as np

N_SMALL_CODES = 7  # codes 0..6 are the special buckets above; floor(ln(v)^2) starts at 7

BUCKET_NAMES = {0: "missing", 1: "negative", 2: "0", 3: "(0,1)", 4: "1", 5: "(1,2)", 6: "2"}


def bucket_codes(x: np.ndarray) -> np.ndarray:
    """Bucket code of each value.  x (n,) float (NaN = missing) -> (n,) int64."""
    x = np.asarray(x, dtype=np.float64)
    code = np.zeros(x.shape[0], dtype=np.int64)          # 0: missing unless set below
    finite = np.isfinite(x)
    code[finite & (x < 0)] = 1
    code[x == 0] = 2
    code[(x > 0) & (x < 1)] = 3
    code[x == 1] = 4
    code[(x > 1) & (x < 2)] = 5
    code[x == 2] = 6
    big = finite & (x > 2)
    code[big] = N_SMALL_CODES + np.floor(np.log(x[big]) ** 2).astype(np.int64)
    return code


def bucket_name(code: int) -> str:
    """Human-readable bucket, e.g. for printing a vocabulary."""
    code = int(code)
    if code in BUCKET_NAMES:
        return BUCKET_NAMES[code]
    b = code - N_SMALL_CODES
    lo, hi = np.exp(np.sqrt(b)), np.exp(np.sqrt(b + 1))
    return f"floor(ln(v)^2)={b} (v in [{max(lo, 2.0):.4g}, {hi:.4g}))"


def value_encode(x: np.ndarray):
    """Local ids and values of a numeric field kept as a value.

    x (n,) float (NaN/inf = missing) -> (local (n,) int64 in {0, 1}, val (n,) float32):
      missing -> (0, 1.0);  present -> (1, sign(x) * log1p(|x|))
    """
    x = np.asarray(x, dtype=np.float64)
    present = np.isfinite(x)
    local = present.astype(np.int64)
    xs = np.where(present, x, 0.0)
    val = np.where(present, np.sign(xs) * np.log1p(np.abs(xs)), 1.0)
    return local, val.astype(np.float32)
