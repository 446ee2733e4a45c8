"""In-memory data set: the arrays a model reads, served in minibatches.

    idx (N, S) int64, val (N, S) float32, y (N,) float32 in {0, 1}

The training loop only uses `n`, `layout`, `iter_batches` and `take`, so an
on-disk cache (data/cache.py) can stand in for this class.
"""
from __future__ import annotations

import numpy as np

from ..fields import FieldLayout


class ArrayDataset:
    def __init__(self, idx, val, y, layout: FieldLayout, validate=True):
        idx = np.ascontiguousarray(idx, dtype=np.int64)
        val = np.ascontiguousarray(val, dtype=np.float32)
        y = np.ascontiguousarray(y, dtype=np.float32).reshape(-1)
        if idx.shape[0] != y.shape[0]:
            raise ValueError(f"idx has {idx.shape[0]} rows but y has {y.shape[0]}")
        if validate:
            layout.validate(idx, val)
            bad = (y != 0) & (y != 1)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise ValueError(f"row {i}: label {y[i]} is not 0 or 1")
        self.idx, self.val, self.y, self.layout = idx, val, y, layout

    @classmethod
    def from_data(cls, data):
        """Wrap anything with idx/val/y/layout attributes (e.g. synthetic.SyntheticData)."""
        return cls(data.idx, data.val, data.y, data.layout)

    @property
    def n(self) -> int:
        return int(self.y.shape[0])

    def __len__(self):
        return self.n

    def take(self, rows) -> "ArrayDataset":
        rows = np.asarray(rows)
        return ArrayDataset(self.idx[rows], self.val[rows], self.y[rows], self.layout, validate=False)

    def iter_batches(self, batch_size, rng=None, shuffle=False):
        """Yield (idx (b, S) int64, val (b, S) float32, y (b,) float32); the last batch may be short.

        shuffle=True draws a new permutation from `rng` (a np.random.Generator).
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        n = self.n
        if shuffle:
            if rng is None:
                raise ValueError("shuffle=True needs an rng (np.random.Generator)")
            order = rng.permutation(n)
            for s in range(0, n, batch_size):
                rows = order[s:s + batch_size]
                yield self.idx[rows], self.val[rows], self.y[rows]
        else:
            for s in range(0, n, batch_size):
                yield self.idx[s:s + batch_size], self.val[s:s + batch_size], self.y[s:s + batch_size]
