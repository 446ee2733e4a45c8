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

from .raw import PackedStrings, pack_strings, unpack_strings


# ---- counting ---------------------------------------------------------------------------
class KeyCounter:
    """Counts of integer keys (uint64 or int64), kept as two arrays: sorted keys, counts.

    Each chunk is reduced to its distinct keys with np.unique and put aside;
    when the put-aside keys outnumber the table, everything is merged with
    one more np.unique (+ bincount of the counts). The table at most doubles
    between merges, so the total work stays O(N log N), all of it in NumPy,
    and memory is 16 bytes per distinct key (a Python dict needs ~100).
    """

    def __init__(self, dtype=np.int64):
        self.dtype = np.dtype(dtype)
        self.keys = np.empty(0, dtype=self.dtype)
        self.counts = np.empty(0, dtype=np.int64)
        self._pending = []
        self._pending_n = 0

    def add(self, keys: np.ndarray) -> None:
        k, c = np.unique(np.asarray(keys, dtype=self.dtype), return_counts=True)
        self.add_counts(k, c)

    def add_counts(self, keys: np.ndarray, counts: np.ndarray) -> None:
        """Add counts[i] occurrences of keys[i] (keys distinct within one call, any order)."""
        k = np.asarray(keys, dtype=self.dtype)
        c = np.asarray(counts, dtype=np.int64)
        self._pending.append((k, c))
        self._pending_n += k.shape[0]
        if self._pending_n > max(self.keys.shape[0], 1 << 16):
            self._merge()

    def _merge(self) -> None:
        if not self._pending:
            return
        keys = np.concatenate([self.keys] + [k for k, _ in self._pending])
        counts = np.concatenate([self.counts] + [c for _, c in self._pending])
        self.keys, inv = np.unique(keys, return_inverse=True)
        self.counts = np.bincount(inv.ravel(), weights=counts, minlength=self.keys.shape[0]).astype(np.int64)
        self._pending, self._pending_n = [], 0

    def arrays(self):
        """(keys (K,) sorted, counts (K,) int64)."""
        self._merge()
        return self.keys, self.counts


class StringCounter:
    """Counts string values; accepts list[str] or PackedStrings chunks."""

    def __init__(self):
        self.strings = Counter()              # str -> count (values given as Python strings)
        self.packed = KeyCounter(np.uint64)   # packed values, turned into strings in items()

    def add(self, values) -> None:
        if isinstance(values, PackedStrings):
            self.packed.add(values.keys)
        else:
            self.strings.update(values)       # Counter's C loop

    def add_counts(self, values, counts) -> None:
        """Add counts[i] occurrences of values[i] (distinct; list[str] or PackedStrings)."""
        if isinstance(values, PackedStrings):
            self.packed.add_counts(values.keys, counts)
        else:
            self.strings.update(dict(zip(values, np.asarray(counts).tolist())))

    def items(self) -> Counter:
        total = Counter(self.strings)
        keys, counts = self.packed.arrays()
        for s, c in zip(unpack_strings(keys), counts.tolist()):
            total[s] += c
        return total


class IntCounter:
    """Counts integer values given as arrays."""

    def __init__(self):
        self.counter = KeyCounter(np.int64)

    def add(self, values: np.ndarray) -> None:
        self.counter.add(values)

    def add_counts(self, values: np.ndarray, counts: np.ndarray) -> None:
        self.counter.add_counts(values, counts)

    def items(self) -> dict:
        keys, counts = self.counter.arrays()
        return dict(zip(keys.tolist(), counts.tolist()))


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
        keys, fits = pack_strings(self.tokens)
        self._table = KeyTable(keys[fits], np.flatnonzero(fits) + 1)

    @property
    def size(self) -> int:
        return len(self.tokens) + 1

    def lookup(self, values) -> np.ndarray:
        """Local ids (n,) int64 of list[str] or PackedStrings values."""
        if isinstance(values, PackedStrings):
            return self._table.lookup(values.keys)
        get = self.index.get
        return np.fromiter((get(v, 0) for v in values), dtype=np.int64, count=len(values))


class IntVocab:
    """values[i] (int) has local id i + 1; anything else 0. size = V + 1 rows."""

    def __init__(self, values):
        self.values = [int(v) for v in values]
        v = np.array(self.values, dtype=np.int64)
        if len(np.unique(v)) != v.shape[0]:
            raise ValueError("vocabulary has repeated values")
        ids = np.arange(1, v.shape[0] + 1, dtype=np.int64)
        # values in a small range (bucket codes, most feature ids): a dense array
        # lut[v - lo] is one gather per lookup; otherwise a hash table
        self._lut = self._table = None
        lo, hi = (int(v.min()), int(v.max())) if v.size else (0, -1)
        self._lo, self._hi = lo, hi
        if hi - lo < max(4 * v.size, 1 << 16):
            self._lut = np.zeros(hi - lo + 1, dtype=np.int64)
            self._lut[v - lo] = ids
        else:
            # -1 is 2^64 - 1 as a uint64 key, KeyTable's empty-slot marker: it is kept beside the table
            minus_one = v == -1
            self._minus_one_id = int(ids[minus_one][0]) if minus_one.any() else 0
            self._table = KeyTable(v[~minus_one], ids[~minus_one])

    @property
    def size(self) -> int:
        return len(self.values) + 1

    def lookup(self, values) -> np.ndarray:
        """Local ids (n,) int64 of int values (n,)."""
        x = np.asarray(values, dtype=np.int64)
        if self._table is not None:
            out = self._table.lookup(x)             # int64 -> uint64 wraps the same way both times
            if self._minus_one_id:                  # (the table answers 0 for -1: never stored there)
                out[x == -1] = self._minus_one_id
            return out
        inside = (x >= self._lo) & (x <= self._hi)            # compare first: x - lo may overflow
        if not inside.any():                                  # (also the empty vocabulary)
            return np.zeros(x.shape[0], dtype=np.int64)
        return np.where(inside, self._lut[np.where(inside, x - self._lo, 0)], 0)


class KeyTable:
    """A hash table in NumPy arrays: uint64 keys -> int64 ids, looked up for a whole array at once.

    Open addressing with linear probing over T = 2^bits >= 2V slots (at most
    half full, so a lookup needs about 1.5 probes on average):

        slot(k) = (k * 0x9E3779B97F4A7C15 mod 2^64) >> (64 - bits)     Fibonacci hashing
        probe slot, slot + 1, ... until the key (hit) or an empty slot (absent -> id 0)

    Every probe round is one vectorised step over the keys still unresolved, so
    a lookup of n keys is a few passes over n, not n binary searches (faster
    than np.searchsorted on a sorted array: docs/DESIGN.md, "Measured"). Building
    works the same way: in each round the pending keys whose slot is free
    claim it (one winner per slot, via np.unique), the others move one slot on.
    The key 2^64 - 1 marks empty slots and cannot be stored: packed strings
    never have it (0xFF is not a UTF-8 byte); IntVocab keeps the int -1 (the same 64 bits) outside.
    """

    EMPTY = np.uint64(0xFFFFFFFFFFFFFFFF)
    _GOLDEN = np.uint64(0x9E3779B97F4A7C15)   # 2^64 / golden ratio

    def __init__(self, keys: np.ndarray, ids: np.ndarray):
        keys = np.asarray(keys).astype(np.uint64)                   # int64: wraps mod 2^64
        ids = np.asarray(ids, dtype=np.int64)
        if (keys == self.EMPTY).any():
            raise ValueError("KeyTable cannot store the key 2^64 - 1 (it marks empty slots)")
        V = keys.shape[0]
        self.bits = max(3, int(np.ceil(np.log2(2 * V + 1))))
        self.mask = np.uint64((1 << self.bits) - 1)
        self.keys = np.full(1 << self.bits, self.EMPTY, dtype=np.uint64)
        self.ids = np.zeros(1 << self.bits, dtype=np.int64)
        pos = self._slot(keys)
        pending = np.arange(V)
        while pending.size:
            p = pos[pending]
            free = self.keys[p] == self.EMPTY
            _, first = np.unique(p[free], return_index=True)        # one winner per free slot
            win = pending[free][first]
            self.keys[pos[win]] = keys[win]
            self.ids[pos[win]] = ids[win]
            placed = np.zeros(V, dtype=bool)
            placed[win] = True
            pending = pending[~placed[pending]]
            pos[pending] = (pos[pending] + np.uint64(1)) & self.mask  # losers try the next slot

    def _slot(self, x: np.ndarray) -> np.ndarray:
        return (x * self._GOLDEN) >> np.uint64(64 - self.bits)      # uint64 multiply wraps mod 2^64

    def lookup(self, x) -> np.ndarray:
        """ids (n,) int64 of keys x (n,), 0 for keys not in the table."""
        x = np.asarray(x).astype(np.uint64)
        pos = self._slot(x)
        k = self.keys[pos]
        hit = k == x
        out = np.where(hit, self.ids[pos], 0)
        todo = np.flatnonzero(~hit & (k != self.EMPTY))             # slot taken by another key
        while todo.size:
            p = (pos[todo] + np.uint64(1)) & self.mask
            pos[todo] = p
            k = self.keys[p]
            h = k == x[todo]
            out[todo[h]] = self.ids[p[h]]
            todo = todo[~h & (k != self.EMPTY)]
        return out


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
