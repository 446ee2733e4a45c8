"""Input checks of the kernel wrappers (public: the front-end kernels in models/ use them too).

Numba does not check bounds, dtypes or contiguity: an out-of-range id reads or writes memory
outside the table. So every wrapper checks its arrays first and raises ValueError naming the
argument and the problem; only then does it call its `@njit` kernel.
"""
from __future__ import annotations

import numpy as np

FLOATS = (np.float32, np.float64)


def check_array(name: str, a, *, dtype=None, floats=False, ndim=None, shape=None) -> np.ndarray:
    """Raise ValueError unless `a` is a C-contiguous ndarray of the given dtype / ndim / shape."""
    if not isinstance(a, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, got {type(a).__name__}")
    if dtype is not None and a.dtype != dtype:
        raise ValueError(f"{name} must have dtype {np.dtype(dtype).name}, got {a.dtype.name}")
    if floats and a.dtype not in FLOATS:
        raise ValueError(f"{name} must be float32 or float64, got {a.dtype.name}")
    if ndim is not None and a.ndim not in ((ndim,) if isinstance(ndim, int) else ndim):
        raise ValueError(f"{name} must have ndim {ndim}, got shape {a.shape}")
    if shape is not None and a.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {a.shape}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous (pass np.ascontiguousarray({name}))")
    return a


def check_ids(name: str, idx: np.ndarray, n_rows: int | None) -> None:
    """Raise ValueError naming the first id outside [0, n_rows) (or negative when n_rows is None)."""
    if idx.size == 0:
        return
    lo, hi = int(idx.min()), int(idx.max())
    if lo < 0 or (n_rows is not None and hi >= n_rows):
        bad_mask = idx < 0 if n_rows is None else (idx < 0) | (idx >= n_rows)
        pos = int(np.flatnonzero(bad_mask)[0])
        where = "must be >= 0" if n_rows is None else f"must be in [0, {n_rows})"
        raise ValueError(f"{name}[{pos}] = {int(idx[pos])} is out of range: ids {where}")
