"""Numba kernels of the one-pass Criteo path (fused.py), each beside a plain NumPy twin.

    parse_block     a block of whole lines -> label, I1..I13 as float64, C1..C26 as packed uint64 keys
    intern_column   (N,) uint64 keys -> (N,) dense ids 0..D-1 in order of first appearance, (D,) keys
    gather_rows     ids of every cell -> idx (M, C) int64, val (M, C) float32 through per-column tables

All three are `nogil`, so fused.py runs them in plain Python threads (blocks of the file on two cores
for the parse; columns for the interning; row ranges for the gather) without Numba's own thread pool.

`parse_block` only reads the lines it can read exactly like criteo.CriteoReader: ASCII text, exactly the
expected number of tab-separated columns, a label "0"/"1", integers of 1 to 8 digits with an optional
'-' (or empty), categorical values of at most 8 bytes. At the first line that is anything else it gives
up on the whole block and says so; the caller then parses that block with the reader itself, so errors,
skipped rows, repairs and NaN/inf warnings stay the reader's, word for word. Its twin is that reader
(`parse_block_numpy` below runs it on the block and lays the result out the same way).

Cell values, exactly as the reader makes them (fastparse.py):
    integer cell "-12"   -> float64 -12.0 (v = sum_j d_j 10^(l-1-j), negated after: "-0" is -0.0)
    empty integer cell   -> NaN (missing)
    categorical "3c82"   -> key = sum_j byte_j 256^(7-j) (8 bytes, zero-padded, big-endian; "" -> 0)
"""
from __future__ import annotations

import numpy as np
from numba import njit

N_INT, N_CAT = 13, 26
N_COLS = N_INT + N_CAT
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)   # 2^64 / golden ratio: Fibonacci hashing (vocab.KeyTable)


# ---- parsing -----------------------------------------------------------------------------------
@njit(cache=True, nogil=True, inline="always")
def _cell_end(a, p):
    """Is byte p where a cell ends: a tab, the newline, or the '\r' of a '\r\n' line end?"""
    b = a[p]
    return b <= 13 and (b == 9 or b == 10 or (b == 13 and a[p + 1] == 10))   # one compare for most bytes


@njit(cache=True, nogil=True)
def _parse_block(a, label, line0, num, cat, y, line):
    """a (B,) uint8 whole lines, the first of them line line0; label 0/1; out: num (13, L) float64,
    cat (26, L) uint64, y (L,) float32, line (L,) int64 line numbers (L >= the lines of the block).
    Returns rows written, or -1 if some line is not simple.

    One pass over the bytes: each cell is scanned once, up to its end (_cell_end); a line must end
    right after its last column (its newline, or '\r\n': line_bounds drops that one '\r').
    """
    B = a.shape[0]
    n_cols = N_COLS + label
    n = 0
    li = -1
    p = 0
    nan = np.nan
    while p < B:
        li += 1
        if a[p] == 10 or (a[p] == 13 and a[p + 1] == 10):     # blank line ("" or "\r"): not a row
            p += 1 if a[p] == 10 else 2
            continue
        y[n] = 0.0                             # no label column: every label reads as 0
        for c in range(n_cols):
            if c < label:                      # the label: exactly "0" or "1"
                b = a[p]
                if (b != 48 and b != 49) or not _cell_end(a, p + 1):
                    return -1
                y[n] = b - 48
                p += 1
            elif c < label + N_INT:            # I1..I13: "", or '-'? and 1..8 digits
                k = c - label
                if _cell_end(a, p):
                    num[k, n] = nan
                else:
                    neg = a[p] == 45
                    if neg:
                        p += 1
                    d = 0
                    m = 0
                    while not _cell_end(a, p):
                        b = a[p]
                        if b < 48 or b > 57 or m == 8:
                            return -1
                        d = d * 10 + (b - 48)
                        m += 1
                        p += 1
                    if m == 0:
                        return -1              # "-" alone
                    v = float(d)
                    num[k, n] = -v if neg else v
            else:                              # C1..C26: at most 8 bytes, packed big-endian
                key = np.uint64(0)
                m = 0
                while not _cell_end(a, p):
                    b = a[p]
                    if b == 0 or b >= 128 or m == 8:   # NUL or not ASCII: the reader checks the text
                        return -1
                    key = (key << np.uint64(8)) | np.uint64(b)
                    m += 1
                    p += 1
                if m:
                    key <<= np.uint64(8 * (8 - m))
                cat[c - label - N_INT, n] = key
            b = a[p]                           # the byte that ended the cell
            if c < n_cols - 1:
                if b != 9:
                    return -1                  # too few columns
                p += 1
            else:
                if b == 9:
                    return -1                  # too many columns
                p += 1 if b == 10 else 2       # past '\n' or '\r\n'
        line[n] = line0 + li
        n += 1
    return n


def parse_block_into(block: bytes, label: bool, line0: int, keys: np.ndarray, y: np.ndarray,
                     line: np.ndarray) -> int:
    """Parse a block of whole lines (each ending in '\\n', the first being line line0) into given arrays.

    keys (39, L) uint64 (I1..I13 as the bits of their float64 values, then C1..C26 packed), y (L,)
    float32, line (L,) int64 line numbers: views into bigger buffers are fine, L >= lines in the block.
    Returns the rows written, or -1 if some line needs the reader's own parser (the arrays then hold
    garbage).
    """
    a = np.frombuffer(block, dtype=np.uint8)
    if a.shape[0] == 0:
        return 0
    if a[-1] != 10:
        raise ValueError("parse_block: the block must end with a newline")
    if keys.shape[0] != N_COLS or min(keys.shape[1], y.shape[0], line.shape[0]) < block.count(b"\n"):
        raise ValueError("parse_block: the output arrays are too small for the block")
    return _parse_block(a, int(bool(label)), int(line0), keys[:N_INT].view(np.float64), keys[N_INT:], y, line)


def parse_block(block: bytes, label: bool):
    """Parse a block of whole lines (each ending in '\\n') the fast way.

    Returns None if some line needs the reader's own parser, else
    (keys (39, n) uint64: I1..I13 as the bits of their float64 values, then C1..C26 packed;
     y (n,) float32; line (n,) int64 line index of each row within the block).
    """
    L = block.count(b"\n")
    keys = np.empty((N_COLS, L), dtype=np.uint64)
    y, line = np.empty(L, dtype=np.float32), np.empty(L, dtype=np.int64)
    n = parse_block_into(block, label, 0, keys, y, line)
    if n < 0:
        return None
    return keys[:, :n], y[:n], line[:n]


def chunk_keys(chunk, int_names, cat_names, long_key):
    """The same layout from a RawChunk of the reader: keys (39, n) uint64 as parse_block gives.

    long_key(k, value) gives the key of a categorical value longer than 8 bytes (column k); packed keys
    never have the top byte 0xFF (not a UTF-8 byte), so such keys can be told apart from them.
    """
    from .raw import PackedStrings, pack_strings
    n = len(chunk)
    keys = np.empty((N_COLS, n), dtype=np.uint64)
    for k, name in enumerate(int_names):
        keys[k] = np.asarray(chunk.columns[name], dtype=np.float64).view(np.uint64)
    for k, name in enumerate(cat_names):
        col = chunk.columns[name]
        if isinstance(col, PackedStrings):
            keys[N_INT + k] = col.keys
        else:
            packed, fits = pack_strings(col)
            for i in np.flatnonzero(~fits).tolist():
                packed[i] = long_key(k, col[i])
            keys[N_INT + k] = packed
    return keys


def parse_block_numpy(reader, block: bytes, line0: int):
    """Twin of parse_block: the reader's own _parse_block, laid out as (keys, y, line index)."""
    from .criteo import CAT_NAMES, INT_NAMES
    from .raw import NonFiniteCounter
    chunk = reader._parse_block(block, line0, NonFiniteCounter(reader.path))
    return (chunk_keys(chunk, INT_NAMES, CAT_NAMES, lambda k, v: None),
            chunk.y, chunk.lines - line0)


# ---- interning ---------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def _intern(keys, ids):
    """ids[i] = dense id of keys[i] (0, 1, ... in order of first appearance); returns the (D,) keys.

    Open addressing, linear probing, a table kept at most half full (doubled and rebuilt when not).
    ids may be the same memory as keys (read before written).
    """
    bits = 12
    T = 1 << bits
    slot_id = np.full(T, -1, dtype=np.int64)
    distinct = np.empty(T // 2, dtype=np.uint64)
    D = 0
    for i in range(keys.shape[0]):
        k = keys[i]
        h = (k * _GOLDEN) >> np.uint64(64 - bits)
        while True:
            d = slot_id[h]
            if d < 0:
                if 2 * (D + 1) > T:            # grow: double the table, re-insert the D keys
                    bits += 1
                    T = 1 << bits
                    slot_id = np.full(T, -1, dtype=np.int64)
                    for j in range(D):
                        g = (distinct[j] * _GOLDEN) >> np.uint64(64 - bits)
                        while slot_id[g] >= 0:
                            g = (g + np.uint64(1)) & np.uint64(T - 1)
                        slot_id[g] = j
                    grown = np.empty(T // 2, dtype=np.uint64)
                    grown[:D] = distinct[:D]
                    distinct = grown
                    h = (k * _GOLDEN) >> np.uint64(64 - bits)
                    continue
                slot_id[h] = D
                distinct[D] = k
                d = D
                D += 1
                break
            if distinct[d] == k:
                break
            h = (h + np.uint64(1)) & np.uint64(T - 1)
        ids[i] = d
    return distinct[:D].copy()


def intern_column(keys: np.ndarray, out: np.ndarray | None = None):
    """keys (N,) uint64 -> (ids (N,) in 0..D-1, first-appearance order; distinct (D,) uint64).

    out: where to write the ids, (N,) int32 or int64 (default: a new int64 array); an int64 out may be
    keys.view(np.int64) (the keys are then overwritten in place).
    """
    keys = np.ascontiguousarray(keys, dtype=np.uint64)
    ids = np.empty(keys.shape[0], dtype=np.int64) if out is None else out
    if ids.shape != keys.shape or ids.dtype not in (np.int32, np.int64) or not ids.flags.c_contiguous:
        raise ValueError("intern_column: out must be a C-contiguous int32/int64 array shaped like keys")
    if ids.dtype == np.int32 and keys.shape[0] >= 2 ** 31:
        raise ValueError("intern_column: int32 ids need fewer than 2^31 keys")
    return ids, _intern(keys, ids)


def intern_column_numpy(keys: np.ndarray):
    """Twin of intern_column with np.unique: the same ids (first-appearance order) and distinct keys."""
    keys = np.asarray(keys, dtype=np.uint64)
    uniq, first, inv = np.unique(keys, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")        # sorted position -> first-appearance rank
    rank = np.empty_like(order)
    rank[order] = np.arange(order.shape[0])
    return rank[inv.ravel()].astype(np.int64), uniq[order]


# ---- gathering ---------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def _gather(ids, rows, lo, hi, lut, start, vlut, oov, idx, val, oov_count):
    C = ids.shape[0]
    for i in range(lo, hi):
        r = rows[i]
        for f in range(C):
            j = start[f] + ids[f, r]
            idx[i, f] = lut[j]
            val[i, f] = vlut[j]
            oov_count[f] += oov[j]


def gather_rows(ids, rows, lut, start, vlut, oov, idx, val, lo: int = 0, hi: int | None = None) -> np.ndarray:
    """idx[i, f] = lut[start[f] + ids[f, rows[i]]], val[i, f] = vlut[same], for i in [lo, hi).

    ids (C, N) int32 or int64 dense ids per column; rows (M,) int64; lut (T,) int64, vlut (T,) float32 and
    oov (T,) int64 0/1 the per-column tables end to end, column f's from start[f]; idx (M, C) int64,
    val (M, C) float32 out. Returns (C,) int64: per column, the sum of oov over rows lo..hi-1.
    """
    hi = rows.shape[0] if hi is None else hi
    C = ids.shape[0]
    if idx.shape != (rows.shape[0], C) or val.shape != idx.shape:
        raise ValueError("gather_rows: idx and val must be (rows, columns)")
    if rows.shape[0] and (rows.min() < 0 or rows.max() >= ids.shape[1]):
        raise ValueError("gather_rows: a row is out of range")
    count = np.zeros(C, dtype=np.int64)
    _gather(ids, rows, int(lo), int(hi), lut, start, vlut, oov, idx, val, count)
    return count


def gather_rows_numpy(ids, rows, lut, start, vlut, oov):
    """Twin of gather_rows over all rows: (idx (M, C) int64, val (M, C) float32, oov counts (C,))."""
    j = start[:, None] + ids[:, rows]                 # (C, M)
    return np.ascontiguousarray(lut[j].T), np.ascontiguousarray(vlut[j].T), oov[j].sum(axis=1)
