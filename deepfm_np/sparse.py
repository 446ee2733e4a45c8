"""The gradient of an embedding table as a list of rows.

A batch touches only U of the table's R rows, so the gradient of a table is
kept as (rows, values) instead of a dense (R, K) array. Duplicate ids in a
batch (the same user in two rows, or one row shared by two slots) must be
*summed* before the update: `V[idx] -= lr * g` with a repeated id silently
keeps only one of the gradients (NumPy's fancy assignment is last-write-wins).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .kernels.rows import scatter_add_rows


@dataclass
class SparseGrad:
    """Gradient of a table restricted to the rows a batch touched.

    rows   (U,) int64, unique (deterministic order)
    values (U, K) or (U,) same dtype as the table
    """

    rows: np.ndarray
    values: np.ndarray

    def to_dense(self, shape) -> np.ndarray:
        """Dense (R, K) or (R,) copy; for gradient checks and teaching, never for training."""
        out = np.zeros(shape, dtype=self.values.dtype)
        np.add.at(out, self.rows, self.values)
        return out

    def __add__(self, other: "SparseGrad") -> "SparseGrad":
        """Sum of two sparse gradients of the same table (e.g. FM path + DNN path)."""
        return rows_to_sparse(np.concatenate([self.rows, other.rows]),
                              np.concatenate([self.values, other.values]))


def rows_to_sparse(idx_flat: np.ndarray, row_grads: np.ndarray) -> SparseGrad:
    """Sum per-occurrence row gradients into one gradient per unique row.

    idx_flat  (N,)  int64 row ids, may repeat
    row_grads (N, K) or (N,)
    returns SparseGrad with U <= N rows, sorted ascending

    Uses the Numba kernel kernels.scatter_add_rows (O(N + U log U), bit-identical to np.add.at).
    Non-contiguous inputs (a slice, a transpose) are copied to contiguous ones first.
    """
    idx_flat = np.ascontiguousarray(idx_flat)
    if idx_flat.dtype != np.int64:
        if not np.issubdtype(idx_flat.dtype, np.integer):
            raise ValueError(f"rows_to_sparse: idx_flat must hold integer row ids, got {idx_flat.dtype}")
        idx_flat = idx_flat.astype(np.int64)
    rows, values = scatter_add_rows(idx_flat, np.ascontiguousarray(row_grads))
    return SparseGrad(rows, values)
