"""Placeholder NumPy versions; the Numba kernels replace these (see docs/DESIGN.md)."""
import numpy as np


def scatter_add_rows_numpy(idx_flat, row_grads):
    rows, inv = np.unique(idx_flat, return_inverse=True)
    out = np.zeros((rows.shape[0],) + row_grads.shape[1:], dtype=row_grads.dtype)
    np.add.at(out, inv.ravel(), row_grads)
    return rows.astype(np.int64), out


scatter_add_rows = scatter_add_rows_numpy
