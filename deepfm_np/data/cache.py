"""On-disk cache of an encoded split, read back in minibatches: for files larger than memory.

    enc = Encoder(reader.columns).fit(reader.chunks())     # pass 1: count (train only)
    ds = build_cache(reader, enc, "cache/train")            # pass 2: encode to disk
    for idx, val, y in ds.iter_batches(4096, rng, shuffle=True): ...

A cache directory holds four files:

    idx.i32      (N, S) int32   global rows, row after row (int32: R < 2^31 rows is plenty)
    val.f32      (N, S) float32
    y.u8         (N,)   uint8   labels 0/1
    header.json  N, S, the FieldLayout, a hash of the encoder state, stats; written LAST,
                 so a cache interrupted while being built has no header and is refused

Both passes hold one chunk at a time; reading holds one block of `block_rows`
rows. So memory does not grow with N (benchmarks/data_memory.py measures it).

Why plain reads and not np.memmap: pages of a memory-mapped file that have
been touched count in the process's resident memory until the OS reclaims
them, so one epoch over a memmap makes the RSS grow to the file size.
Reading each block with f.readinto keeps the resident set at one block;
the OS page cache still makes a second epoch fast.

Shuffling (`shuffle=True`) is by blocks: the blocks are visited in a random
order and the rows of each block are permuted, which mixes rows that are
far apart in the file at the cost of a few reads per epoch.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path

import numpy as np

from .atomic import atomic_write, write_text
from .dataset import ArrayDataset
from ..errors import DataError
from ..fields import FieldLayout
from .preprocess import EncodeStats, Encoder

CACHE_FORMAT = "deepfm_np cache"
CACHE_VERSION = 1
FILES = {"idx": ("idx.i32", np.int32), "val": ("val.f32", np.float32), "y": ("y.u8", np.uint8)}
BLOCK_ROWS = 1 << 15   # rows read at a time: 32768 x 39 slots x 8 bytes ~ 10 MB


def encoder_digest(encoder: Encoder) -> str:
    """sha256 of the encoder's JSON state: two caches built by the same encoder share it."""
    state = json.dumps(encoder.to_dict(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(state.encode("utf-8")).hexdigest()


def build_cache(reader, encoder: Encoder, directory) -> "CachedDataset":
    """Encode every row of `reader` with a fitted `encoder` into `directory` (one streaming pass)."""
    if not encoder.fitted:
        raise ValueError("build_cache needs a fitted Encoder (fit it on the training split first)")
    layout = encoder.layout
    if layout.n_rows >= 2 ** 31:
        raise ValueError(f"the table has {layout.n_rows} rows; the int32 cache holds at most 2^31 - 1")
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    header_path = d / "header.json"
    header_path.unlink(missing_ok=True)              # an old header must not describe new files
    stats = EncodeStats()
    n = 0
    with contextlib.ExitStack() as stack:            # atomic files (atomic.py): an error or Ctrl-C leaves
        files = {k: stack.enter_context(atomic_write(d / name, "wb"))   # no half-written data file
                 for k, (name, _) in FILES.items()}
        for chunk in reader.chunks():
            out = encoder.transform(chunk)
            out.idx.astype(np.int32).tofile(files["idx"])
            out.val.astype(np.float32).tofile(files["val"])
            out.y.astype(np.uint8).tofile(files["y"])
            stats.merge(out.stats)
            n += out.y.shape[0]
    read = getattr(reader, "stats", None)
    header = {"format": CACHE_FORMAT, "version": CACHE_VERSION, "n": n,
              "n_slots": layout.n_slots, "layout": layout.to_dict(),
              "encoder_sha256": encoder_digest(encoder),
              "source": str(getattr(reader, "path", "")),
              "stats": stats.to_dict(), "read": None if read is None else read.to_dict()}
    write_text(header_path, json.dumps(header, indent=1))
    return CachedDataset(d)


class CachedDataset:
    """A cache directory served like dataset.ArrayDataset: n, layout, iter_batches, take.

    directory  : made by build_cache
    encoder    : optional; if given, the cache must have been built by an identical encoder
    block_rows : rows read from disk at a time (memory ~ block_rows * S * 8 bytes)
    """

    def __init__(self, directory, encoder: Encoder | None = None, block_rows: int = BLOCK_ROWS):
        self.directory = Path(directory)
        header_path = self.directory / "header.json"
        if not header_path.is_file():
            raise DataError("not a finished cache (no header.json; was building it interrupted?)",
                            self.directory)
        try:
            h = json.loads(header_path.read_text())
        except (ValueError, UnicodeDecodeError) as e:
            raise DataError(f"cache header is not valid JSON ({e})", header_path) from None
        if not isinstance(h, dict) or h.get("format") != CACHE_FORMAT:
            raise DataError("not a deepfm_np cache header", header_path)
        if h.get("version") != CACHE_VERSION:
            raise DataError(f"cache version {h.get('version')!r} is not {CACHE_VERSION}; rebuild it",
                            header_path)
        self.header = h
        self.n_rows = int(h["n"])
        self.layout = FieldLayout.from_dict(h["layout"])
        self.S = self.layout.n_slots
        self.stats = h.get("stats")
        self.block_rows = max(1, int(block_rows))
        if encoder is not None and h.get("encoder_sha256") != encoder_digest(encoder):
            raise DataError("cache was built with a different encoder (vocabularies/settings); "
                            "rebuild it", self.directory)
        for key, (name, dtype) in FILES.items():     # a truncated file is refused up front
            path = self.directory / name
            per_row = np.dtype(dtype).itemsize * (1 if key == "y" else self.S)
            want = self.n_rows * per_row
            got = path.stat().st_size if path.is_file() else None
            if got != want:
                raise DataError(f"cache file has {got} bytes, expected {want} "
                                f"({self.n_rows} rows); it is truncated or stale - rebuild it", path)

    @property
    def n(self) -> int:
        return self.n_rows

    def __len__(self) -> int:
        return self.n_rows

    # ---- reading ----------------------------------------------------------------------------
    def _read(self, start: int, stop: int):
        """Rows [start, stop) as (idx (b, S) int64, val (b, S) float32, y (b,) float32)."""
        b = stop - start
        out = []
        for key, (name, dtype) in FILES.items():
            width = 1 if key == "y" else self.S
            item = np.dtype(dtype).itemsize
            arr = np.empty(b * width, dtype=dtype)
            with open(self.directory / name, "rb") as f:
                f.seek(start * width * item)
                got = f.readinto(memoryview(arr).cast("B"))
            if got != arr.nbytes:
                raise DataError(f"cache file ended early (read {got} of {arr.nbytes} bytes)",
                                self.directory / name)
            out.append(arr if key == "y" else arr.reshape(b, self.S))
        idx, val, y = out
        return idx.astype(np.int64), val, y.astype(np.float32)

    def _blocks(self):
        return [(s, min(s + self.block_rows, self.n_rows)) for s in range(0, self.n_rows, self.block_rows)]

    def iter_batches(self, batch_size: int, rng=None, shuffle: bool = False):
        """Yield (idx (b, S) int64, val (b, S) float32, y (b,) float32), every batch full but the last.

        shuffle=True: blocks in an order drawn from `rng`, rows permuted inside each
        block; rows left over at a block's end start the next batch.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        blocks = self._blocks()
        if shuffle:
            if rng is None:
                raise ValueError("shuffle=True needs an rng (np.random.Generator)")
            blocks = [blocks[i] for i in rng.permutation(len(blocks))]
        carry = None
        for start, stop in blocks:
            idx, val, y = self._read(start, stop)
            if shuffle:
                perm = rng.permutation(y.shape[0])
                idx, val, y = idx[perm], val[perm], y[perm]
            if carry is not None:
                idx, val, y = (np.concatenate([c, a]) for c, a in zip(carry, (idx, val, y)))
            full = (y.shape[0] // batch_size) * batch_size
            for s in range(0, full, batch_size):
                yield idx[s:s + batch_size], val[s:s + batch_size], y[s:s + batch_size]
            carry = (idx[full:], val[full:], y[full:]) if full < y.shape[0] else None
        if carry is not None:
            yield carry

    def take(self, rows) -> ArrayDataset:
        """The given rows (any order, repeats allowed) as an in-memory ArrayDataset."""
        rows = np.asarray(rows, dtype=np.int64).ravel()
        if rows.size and (rows.min() < 0 or rows.max() >= self.n_rows):
            raise IndexError(f"rows must be in [0, {self.n_rows})")
        idx = np.empty((rows.shape[0], self.S), dtype=np.int64)
        val = np.empty((rows.shape[0], self.S), dtype=np.float32)
        y = np.empty(rows.shape[0], dtype=np.float32)
        block_of = rows // self.block_rows
        for b in np.unique(block_of).tolist():       # read only the blocks that hold wanted rows
            start = b * self.block_rows
            stop = min(start + self.block_rows, self.n_rows)
            bi, bv, by = self._read(start, stop)
            where = np.flatnonzero(block_of == b)
            local = rows[where] - start
            idx[where], val[where], y[where] = bi[local], bv[local], by[local]
        return ArrayDataset(idx, val, y, self.layout, validate=False)

    def to_memory(self) -> ArrayDataset:
        """All rows as an ArrayDataset (only for caches that fit in memory)."""
        idx, val, y = self._read(0, self.n_rows)
        return ArrayDataset(idx, val, y, self.layout, validate=False)
