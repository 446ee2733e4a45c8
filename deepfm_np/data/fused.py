"""Criteo files read once: parse, count and encode in one pass over the text, on all cores.

The readable path reads a file twice, each time splitting every line into cells:

    enc = fit_encoder(reader, min_count=2)      # pass 1: count the values
    data = encode(reader, enc)                  # pass 2: parse again, look every value up

Here the file is parsed once into one uint64 key per cell (I1..I13: the bits of the float64 value;
C1..C26: the packed bytes, raw.PackedStrings), and everything after works on the keys:

1. parse    blocks of the file, in parallel threads (criteo_kernels.parse_block_into, a nogil
            kernel), each straight into its own range of a buffer indexed by line number;
            a block with any line the kernel does not read (bad, ragged, non-ASCII, long values)
            is parsed by the reader itself, in file order, so errors and warnings are its own;
2. intern   each column's keys become dense ids 0..D-1 and D distinct keys (criteo_kernels);
3. fit      the counts of the D distinct values (np.bincount of the ids of the training rows)
            go into the very counters the Encoder uses, and the Encoder's own finish() builds
            vocabularies and buckets from them - the same code as the two-pass path;
4. encode   each codec encodes the D distinct values once (lookup, bucket, hash, log), and a
            gather kernel fills idx/val row by row: idx[i, f] = offset_f + local_f[id_f(i)].

Since a codec maps equal values to equal ids, encoding the distinct values and gathering is the same
as encoding every cell; tests/test_data_fused.py compares idx, val, y, the encoder state, the stats
and the errors with the two-pass path (bad lines, empty fields, CRLF, no final newline, many blocks).

Memory: the (39, N) 8-byte keys, (39, N) int32 ids, and the encoded idx/val - whose idx is written
into the keys' buffer, which the ids have made free: 39 N (8 + 4 + 4) bytes in all, where the two-pass
path holds its chunks' idx/val and their concatenation at once. benchmarks/data_memory.py --in-memory
measures both (peak RSS). A --cache run (files larger than memory) keeps the streaming two-pass path.
"""
from __future__ import annotations

import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np

from .criteo import CAT_NAMES, INT_NAMES, CriteoReader
from .criteo_kernels import N_INT, chunk_keys, gather_rows, intern_column, parse_block_into
from .numeric import bucket_codes, value_encode
from .preprocess import EncodedData, EncodeStats, Encoder, _Bucket, _Categorical, _Value
from .raw import COMPRESSED, NonFiniteCounter, Notes, PackedStrings, ReadStats, finish_file, iter_line_blocks
from .split import HoldoutReader
from .vocab import stable_hash

COLUMNS = INT_NAMES + CAT_NAMES           # the key rows of a parsed file, in this order
LONG = np.uint64(0xFF << 56)              # top byte of the keys standing for values longer than 8 bytes


def default_threads() -> int:
    """Threads for the parse: Numba's setting (deepfm_np.threads.set_threads), at most the cores."""
    import numba
    return max(1, min(numba.get_num_threads(), os.cpu_count() or 1))


@dataclass
class ParsedFile:
    """A Criteo file after steps 1-2.

    ids      (39, N) int32 dense id of every cell, row k = column COLUMNS[k]
    distinct list of 39 (D_k,) uint64: the key of each id
    long     list of 26 dicts key -> str: the categorical values longer than 8 bytes (rare)
    y (N,) float32, lines (N,) int64 1-based line numbers, stats the reader's ReadStats of the pass
    spare    the (39, >= N) 8-byte buffer the keys were parsed into, no longer needed once interned:
             the first encode_parsed of the file writes its idx there instead of into new memory
    """

    ids: np.ndarray
    distinct: list
    long: list
    y: np.ndarray
    lines: np.ndarray
    stats: ReadStats
    spare: np.ndarray | None = None

    @property
    def n(self) -> int:
        return int(self.y.shape[0])


class _Rows:
    """Column-major buffers indexed by line: the rows of line l go to column l - 1 (compacted at the end).

    keys (39, capacity) uint64, y (capacity,) float32, lines (capacity,) int64. The parse kernels of
    several blocks write into their own ranges of lines at once; a block's rows never outnumber its
    lines, so the ranges do not overlap. Blank and bad lines leave gaps, closed by compact().
    """

    def __init__(self, capacity: int):
        capacity = max(int(capacity), 1)
        self.keys = np.empty((len(COLUMNS), capacity), dtype=np.uint64)
        self.y = np.empty(capacity, dtype=np.float32)
        self.lines = np.empty(capacity, dtype=np.int64)
        self.segments = []                          # (first column, rows) of each block, in order

    @property
    def capacity(self) -> int:
        return int(self.y.shape[0])

    def grow(self, need: int) -> None:
        """Room for `need` lines (x1.25 at least); only while no kernel is writing into the buffers."""
        cap = max(need, int(self.capacity * 1.25) + 1)
        keys = np.empty((len(COLUMNS), cap), dtype=np.uint64)
        y, lines = np.empty(cap, dtype=np.float32), np.empty(cap, dtype=np.int64)
        used = self.segments[-1][0] + self.segments[-1][1] if self.segments else 0
        keys[:, :used], y[:used], lines[:used] = self.keys[:, :used], self.y[:used], self.lines[:used]
        self.keys, self.y, self.lines = keys, y, lines

    def views(self, start: int, L: int):
        return self.keys[:, start:start + L], self.y[start:start + L], self.lines[start:start + L]

    def compact(self) -> int:
        """Move every block's rows next to the previous block's; returns the number of rows N."""
        n = 0
        for start, m in self.segments:
            if start != n:                          # numpy copes with the overlap of a left shift
                self.keys[:, n:n + m] = self.keys[:, start:start + m]
                self.y[n:n + m] = self.y[start:start + m]
                self.lines[n:n + m] = self.lines[start:start + m]
            n += m
        return n


def _capacity(reader, lines: int, text_read: int) -> int:
    """Lines to allocate for: the file's size over the bytes per line read so far, plus 2%.

    Not generously: the first encode_parsed writes idx over the start of this buffer, so every
    spare column of it ends up in memory. Too few costs a copy of what was read (_Rows.grow), with
    a new estimate from more lines. A compressed file holds about 4-6 times its size in text.
    """
    size = os.path.getsize(reader.path)
    if str(reader.path).lower().endswith(tuple(COMPRESSED)):
        size *= 6
    return int(max(size, text_read) / max(text_read / max(lines, 1), 1.0) * 1.02) + 1024


def parse_file(reader: CriteoReader, threads: int | None = None) -> ParsedFile:
    """Steps 1-2 for a CriteoReader: one pass, with the reader's stats, warnings and errors.

    The main thread reads blocks of lines (raw.iter_line_blocks, as the reader does) and hands each
    to a thread, which parses it straight into the buffers; results are taken in file order, and a
    block the kernel declined is parsed then by the reader itself (its errors come in file order).
    """
    threads = default_threads() if threads is None else max(1, int(threads))
    reader.stats = ReadStats()
    reader.notes = Notes(reader.path)
    nonfinite = NonFiniteCounter(reader.path)
    long_index = [{} for _ in CAT_NAMES]           # str -> key, per categorical column
    rows = None

    def long_key(k: int, value: str) -> int:
        got = long_index[k].get(value)
        if got is None:
            got = long_index[k][value] = int(LONG) | len(long_index[k])
        return got

    def take(line0: int, block: bytes, n: int) -> None:
        start = line0 - 1
        if n < 0:                                  # the reader's own parser, in file order
            chunk = reader._parse_block(block, line0, nonfinite)
            n = len(chunk)
            keys, y, lines = rows.views(start, n)
            if n:
                keys[:] = chunk_keys(chunk, INT_NAMES, CAT_NAMES, long_key)
                y[:], lines[:] = chunk.y, chunk.lines
        rows.segments.append((start, n))
        reader.stats.rows += n

    reader._begin()
    text_read = 0                                  # bytes of text so far
    with ThreadPoolExecutor(threads) as pool:
        pending = deque()
        for line0, block in iter_line_blocks(reader.path, reader.block_bytes):
            L = block.count(b"\n")
            text_read += len(block)
            if rows is None:
                rows = _Rows(_capacity(reader, L, text_read))
            if line0 - 1 + L > rows.capacity:      # no kernel may write while the buffers move
                while pending:
                    l0, b0, f0 = pending.popleft()
                    take(l0, b0, f0.result())
                rows.grow(max(line0 - 1 + L, _capacity(reader, line0 - 1 + L, text_read)))
            fut = pool.submit(parse_block_into, block, reader.label, line0, *rows.views(line0 - 1, L))
            pending.append((line0, block, fut))
            while len(pending) > 2 * threads:      # a few blocks ahead, not the whole file
                line0, block, fut = pending.popleft()
                take(line0, block, fut.result())
        while pending:
            line0, block, fut = pending.popleft()
            take(line0, block, fut.result())
    reader._end()
    finish_file(reader.path, reader.stats, nonfinite, reader.notes)   # raises on a file without rows

    n = rows.compact()
    ids = np.empty((len(COLUMNS), n), dtype=np.int32)
    with ThreadPoolExecutor(threads) as pool:      # columns are independent: one per thread
        distinct = list(pool.map(lambda k: intern_column(rows.keys[k, :n], out=ids[k])[1],
                                 range(len(COLUMNS))))
    long = [{key: s for s, key in index.items()} for index in long_index]
    return ParsedFile(ids, distinct, long, rows.y[:n], rows.lines[:n], reader.stats, spare=rows.keys)


# ---- per-column values ----------------------------------------------------------------------
def _strings(parsed: ParsedFile, k: int):
    """The distinct values of categorical column k as the reader gives them: PackedStrings, or a
    list[str] when some are longer than 8 bytes."""
    keys = parsed.distinct[k]
    long = parsed.long[k - N_INT]
    if not long:
        return PackedStrings(keys)
    short = PackedStrings(np.where(keys >= LONG, np.uint64(0), keys)).to_strings()
    return [long[key] if key >= int(LONG) else s for key, s in zip(keys.tolist(), short)]


def _numbers(parsed: ParsedFile, k: int) -> np.ndarray:
    return parsed.distinct[k].view(np.float64)


def _columns(encoder: Encoder):
    """(codec, key row) of each encoder column; ValueError if the encoder is not for Criteo columns."""
    out = []
    for spec, codec in zip(encoder.columns, encoder.codecs):
        if spec.name not in COLUMNS or not isinstance(codec, (_Categorical, _Bucket, _Value)):
            raise ValueError(f"the one-pass Criteo path cannot encode column {spec.name!r} ({spec.kind})")
        out.append((codec, COLUMNS.index(spec.name)))
    return out


def fit_parsed(encoder: Encoder, parsed: ParsedFile, rows: np.ndarray | None = None) -> Encoder:
    """Step 3: fit `encoder` on the rows `rows` (all when None) of a parsed file."""
    if encoder.fitted:
        raise RuntimeError("Encoder is already fitted; make a new one to fit again")
    for codec, k in _columns(encoder):
        ids = parsed.ids[k] if rows is None else parsed.ids[k][rows]
        counts = np.bincount(ids, minlength=parsed.distinct[k].shape[0])
        seen = np.flatnonzero(counts)
        if isinstance(codec, _Categorical) and codec.counter is not None:
            values = _strings(parsed, k)
            if isinstance(values, PackedStrings):
                codec.counter.add_counts(PackedStrings(values.keys[seen]), counts[seen])
            else:
                codec.counter.add_counts([values[i] for i in seen.tolist()], counts[seen])
        elif isinstance(codec, _Bucket):
            codes = bucket_codes(_numbers(parsed, k)[seen])
            code_counts = np.bincount(codes, weights=counts[seen])
            used = np.flatnonzero(code_counts)
            codec.counter.add_counts(used, code_counts[used].astype(np.int64))
    encoder.fit_rows += parsed.n if rows is None else int(rows.shape[0])
    return encoder.finish()


def _tables(encoder: Encoder, parsed: ParsedFile):
    """Per column: global row (offset + local id) and val of each distinct value, end to end.

    Returns (columns [(codec, key row)], lut (T,) int64, vlut (T,) float32, oov (T,) int64: 1 where
    the value is out of the vocabulary (local id 0 of a vocabulary or bucket column), start (C,) int64)."""
    cols = _columns(encoder)
    luts, vluts, oovs = [], [], []
    for f, (codec, k) in enumerate(cols):
        D = parsed.distinct[k].shape[0]
        val = np.ones(D, dtype=np.float32)
        if isinstance(codec, _Categorical):
            values = _strings(parsed, k)
            if codec.hash_buckets:
                local = stable_hash(values, codec.hash_buckets)
            else:
                local = codec.vocab.lookup(values)
            counted = not codec.hash_buckets
        elif isinstance(codec, _Bucket):
            local = codec.vocab.lookup(bucket_codes(_numbers(parsed, k)))
            counted = True
        else:                                      # value mode: local 0 is "missing", not OOV
            local, val = value_encode(_numbers(parsed, k))
            counted = False
        local = np.asarray(local, dtype=np.int64)
        luts.append(encoder.layout.offsets[f] + local)
        vluts.append(np.asarray(val, dtype=np.float32))
        oovs.append((local == 0).astype(np.int64) if counted else np.zeros(D, dtype=np.int64))
    start = np.zeros(len(cols), dtype=np.int64)
    np.cumsum([t.shape[0] for t in luts[:-1]], out=start[1:])
    return cols, np.concatenate(luts), np.concatenate(vluts), np.concatenate(oovs), start


def encode_parsed(encoder: Encoder, parsed: ParsedFile, rows: np.ndarray | None = None, read=None,
                  threads: int | None = None) -> EncodedData:
    """Step 4: idx/val/y of the rows `rows` (all when None) of a parsed file, with EncodeStats."""
    if not encoder.fitted:
        raise RuntimeError("Encoder.transform before fit")
    threads = default_threads() if threads is None else max(1, int(threads))
    cols, lut, vlut, oov, start = _tables(encoder, parsed)
    rows = np.arange(parsed.n, dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
    ids = parsed.ids[[k for _, k in cols]] if [k for _, k in cols] != list(range(len(COLUMNS))) else parsed.ids
    M, S = rows.shape[0], encoder.layout.n_slots
    spare, parsed.spare = parsed.spare, None
    if spare is not None and spare.size >= M * S:  # the parse's key buffer: memory already in use
        idx = spare.reshape(-1)[:M * S].view(np.int64).reshape(M, S)
    else:
        idx = np.empty((M, S), dtype=np.int64)
    del spare
    val = np.empty((M, S), dtype=np.float32)
    cuts = np.linspace(0, M, threads + 1).astype(np.int64)
    with ThreadPoolExecutor(threads) as pool:       # row ranges: each thread writes its own rows
        counts = list(pool.map(lambda t: gather_rows(ids, rows, lut, start, vlut, oov, idx, val,
                                                     cuts[t], cuts[t + 1]), range(threads)))
    zeros = np.sum(counts, axis=0)                  # (C,) values sent to the OOV row, per field
    stats = EncodeStats(rows=M)
    for f, (codec, _) in enumerate(cols):
        stats.add(codec.spec.name, M, int(zeros[f]))
    return EncodedData(idx, val, parsed.y[rows], encoder.layout, stats, read)


# ---- what the commands call ------------------------------------------------------------------
def fast_reader(reader) -> bool:
    """Can the one-pass path read this reader (a plain CriteoReader, or a holdout part of one)?"""
    inner = reader.reader if isinstance(reader, HoldoutReader) else reader
    return type(inner) is CriteoReader and inner.path is not None


def fit_encode(reader, threads: int | None = None, **config):
    """One pass: (Encoder fitted on `reader`, EncodedData of `reader`), exactly as
    `fit_encoder(reader, **config)` then `encode(reader, encoder)` give them."""
    enc, sets = fit_encode_splits(reader, {"train": reader}, threads=threads, **config)
    return enc, sets["train"]


def _parse_key(reader) -> tuple:
    return (str(reader.path), reader.label, reader.skip_bad_rows, reader.block_bytes)


def fit_encode_splits(train, readers: dict, threads: int | None = None, **config):
    """Fit an Encoder(train.columns, **config) on `train`, then encode every reader of `readers`
    ({name: reader}, each a fast_reader), in memory: (encoder, {name: EncodedData}).

    Each file is parsed once: the train and valid parts of a holdout of one file share the parse.
    The readers' stats are what the two-pass path leaves in them.
    """
    for r in (train, *readers.values()):
        if not fast_reader(r):
            raise ValueError(f"the one-pass path reads Criteo files (CriteoReader), not {type(r).__name__}; "
                             "use fit_encoder and encode")
    parses = {}

    def parsed_of(r):
        inner = r.reader if isinstance(r, HoldoutReader) else r
        key = _parse_key(inner)
        if key not in parses:
            parses.clear()                         # one parsed file in memory at a time
            parses[key] = parse_file(inner, threads)
        inner.stats = replace(parses[key].stats, first_skipped=list(parses[key].stats.first_skipped),
                              notes=dict(parses[key].stats.notes))
        return parses[key]

    def part_rows(r, parsed):
        if not isinstance(r, HoldoutReader):
            return None
        held = r.held_out(parsed.y, parsed.lines)
        rows = np.flatnonzero(held if r.part == "valid" else ~held)
        r.stats = ReadStats(rows=int(rows.shape[0]))
        r.finish_stats()                           # the file's counts to the train part; empty part refused
        return rows

    enc = Encoder(train.columns, **config)        # a bad setting is refused before the file is read
    parsed = parsed_of(train)
    fit_parsed(enc, parsed, part_rows(train, parsed))
    out = {}
    for name, r in readers.items():
        parsed = None                              # let the previous file's arrays go first
        parsed = parsed_of(r)
        rows = part_rows(r, parsed)
        out[name] = encode_parsed(enc, parsed, rows, getattr(r, "stats", None), threads)
    return enc, out
