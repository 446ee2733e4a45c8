"""Vocabularies: value -> local id of one field, counted on the training split only.

Fitting counts every value of a field over the training rows (`Counter*`);
`build()` keeps the values seen at least `min_count` times and numbers them
1..V, most frequent first (ties by value, so the result does not depend on
row order). Local id 0 is the field's out-of-vocabulary (OOV) row: rare
values at fit time and values never seen at fit time both land there, so the
model has a trained row for "something unusual" and never an untrained one.

    local_id(v) = rank of v among kept values (1..V)   if count(v) >= min_count
                = 0                                     otherwise, or if v is new

Memory of a counter grows with the number of *distinct* values of a field,
not with the number of rows.

Two kinds of values:
- strings (categorical and multi-valued columns): `StringCounter`, `StringVocab`.
  Packed uint64 keys (raw.PackedStrings) are looked up with np.searchsorted
  on a sorted key array; Python strings with a dict.
- integers (bucket codes of numeric columns, libSVM feature ids): `IntCounter`,
  `IntVocab`, always with np.searchsorted.

`stable_hash` is the optional alternative to a vocabulary (hashing mode):
crc32 of the value's UTF-8 bytes, the same on every machine and run
(Python's hash() of a str changes with each process, so it cannot be used).
"""
from __future__ import annotations

import zlib
from collections import Counter

import numpy as np

from .raw import PackedStrings, pack_string, unpack_strings


# ---- counting ---------------------------------------------------------------------------
class StringCounter:
    """Counts string values; accepts list[str] or PackedStrings chunks."""

    def __init__(self):
        self.strings = Counter()   # str -> count
        self.packed = {}           # uint64 key (as int) -> count, turned into strings in items()

    def add(self, values) -> None:
        if isinstance(values, PackedStrings):
            keys, counts = np.unique(values.keys, return_counts=True)
            d = self.packed
            for k, c in zip(keys.tolist(), counts.tolist()):
                d[k] = d.get(k, 0) + c
        else:
            self.strings.update(values)     # Counter's C loop

    def items(self) -> Counter:
        total = Counter(self.strings)
        if self.packed:
            keys = np.fromiter(self.packed.keys(), dtype=np.uint64, count=len(self.packed))
            for s, c in zip(unpack_strings(keys), self.packed.values()):
                total[s] += c
        return total


class IntCounter:
    """Counts integer values given as arrays."""

    def __init__(self):
        self.counts = {}

    def add(self, values: np.ndarray) -> None:
        keys, counts = np.unique(np.asarray(values, dtype=np.int64), return_counts=True)
        d = self.counts
        for k, c in zip(keys.tolist(), counts.tolist()):
            d[k] = d.get(k, 0) + c

    def items(self) -> dict:
        return dict(self.counts)


def kept_values(counts, min_count: int) -> list:
    """Values with count >= min_count, most frequent first, ties by value."""
    kept = [(v, c) for v, c in counts.items() if c >= min_count]
    kept.sort(key=lambda vc: (-vc[1], vc[0]))
    return [v for v, _ in kept]


# ---- lookups ----------------------------------------------------------------------------
class StringVocab:
    """tokens[i] has local id i + 1; anything else has local id 0 (OOV). size = V + 1 rows."""

    def __init__(self, tokens):
        self.tokens = [str(t) for t in tokens]
        self.index = {t: i + 1 for i, t in enumerate(self.tokens)}
        if len(self.index) != len(self.tokens):
            raise ValueError("vocabulary has repeated values")
        # packed form of the tokens that fit in 8 bytes, sorted for searchsorted
        packed = [(pack_string(t), i + 1) for i, t in enumerate(self.tokens)]
        packed = sorted(p for p in packed if p[0] is not None)
        self._keys = np.array([p[0] for p in packed], dtype=np.uint64)
        self._ids = np.array([p[1] for p in packed], dtype=np.int64)

    @property
    def size(self) -> int:
        return len(self.tokens) + 1

    def lookup(self, values) -> np.ndarray:
        """Local ids (n,) int64 of list[str] or PackedStrings values."""
        if isinstance(values, PackedStrings):
            return _search(self._keys, self._ids, values.keys)
        get = self.index.get
        return np.fromiter((get(v, 0) for v in values), dtype=np.int64, count=len(values))


class IntVocab:
    """values[i] (int) has local id i + 1; anything else 0. size = V + 1 rows."""

    def __init__(self, values):
        self.values = [int(v) for v in values]
        v = np.array(self.values, dtype=np.int64)
        order = np.argsort(v, kind="stable")
        self._keys = v[order]
        self._ids = (order + 1).astype(np.int64)
        if self._keys.size and (np.diff(self._keys) == 0).any():
            raise ValueError("vocabulary has repeated values")
        # values packed in a small range (bucket codes, most feature ids): a dense table
        # lut[v - lo] is one gather per lookup, faster than a binary search
        self._lut = None
        if self._keys.size:
            lo, hi = int(self._keys[0]), int(self._keys[-1])
            if hi - lo < max(4 * self._keys.size, 1 << 16):
                self._lo = lo
                self._lut = np.zeros(hi - lo + 1, dtype=np.int64)
                self._lut[self._keys - lo] = self._ids

    @property
    def size(self) -> int:
        return len(self.values) + 1

    def lookup(self, values) -> np.ndarray:
        """Local ids (n,) int64 of int values (n,)."""
        x = np.asarray(values, dtype=np.int64)
        if self._lut is None:
            return _search(self._keys, self._ids, x)
        rel = x - self._lo
        inside = (rel >= 0) & (rel < self._lut.shape[0])
        return np.where(inside, self._lut[np.where(inside, rel, 0)], 0)


def _search(keys: np.ndarray, ids: np.ndarray, x: np.ndarray) -> np.ndarray:
    """ids[j] where keys[j] == x, else 0.  keys (V,) sorted; x (n,) -> (n,) int64."""
    if keys.shape[0] == 0:
        return np.zeros(x.shape[0], dtype=np.int64)
    pos = np.searchsorted(keys, x)
    pos = np.minimum(pos, keys.shape[0] - 1)
    return np.where(keys[pos] == x, ids[pos], 0).astype(np.int64)


# ---- hashing mode -----------------------------------------------------------------------
def crc32_str(s: str) -> int:
    return zlib.crc32(s.encode("utf-8"))


def stable_hash(values, buckets: int) -> np.ndarray:
    """Local ids 1..buckets (n,) int64 = 1 + crc32(utf-8 bytes) mod buckets.

    values: list[str], PackedStrings, or an int array (hashed as its decimal text).
    Each distinct value is hashed once per call.
    """
    if isinstance(values, PackedStrings):
        uniq, inv = np.unique(values.keys, return_inverse=True)
        h = np.array([crc32_str(s) for s in unpack_strings(uniq)], dtype=np.int64)
        return 1 + (h % buckets)[inv.ravel()]
    if isinstance(values, np.ndarray):
        uniq, inv = np.unique(values.astype(np.int64), return_inverse=True)
        h = np.array([crc32_str(str(v)) for v in uniq.tolist()], dtype=np.int64)
        return 1 + (h % buckets)[inv.ravel()]
    cache = {}
    out = np.empty(len(values), dtype=np.int64)
    for i, v in enumerate(values):
        h = cache.get(v)
        if h is None:
            h = cache[v] = 1 + crc32_str(v) % buckets
        out[i] = h
    return out
