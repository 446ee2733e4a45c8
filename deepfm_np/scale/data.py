"""Each process's shard of a data file: the project's own readers and the model file's fitted Encoder.

    shard = read_shard(saved, "train.txt", rank=1, world=2)   # ArrayDataset of rows 1, 3, 5, ... (0-based)

Rows are dealt round-robin (data row i goes to rank i mod world), so shards differ by at most one row and
every rank sees the whole file's mix. Every rank reads the file and keeps its rows: simple and correct for
one machine; on many machines give each rank its own file instead (--train may repeat per rank, see the
README). No second vocabulary: rows are encoded by `saved.encoder.transform`, exactly as predict does.
"""
from __future__ import annotations

import numpy as np

from ..data import open_spec_reader
from ..data.dataset import ArrayDataset


def open_saved_reader(spec: dict, path, skip_bad_rows=False):
    """A reader for `path` as the model file's reader spec says: the same `data.open_spec_reader` that
    evaluate and predict use (so the width cap, fields and schema are those the model was trained with)."""
    return open_spec_reader(spec, path, skip_bad_rows=skip_bad_rows)


def read_shard(saved, path, rank: int, world: int, skip_bad_rows: bool = False):
    """-> (ArrayDataset of this rank's rows, rows in the whole file)."""
    reader = open_saved_reader(saved.reader, path, skip_bad_rows)
    idx, val, y = [], [], []
    seen = 0
    for chunk in reader.chunks():
        n = len(chunk)
        keep = (np.arange(seen, seen + n) % world) == rank          # round-robin over the file's rows
        seen += n
        if not keep.any():
            continue
        enc = saved.encoder.transform(chunk)
        idx.append(enc.idx[keep])
        val.append(enc.val[keep])
        y.append(enc.y[keep])
    S = saved.encoder.layout.n_slots
    ds = ArrayDataset(np.concatenate(idx) if idx else np.zeros((0, S), np.int64),
                      np.concatenate(val) if val else np.zeros((0, S), np.float32),
                      np.concatenate(y) if y else np.zeros(0, np.float32), saved.encoder.layout, validate=False)
    return ds, seen


def even_batches(n: int, steps: int, rng=None):
    """Row indices of `steps` batches covering 0..n-1 (shuffled with rng), sizes differing by at most one.

    Every rank must run the same number of steps (each step is a collective all-to-all), so a rank with
    one row fewer gets batches one row smaller rather than a missing step; no row is dropped.
    """
    order = rng.permutation(n) if rng is not None else np.arange(n)
    return np.array_split(order, steps)
