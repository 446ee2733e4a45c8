"""Preprocessing fitted on the training split only: raw chunks -> idx (N, S), val (N, S), y (N,).

    enc = Encoder(reader.columns, min_count=2)
    enc.fit(train_reader.chunks())          # pass 1: count values of the TRAINING rows
    out = enc.transform(chunk)              # any split: same vocabularies, same layout
    state = enc.to_dict()                   # JSON: goes into the model file
    enc2 = Encoder.from_dict(state)         # identical transform in a fresh process

Why fit on train only: a vocabulary built from all splits gives values that
occur only in the test set rows of their own, which no training row ever
updated - harmless-looking, but it is information from the test set, and
`min_count` would count test occurrences too. Here a value seen only in
validation/test/prediction data maps to its field's OOV row (local id 0),
and `transform` counts how often that happens per field (`EncodeStats`).

Each raw column becomes one or more fields of the `FieldLayout`:

    raw kind      field kind     slots  local ids                    val
    categorical   categorical    1      vocabulary (or hash) id      1.0
    numeric       categorical    1      bucket of numeric.py         1.0      (mode "bucket")
    numeric       numeric        1      0 missing / 1 present        1.0 / sign(v) ln(1+|v|)  ("value")
    multi         multi          W      one slot per token           1/n, n = tokens kept
    sparse        multi (each)   W_f    one slot per feature id      the feature's value x

For a multi-valued field the model sums its slots, sum_j val_j * E[idx_j],
so val = 1/n makes that sum the *mean* of the n tokens' embeddings. Unused
slots hold local id 0 with val 0.0 and contribute exactly zero; an empty list
is all padding. A row with more than W tokens keeps its first W (counted as
`truncated`); W is the longest list seen at fit time, or `max_width`.

Hashing mode (`hash_buckets=H > 0`) replaces the vocabularies of string and
sparse columns by local id 1 + crc32(value) mod H: no counting needed, a
fixed table size, but unrelated values may share a row. min_count does not
apply to hashed columns, and nothing is OOV there.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import DataError
from ..fields import FieldLayout
from .numeric import bucket_codes, value_encode
from .raw import NUMERIC_MODES, ColumnSpec, RawChunk, SparseEntries, TokenLists
from .vocab import IntCounter, IntVocab, StringCounter, StringVocab, kept_values, stable_hash

STATE_VERSION = 1


@dataclass
class EncodeStats:
    """What transform saw, per field: values looked up, values sent to the OOV row, rows truncated."""

    rows: int = 0
    values: dict = field(default_factory=dict)
    oov: dict = field(default_factory=dict)
    truncated: dict = field(default_factory=dict)
    unknown_fields: int = 0   # sparse entries whose field id never occurred at fit time (dropped)

    def add(self, name: str, values: int, oov: int, truncated: int = 0) -> None:
        self.values[name] = self.values.get(name, 0) + int(values)
        self.oov[name] = self.oov.get(name, 0) + int(oov)
        if truncated:
            self.truncated[name] = self.truncated.get(name, 0) + int(truncated)

    def merge(self, other: "EncodeStats") -> "EncodeStats":
        self.rows += other.rows
        self.unknown_fields += other.unknown_fields
        for name in other.values:
            self.add(name, other.values[name], other.oov.get(name, 0), other.truncated.get(name, 0))
        return self

    @property
    def oov_rate(self) -> float:
        """Fraction of all looked-up values that went to an OOV row."""
        total = sum(self.values.values())
        return float(sum(self.oov.values()) / total) if total else 0.0

    def to_dict(self) -> dict:
        return {"rows": self.rows, "oov_rate": self.oov_rate, "oov": dict(self.oov),
                "values": dict(self.values), "truncated": dict(self.truncated),
                "unknown_fields": self.unknown_fields}


@dataclass
class EncodedChunk:
    """idx (n, S) int64 global rows, val (n, S) float32, y (n,) float32, stats of this chunk."""

    idx: np.ndarray
    val: np.ndarray
    y: np.ndarray
    stats: EncodeStats


# ---- one codec per raw column -------------------------------------------------------------
def _scatter_slots(n: int, indptr: np.ndarray, local: np.ndarray, weight: np.ndarray, width: int):
    """Lay out each row's entries in `width` slots.

    indptr (n+1,) CSR row pointers; local (nnz,) int64 ids; weight (nnz,) float values.
    Returns (local (n, width) int64, val (n, width) float32, kept (nnz,) bool):
    entry j of a row goes to slot j if j < width; empty slots are (0, 0.0).
    """
    lens = np.diff(indptr)
    row = np.repeat(np.arange(n, dtype=np.int64), lens)            # (nnz,) row of each entry
    pos = np.arange(row.shape[0], dtype=np.int64) - indptr[row]    # (nnz,) place within its row
    kept = pos < width
    out_local = np.zeros((n, width), dtype=np.int64)
    out_val = np.zeros((n, width), dtype=np.float32)
    out_local[row[kept], pos[kept]] = local[kept]
    out_val[row[kept], pos[kept]] = weight[kept]
    return out_local, out_val, kept


class _Categorical:
    """categorical column -> one categorical field (vocabulary or hash)."""

    def __init__(self, spec: ColumnSpec, hash_buckets: int):
        self.spec, self.hash_buckets = spec, hash_buckets
        self.counter = StringCounter() if not hash_buckets else None
        self.vocab = None

    def count(self, col) -> None:
        if self.counter is not None:
            self.counter.add(col)

    def finish(self, min_count: int) -> None:
        if self.counter is not None:
            self.vocab = StringVocab(kept_values(self.counter.items(), min_count))
            self.counter = None

    def fields(self):
        size = self.hash_buckets + 1 if self.hash_buckets else self.vocab.size
        return [(self.spec.name, size, "categorical", 1)]

    def encode(self, col, n: int, stats: EncodeStats):
        if len(col) != n:
            raise ValueError(f"column {self.spec.name!r} has {len(col)} values for {n} rows")
        if self.hash_buckets:
            local = stable_hash(col, self.hash_buckets)
            stats.add(self.spec.name, n, 0)
        else:
            local = self.vocab.lookup(col)
            stats.add(self.spec.name, n, int((local == 0).sum()))
        return [(local[:, None], np.ones((n, 1), dtype=np.float32))]

    def state(self) -> dict:
        if self.hash_buckets:
            return {"type": "hash", "buckets": self.hash_buckets}
        return {"type": "vocab", "tokens": self.vocab.tokens}

    def load(self, st: dict) -> None:
        if st["type"] == "vocab":
            self.vocab = StringVocab(st["tokens"])
        self.counter = None


class _Bucket:
    """numeric column -> categorical field of bucket codes (numeric.py)."""

    def __init__(self, spec: ColumnSpec):
        self.spec = spec
        self.counter = IntCounter()
        self.vocab = None

    def count(self, col) -> None:
        self.counter.add(bucket_codes(col))

    def finish(self, min_count: int) -> None:
        self.vocab = IntVocab(kept_values(self.counter.items(), min_count))
        self.counter = None

    def fields(self):
        return [(self.spec.name, self.vocab.size, "categorical", 1)]

    def encode(self, col, n: int, stats: EncodeStats):
        local = self.vocab.lookup(bucket_codes(col))
        stats.add(self.spec.name, n, int((local == 0).sum()))
        return [(local[:, None], np.ones((n, 1), dtype=np.float32))]

    def state(self) -> dict:
        return {"type": "bucket", "codes": self.vocab.values}

    def load(self, st: dict) -> None:
        self.vocab = IntVocab(st["codes"])
        self.counter = None


class _Value:
    """numeric column -> numeric field of 2 rows (missing, present) with val = sign(v) ln(1+|v|)."""

    def __init__(self, spec: ColumnSpec):
        self.spec = spec

    def count(self, col) -> None:
        pass

    def finish(self, min_count: int) -> None:
        pass

    def fields(self):
        return [(self.spec.name, 2, "numeric", 1)]

    def encode(self, col, n: int, stats: EncodeStats):
        local, val = value_encode(col)
        stats.add(self.spec.name, n, 0)
        return [(local[:, None], val[:, None])]

    def state(self) -> dict:
        return {"type": "value"}

    def load(self, st: dict) -> None:
        pass


class _Multi:
    """multi-valued column (TokenLists) -> one multi field of W slots, val = 1/n (mean pooling)."""

    def __init__(self, spec: ColumnSpec, hash_buckets: int, max_width):
        self.spec, self.hash_buckets, self.max_width = spec, hash_buckets, max_width
        self.counter = StringCounter() if not hash_buckets else None
        self.longest = 0
        self.vocab = None
        self.width = None

    def count(self, col: TokenLists) -> None:
        if self.counter is not None:
            self.counter.add(col.tokens)
        if len(col):
            self.longest = max(self.longest, int(np.diff(col.indptr).max()))

    def finish(self, min_count: int) -> None:
        if self.counter is not None:
            self.vocab = StringVocab(kept_values(self.counter.items(), min_count))
            self.counter = None
        w = max(self.longest, 1)                    # a field needs at least one slot
        self.width = min(w, int(self.max_width)) if self.max_width else w

    def fields(self):
        size = self.hash_buckets + 1 if self.hash_buckets else self.vocab.size
        return [(self.spec.name, size, "multi", self.width)]

    def encode(self, col: TokenLists, n: int, stats: EncodeStats):
        if len(col) != n:
            raise ValueError(f"column {self.spec.name!r} has {len(col)} rows, expected {n}")
        if self.hash_buckets:
            ids = stable_hash(col.tokens, self.hash_buckets)
        else:
            ids = self.vocab.lookup(col.tokens)
        lens = np.diff(col.indptr)
        kept_n = np.minimum(lens, self.width)                          # (n,) tokens kept per row
        row = np.repeat(np.arange(n, dtype=np.int64), lens)
        weight = 1.0 / np.maximum(kept_n[row], 1)                     # val = 1/n: sum of slots = mean
        local, val, kept = _scatter_slots(n, col.indptr, ids, weight, self.width)
        oov = 0 if self.hash_buckets else int((ids[kept] == 0).sum())
        stats.add(self.spec.name, int(kept.sum()), oov, int((lens > self.width).sum()))
        return [(local, val)]

    def state(self) -> dict:
        st = {"type": "multi", "width": self.width}
        if self.hash_buckets:
            st["hash"] = self.hash_buckets
        else:
            st["tokens"] = self.vocab.tokens
        return st

    def load(self, st: dict) -> None:
        self.width = int(st["width"])
        if "tokens" in st:
            self.vocab = StringVocab(st["tokens"])
        self.counter = None


class _Sparse:
    """sparse column (libSVM/libFFM entries) -> one multi field per field id, val = feature value."""

    def __init__(self, spec: ColumnSpec, hash_buckets: int, max_width):
        self.spec, self.hash_buckets, self.max_width = spec, hash_buckets, max_width
        self.counters = {}   # field id -> IntCounter (vocabulary mode)
        self.longest = {}    # field id -> most entries of that field in one row
        self.fids = []       # field ids seen at fit time, sorted
        self.vocabs = {}
        self.widths = {}

    def name(self, fid: int) -> str:
        names = self.spec.names
        if names is not None and 0 <= fid < len(names):
            return str(names[fid])
        return f"{self.spec.name}{fid}"

    def _per_field(self, col: SparseEntries):
        """Yield (fid, entry mask (nnz,), row of each selected entry) for each field id present."""
        row = np.repeat(np.arange(len(col), dtype=np.int64), np.diff(col.indptr))
        for fid in np.unique(col.fields).tolist():
            sel = col.fields == fid
            yield int(fid), sel, row[sel]

    def count(self, col: SparseEntries) -> None:
        for fid, sel, row in self._per_field(col):
            if not self.hash_buckets:
                self.counters.setdefault(fid, IntCounter()).add(col.features[sel])
            most = int(np.bincount(row).max()) if row.size else 0
            self.longest[fid] = max(self.longest.get(fid, 0), most)

    def finish(self, min_count: int) -> None:
        if self.spec.names is not None:           # named fields exist even if no row used them
            for fid in range(len(self.spec.names)):
                self.longest.setdefault(fid, 0)
                if not self.hash_buckets:
                    self.counters.setdefault(fid, IntCounter())
        self.fids = sorted(self.longest)
        for fid in self.fids:
            if not self.hash_buckets:
                self.vocabs[fid] = IntVocab(kept_values(self.counters[fid].items(), min_count))
            w = max(self.longest[fid], 1)
            self.widths[fid] = min(w, int(self.max_width)) if self.max_width else w
        self.counters = {}

    def fields(self):
        out = []
        for fid in self.fids:
            size = self.hash_buckets + 1 if self.hash_buckets else self.vocabs[fid].size
            out.append((self.name(fid), size, "multi", self.widths[fid]))
        return out

    def encode(self, col: SparseEntries, n: int, stats: EncodeStats):
        if len(col) != n:
            raise ValueError(f"column {self.spec.name!r} has {len(col)} rows, expected {n}")
        known = np.isin(col.fields, np.asarray(self.fids, dtype=np.int64))
        stats.unknown_fields += int((~known).sum())
        row_all = np.repeat(np.arange(n, dtype=np.int64), np.diff(col.indptr))
        out = []
        for fid in self.fids:
            sel = col.fields == fid
            feats = col.features[sel]
            row = row_all[sel]
            indptr = np.zeros(n + 1, dtype=np.int64)
            np.cumsum(np.bincount(row, minlength=n), out=indptr[1:])
            ids = (stable_hash(feats, self.hash_buckets) if self.hash_buckets
                   else self.vocabs[fid].lookup(feats))
            width = self.widths[fid]
            local, val, kept = _scatter_slots(n, indptr, ids, col.values[sel], width)
            oov = 0 if self.hash_buckets else int((ids[kept] == 0).sum())
            stats.add(self.name(fid), int(kept.sum()), oov, int((np.diff(indptr) > width).sum()))
            out.append((local, val))
        return out

    def state(self) -> dict:
        fields = []
        for fid in self.fids:
            f = {"id": fid, "name": self.name(fid), "width": self.widths[fid]}
            if not self.hash_buckets:
                f["features"] = self.vocabs[fid].values
            fields.append(f)
        st = {"type": "sparse", "fields": fields}
        if self.hash_buckets:
            st["hash"] = self.hash_buckets
        return st

    def load(self, st: dict) -> None:
        self.fids = [int(f["id"]) for f in st["fields"]]
        for f in st["fields"]:
            fid = int(f["id"])
            self.widths[fid] = int(f["width"])
            self.longest[fid] = int(f["width"])
            if "features" in f:
                self.vocabs[fid] = IntVocab(f["features"])
        self.counters = {}


# ---- the encoder -------------------------------------------------------------------------
class Encoder:
    """Fit on training chunks, then turn any chunk into idx/val/y for one fixed FieldLayout.

    columns      : the reader's ColumnSpecs (reader.columns)
    min_count    : values seen fewer times than this in training go to the OOV row. The
                   default 2 makes every field's OOV row see training data (singletons).
    numeric      : default mode of numeric columns, "bucket" or "value" (a ColumnSpec's
                   own mode wins)
    hash_buckets : 0 for vocabularies; H > 0 hashes string/sparse values into H rows per field
    max_width    : cap on the slots of a multi-valued field (None: longest list at fit time)
    """

    def __init__(self, columns, *, min_count: int = 2, numeric: str = "bucket",
                 hash_buckets: int = 0, max_width: int | None = None):
        if numeric not in NUMERIC_MODES:
            raise ValueError(f"numeric mode {numeric!r} is not one of {NUMERIC_MODES}")
        if int(min_count) < 1:
            raise ValueError(f"min_count must be >= 1, got {min_count}")
        if int(hash_buckets) < 0:
            raise ValueError(f"hash_buckets must be >= 0, got {hash_buckets}")
        if max_width is not None and int(max_width) < 1:
            raise ValueError(f"max_width must be >= 1, got {max_width}")
        self.columns = tuple(c if isinstance(c, ColumnSpec) else ColumnSpec.from_dict(c) for c in columns)
        if len({c.name for c in self.columns}) != len(self.columns):
            raise ValueError(f"column names must be unique: {[c.name for c in self.columns]}")
        self.min_count = int(min_count)
        self.numeric = numeric
        self.hash_buckets = int(hash_buckets)
        self.max_width = None if max_width is None else int(max_width)
        self.codecs = [self._codec(c) for c in self.columns]
        self.layout = None       # FieldLayout, set by finish()
        self.fit_rows = 0

    def _codec(self, spec: ColumnSpec):
        if spec.kind == "categorical":
            return _Categorical(spec, self.hash_buckets)
        if spec.kind == "numeric":
            return _Value(spec) if (spec.mode or self.numeric) == "value" else _Bucket(spec)
        if spec.kind == "multi":
            return _Multi(spec, self.hash_buckets, self.max_width)
        return _Sparse(spec, self.hash_buckets, self.max_width)

    @property
    def fitted(self) -> bool:
        return self.layout is not None

    # ---- fitting (two steps so a streaming pass can feed chunks one by one) ----------------
    def count(self, chunk: RawChunk) -> None:
        """Pass 1: count the values of one training chunk."""
        if self.fitted:
            raise RuntimeError("Encoder is already fitted; make a new one to fit again")
        for spec, codec in zip(self.columns, self.codecs):
            codec.count(_column(chunk, spec))
        self.fit_rows += len(chunk)

    def finish(self) -> "Encoder":
        """Build vocabularies and the FieldLayout from the counts."""
        if self.fitted:
            return self
        if self.fit_rows == 0:
            raise ValueError("Encoder.finish: no training rows were counted")
        for codec in self.codecs:
            codec.finish(self.min_count)
        self._make_layout()
        return self

    def fit(self, chunks) -> "Encoder":
        """count() every chunk of the training data, then finish()."""
        for chunk in chunks:
            self.count(chunk)
        return self.finish()

    def _make_layout(self) -> None:
        specs = [f for codec in self.codecs for f in codec.fields()]
        if not specs:
            raise DataError("the training data has no features at all (every row is empty), "
                            "so there is no field to learn from")
        names, sizes, kinds, widths = zip(*specs)
        self.layout = FieldLayout(names, sizes, kinds, widths)

    # ---- transform ------------------------------------------------------------------------
    def transform(self, chunk: RawChunk) -> EncodedChunk:
        """Encode one chunk: idx (n, S) int64 global rows, val (n, S) float32, y (n,) float32."""
        if not self.fitted:
            raise RuntimeError("Encoder.transform before fit")
        n = len(chunk)
        stats = EncodeStats(rows=n)
        parts = []
        for spec, codec in zip(self.columns, self.codecs):
            parts.extend(codec.encode(_column(chunk, spec), n, stats))
        S = self.layout.n_slots
        idx = np.empty((n, S), dtype=np.int64)
        val = np.empty((n, S), dtype=np.float32)
        s = 0
        for f, (local, v) in enumerate(parts):      # global row = offset[f] + local id
            w = local.shape[1]
            idx[:, s:s + w] = self.layout.offsets[f] + local
            val[:, s:s + w] = v
            s += w
        return EncodedChunk(idx, val, np.asarray(chunk.y, dtype=np.float32), stats)

    # ---- JSON state -------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """Everything transform needs, as plain JSON types (for the model file)."""
        if not self.fitted:
            raise RuntimeError("Encoder.to_dict before fit")
        return {"version": STATE_VERSION,
                "columns": [c.to_dict() for c in self.columns],
                "config": {"min_count": self.min_count, "numeric": self.numeric,
                           "hash_buckets": self.hash_buckets, "max_width": self.max_width},
                "fit_rows": self.fit_rows,
                "codecs": [codec.state() for codec in self.codecs],
                "layout": self.layout.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> "Encoder":
        if d.get("version") != STATE_VERSION:
            raise ValueError(f"preprocessing state version {d.get('version')!r} is not supported "
                             f"(this deepfm_np reads version {STATE_VERSION})")
        enc = cls(d["columns"], **d["config"])
        if len(d["codecs"]) != len(enc.codecs):
            raise ValueError("preprocessing state: codecs do not match columns")
        for codec, st in zip(enc.codecs, d["codecs"]):
            codec.load(st)
        enc.fit_rows = int(d.get("fit_rows", 0))
        enc._make_layout()
        if enc.layout != FieldLayout.from_dict(d["layout"]):
            raise ValueError("preprocessing state: the stored layout does not match the vocabularies")
        return enc


def _column(chunk: RawChunk, spec: ColumnSpec):
    try:
        return chunk.columns[spec.name]
    except KeyError:
        raise ValueError(f"chunk from {chunk.path} has no column {spec.name!r}; "
                         f"it has {sorted(chunk.columns)}") from None


# ---- whole files in memory ---------------------------------------------------------------
@dataclass
class EncodedData:
    """A whole split in memory: idx (N, S) int64, val (N, S) float32, y (N,) float32.

    layout : the encoder's FieldLayout
    stats  : EncodeStats (OOV counts per field)
    read   : the reader's ReadStats (rows, skipped bad rows, NaN/inf made missing)
    """

    idx: np.ndarray
    val: np.ndarray
    y: np.ndarray
    layout: FieldLayout
    stats: EncodeStats
    read: object = None

    @property
    def n(self) -> int:
        return int(self.y.shape[0])


def fit_encoder(reader, **config) -> Encoder:
    """One pass over `reader` (the TRAINING data) to fit an Encoder(reader.columns, **config)."""
    return Encoder(reader.columns, **config).fit(reader.chunks())


def encode(reader, encoder: Encoder) -> EncodedData:
    """Encode every row of `reader` with a fitted encoder, into memory."""
    stats = EncodeStats()
    idx, val, y = [], [], []
    for chunk in reader.chunks():
        out = encoder.transform(chunk)
        idx.append(out.idx)
        val.append(out.val)
        y.append(out.y)
        stats.merge(out.stats)
    S = encoder.layout.n_slots
    return EncodedData(np.concatenate(idx) if idx else np.empty((0, S), np.int64),
                       np.concatenate(val) if val else np.empty((0, S), np.float32),
                       np.concatenate(y) if y else np.empty(0, np.float32),
                       encoder.layout, stats, getattr(reader, "stats", None))
