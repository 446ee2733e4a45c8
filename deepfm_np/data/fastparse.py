"""Vectorised tokenising of delimited text: how the Criteo reader parses ~350k rows per CPU-second.

Splitting each line into Python strings costs about 60 ns per cell and
dominates a pure-Python reader (40 cells per Criteo row). Here a block of
whole lines is looked at as one uint8 array `a` instead, and every step is a
NumPy operation over all cells of the block at once:

1. `split_delimited`: positions of '\\n' and of the separator give every
   line's bounds and every cell's [start, end) byte range, after checking
   that each line has the expected number of columns (per-line separator
   counts come from one `bincount`).
2. `byte_windows`: a strided uint64 view of the block at every byte offset,
   so the first 8 bytes of all cells are fetched by one indexing step.
3. `parse_int_cells`: integer cells ("123", "-4") become numbers, all cells at
   once, from their digits d_j and place values: v = sum_j d_j 10^(l-1-j).
   Cells that are not plain integers ("1.5", "1e3", "abc") are flagged so
   the caller can parse them one by one with float() - rare in Criteo.
4. `pack_cells`: categorical cells of at most 8 bytes are packed into one
   uint64 each (see raw.PackedStrings): key = sum_j byte_j * 256^(7-j), which
   is just the 8 bytes (zero-padded) read as one big-endian integer, so
   vocabularies can be looked up with np.searchsorted instead of dicts.

None of these allocate more than a few arrays the size of the block's cells.
"""
from __future__ import annotations

import numpy as np


def split_delimited(a: np.ndarray, starts: np.ndarray, ends: np.ndarray, newlines: np.ndarray,
                    n_cols: int, sep: int = 9, min_cols: int | None = None):
    """Cell bounds of the lines that have exactly n_cols columns (or min_cols..n_cols, see below).

    a        : (B,) uint8 block of whole lines, each ending in '\\n'
    starts, ends, newlines : (L,) int64 from raw.line_bounds
    n_cols   : expected columns per line;  sep: separator byte (9 = tab)
    min_cols : if given, lines with min_cols <= c < n_cols columns are good too (rows whose
               trailing empty cells were stripped): their missing cells c..n_cols-1 are
               empty cells at the line's end, so they read as missing values
    Returns (ncols (L,) int64 columns of every line (0 for a blank line),
             good (L,) bool lines kept,
             cell_start (n, n_cols) int64, cell_end (n, n_cols) int64) for the n good lines.
    """
    L = starts.shape[0]
    seps = np.flatnonzero(a == sep)                        # (T,) separator positions
    sep_line = np.searchsorted(newlines, seps)             # (T,) line of each separator
    ncols = np.bincount(sep_line, minlength=L).astype(np.int64) + 1
    ncols[ends == starts] = 0                              # blank line: no columns at all
    good = ncols == n_cols
    if min_cols is not None:
        short = (ncols >= max(int(min_cols), 1)) & (ncols < n_cols)
        if short.any():                                    # rare: the slower, ragged layout
            good |= short
            return (ncols, good) + _ragged_cells(starts, ends, seps, sep_line, good, ncols, n_cols)
    n = int(good.sum())
    # the separators of good lines, in order, are exactly n * (n_cols - 1) positions
    inner = seps[good[sep_line]].reshape(n, n_cols - 1)    # (n, n_cols - 1)
    cell_start = np.empty((n, n_cols), dtype=np.int64)
    cell_end = np.empty((n, n_cols), dtype=np.int64)
    cell_start[:, 0] = starts[good]
    cell_start[:, 1:] = inner + 1
    cell_end[:, :-1] = inner
    cell_end[:, -1] = ends[good]
    return ncols, good, cell_start, cell_end


def _ragged_cells(starts, ends, seps, sep_line, good, ncols, n_cols: int):
    """cell_start, cell_end (n, n_cols) of the good lines when some have fewer than n_cols columns.

    Full lines get the reshape of split_delimited; only the short ones (usually few) are laid
    out one separator at a time: each of their cells starts as the empty cell [end, end) of its
    line, then the k-th separator of a line (k counted within the line) ends cell k and starts k + 1.
    """
    n = int(good.sum())
    full = ncols[good] == n_cols                           # (n,) which good rows are full
    cell_start = np.empty((n, n_cols), dtype=np.int64)
    cell_end = np.empty((n, n_cols), dtype=np.int64)
    line_full = good & (ncols == n_cols)
    inner = seps[line_full[sep_line]].reshape(-1, n_cols - 1)
    cell_start[full, 0] = starts[line_full]
    cell_start[full, 1:] = inner + 1
    cell_end[full, :-1] = inner
    cell_end[full, -1] = ends[line_full]

    line_short = good & ~line_full
    rows = np.flatnonzero(~full)                           # (m,) rows of the short lines
    m = rows.shape[0]
    short_start = np.repeat(ends[line_short], n_cols).reshape(m, n_cols)
    short_end = short_start.copy()
    short_start[:, 0] = starts[line_short]
    keep = line_short[sep_line]
    s, line = seps[keep], sep_line[keep]                   # sorted by position, so by line
    k = np.arange(s.shape[0], dtype=np.int64) - np.searchsorted(line, line)   # index within its line
    r = (np.cumsum(line_short) - 1)[line]
    short_end[r, k] = s
    short_start[r, k + 1] = s + 1
    cell_start[rows] = short_start
    cell_end[rows] = short_end
    return cell_start, cell_end


def byte_windows(a: np.ndarray) -> np.ndarray:
    """View of `a` as one big-endian uint64 starting at *every* byte offset.

    a (B,) uint8 -> win (B,) '>u8' with win[p] = bytes a[p:p+8] (zero past the end).
    A strided view with a stride of one byte: no copy of the 8-byte windows,
    just one padded copy of the block. Reading win[s] for all cell starts s
    fetches each cell's first 8 bytes in a single fancy-indexing step.
    """
    padded = np.zeros(a.shape[0] + 8, dtype=np.uint8)
    padded[:a.shape[0]] = a
    return np.ndarray(shape=(a.shape[0],), dtype=">u8", buffer=padded, strides=(1,))


# _PREFIX[l]: the top l bytes of a uint64 set - keeps a cell's l bytes of its 8-byte window
_PREFIX = np.array([((1 << (8 * l)) - 1) << (8 * (8 - l)) for l in range(9)], dtype=np.uint64)
_U = np.uint64
_ONES = 0x0101010101010101        # one in every byte
_ZEROS = _U(0x30 * _ONES)          # '0' in every byte
_HIGH = _U(0x80 * _ONES)           # the top bit of every byte


def pack_cells(win: np.ndarray, s: np.ndarray, e: np.ndarray) -> np.ndarray:
    """uint64 keys of cells [s, e) of at most 8 bytes (the caller checks), see raw.PackedStrings.

    win from byte_windows; s, e (m,) int64 -> keys (m,) uint64; an empty cell gives 0.
    key = sum_j byte_j * 256^(7-j): the cell's bytes, zero-padded to 8, read as one
    big-endian integer - which is exactly the window at s with the bytes past e cleared.
    """
    s = np.asarray(s, dtype=np.int64).ravel()
    length = np.asarray(e, dtype=np.int64).ravel() - s
    return win[s].astype(np.uint64) & _PREFIX[np.minimum(length, 8)]


def parse_int_cells(win: np.ndarray, s: np.ndarray, e: np.ndarray):
    """Parse cells [s, e) holding plain integers of 1 to 8 digits ("17", "-3"), all at once.

    win from byte_windows; s, e (m,) int64 cell bounds.
    Returns (values (m,) float64, is_int (m,) bool). values is meaningful where
    is_int; empty cells and anything else ("1.5", "abc", "+2", 9+ digits) have
    is_int False and are left for the caller.

    The 8-byte window of each cell is treated as 8 little numbers side by side
    in one uint64 ("SIMD within a register"), so every step below is one NumPy
    operation on (m,) integers instead of (m, 8) bytes:
      1. shift the l digits to the low end, fill the freed high bytes with '0';
      2. check every byte is in '0'..'9' (no byte below 0x30, none above 0x39);
      3. subtract '0' from every byte -> digits d7..d0, most significant first;
      4. merge neighbours pairwise: 2-digit, then 4-digit, then the 8-digit number.
    """
    s = np.asarray(s, dtype=np.int64).ravel()
    e = np.asarray(e, dtype=np.int64).ravel()
    length = e - s
    neg = (length > 0) & ((win[s] >> _U(56)) == 45)                # first byte is '-'
    ndig = length - neg                                             # digits after the sign
    is_int = (ndig >= 1) & (ndig <= 8)
    shift = (8 * (8 - np.clip(ndig, 1, 8))).astype(np.uint64)       # bits right of the digits
    x = win[s + neg].astype(np.uint64) >> shift                     # 1. digits in the low bytes
    x |= _ZEROS & ~(~_U(0) >> shift)                                #    '0' in the bytes above
    below = (x - _ZEROS) & ~x & _HIGH                               # 2. some byte < '0'
    above = ((x & ~_HIGH) + _U(0x46 * _ONES) | x) & _HIGH           #    some byte > '9'
    is_int &= (below == 0) & (above == 0)
    d = x - _ZEROS                                                  # 3. one digit per byte
    m8, m16, m32 = _U(0x00FF00FF00FF00FF), _U(0x0000FFFF0000FFFF), _U(0xFFFFFFFF)
    d = (d >> _U(8) & m8) * _U(10) + (d & m8)                       # 4. 4 numbers 0..99
    d = (d >> _U(16) & m16) * _U(100) + (d & m16)                   #    2 numbers 0..9999
    d = (d >> _U(32)) * _U(10000) + (d & m32)                       #    1 number 0..99999999
    v = d.astype(np.float64)
    return np.where(neg, -v, v), is_int
