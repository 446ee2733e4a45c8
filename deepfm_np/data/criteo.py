"""Reader for Criteo's display-advertising TSV (the data set of the DeepFM paper).

One row per line, tab-separated, no header, 40 columns:

    label   0 or 1
    I1..I13 integers (mostly counts; can be negative; empty = missing)
    C1..C26 categorical values hashed by Criteo to 8 hex digits (empty = missing)

(39 columns, without the label, when `label=False`, as in Criteo's own
unlabeled test file.) Blank lines are ignored; '\\r\\n' line ends are accepted.

Rows written by tools that strip trailing empty fields have fewer columns
(37-39): as long as a row still holds the label and I1..I13, its missing
trailing columns are read as missing values, and the rows so read are
counted (`reader.stats.notes`) and reported in one warning per file. A row
with too many columns, or too few for the label and the integers, is bad.
A file whose rows all have 39 columns is almost surely unlabeled: it is
refused with a hint to pass label=False (--no-label).

The file is read in blocks of a few MB and each block is parsed with the
vectorised tricks of `fastparse.py`, so reading stays well above the
training throughput (measured in benchmarks/data_memory.py). Numbers that
are not plain integers ("2.5", "1e3") are parsed one by one with float();
"nan"/"inf" become missing with one warning per file.

Bad rows - wrong column count, a label other than 0/1, a non-number in I1..I13,
bytes that are not UTF-8 - raise `DataError` naming the line and column, or,
with `skip_bad_rows=True`, are dropped and counted in `reader.stats`.
"""
from __future__ import annotations

import numpy as np

from ..errors import DataError
from .fastparse import byte_windows, pack_cells, parse_int_cells, split_delimited
from .raw import (BLOCK_BYTES, BlockReader, ColumnSpec, NonFiniteCounter, Notes, PackedStrings, RawChunk,
                  ReadStats, bad_text_lines, line_bounds, parse_float)

INT_NAMES = tuple(f"I{i}" for i in range(1, 14))
CAT_NAMES = tuple(f"C{i}" for i in range(1, 27))


class CriteoReader(BlockReader):
    """Criteo TSV file -> RawChunks with numeric columns I1..I13 and categorical C1..C26.

    path          : the .txt/.tsv file
    label         : True if column 1 is the 0/1 label (40 columns), False for 39 columns
    skip_bad_rows : drop bad rows (counted in .stats) instead of raising DataError
    block_bytes   : bytes of text parsed at a time (memory ~ 20x this)
    """

    format = "criteo"

    def __init__(self, path, *, label: bool = True, skip_bad_rows: bool = False,
                 block_bytes: int = BLOCK_BYTES):
        self.path = path
        self.label = bool(label)
        self.skip_bad_rows = bool(skip_bad_rows)
        self.block_bytes = int(block_bytes)
        self.columns = (tuple(ColumnSpec(n, "numeric") for n in INT_NAMES)
                        + tuple(ColumnSpec(n, "categorical") for n in CAT_NAMES))
        self.names = (("label",) if self.label else ()) + INT_NAMES + CAT_NAMES  # file columns
        self.stats = ReadStats()
        self.notes = Notes(path)

    # ---- one block ---------------------------------------------------------------------
    def _parse_block(self, block: bytes, line0: int, nonfinite: NonFiniteCounter) -> RawChunk:
        n_cols = len(self.names)
        a = np.frombuffer(block, dtype=np.uint8)
        starts, ends, newlines = line_bounds(a)
        errors = {}  # line index in block -> (column number, DataError); the first per line wins

        def report(i: int, col: int, err: DataError):
            if i not in errors or col < errors[i][0]:
                errors[i] = (col, err)

        for i, (msg, value) in bad_text_lines(block, starts, ends).items():
            report(i, 0, DataError(msg, self.path, line0 + i, value=value))
        min_cols = (1 if self.label else 0) + len(INT_NAMES)
        ncols, good, cs, ce = split_delimited(a, starts, ends, newlines, n_cols, min_cols=min_cols)
        used = ncols > 0
        if self.label and line0 == 1 and used.any() and (ncols[used] == n_cols - 1).all():
            raise DataError(f"every row has {n_cols - 1} tab-separated columns, one fewer than a labeled "
                            f"Criteo file ({self._expected()}): for a file without a label column (like "
                            f"Criteo's test file) pass --no-label (label=False)", self.path)
        for i in np.flatnonzero(~good & used).tolist():
            got = int(ncols[i])
            why = "too many" if got > n_cols else f"too few to hold {self._needed()}"
            if not self.label and got == n_cols + 1:
                why += "; if the file has a label column, do not pass --no-label"
            report(i, 0, DataError(
                f"expected {n_cols} tab-separated columns ({self._expected()}), got {got}: {why}",
                self.path, line0 + i))
        rows = np.flatnonzero(good)                 # (n,) line index of each tokenised row
        text_bad = np.zeros(rows.shape[0], dtype=bool)
        if errors:                                  # a line with bad bytes but 40 columns
            text_bad = np.isin(rows, np.fromiter(errors, dtype=np.int64))

        first = 0
        y = np.zeros(rows.shape[0], dtype=np.float32)
        if self.label:
            first = 1
            s, e = cs[:, 0], ce[:, 0]
            b = a[s]
            ok = ((e - s) == 1) & ((b == 48) | (b == 49))            # exactly "0" or "1"
            y = (b - 48).astype(np.float32) * ok
            for r in np.flatnonzero(~ok & ~text_bad).tolist():
                hint = ""
                if ncols[rows[r]] == n_cols - 1:
                    hint = f" (the row has {n_cols - 1} columns: if the file has no label column, pass --no-label)"
                report(int(rows[r]), 1, DataError(
                    "label must be 0 or 1" + hint, self.path, line0 + int(rows[r]), ("label", 1),
                    block[cs[r, 0]:ce[r, 0]].decode("utf-8", "replace")))

        # ---- I1..I13 ------------------------------------------------------------------
        ns, ne = cs[:, first:first + 13], ce[:, first:first + 13]    # (n, 13)
        win = byte_windows(a)
        values, is_int = parse_int_cells(win, ns, ne)
        values = values.reshape(ns.shape)
        is_int = is_int.reshape(ns.shape)
        empty = ne == ns
        values[empty] = np.nan
        for r, k in np.argwhere(~is_int & ~empty & ~text_bad[:, None]).tolist():
            text = block[ns[r, k]:ne[r, k]].decode("utf-8")
            v = parse_float(text)
            line = line0 + int(rows[r])
            if v is None:
                report(int(rows[r]), first + k + 1, DataError(
                    "not a number", self.path, line, (INT_NAMES[k], first + k + 1), text))
            elif not np.isfinite(v):
                nonfinite.add(1, line, INT_NAMES[k], first + k + 1, text)
                values[r, k] = np.nan
            else:
                values[r, k] = v

        # ---- keep the good rows --------------------------------------------------------
        keep = np.ones(rows.shape[0], dtype=bool)
        if errors:
            bad_lines = sorted(errors)
            if not self.skip_bad_rows:
                raise errors[bad_lines[0]][1]
            for i in bad_lines:
                self.stats.skip(errors[i][1])
            keep = ~np.isin(rows, np.asarray(bad_lines, dtype=np.int64))
        rows, cs, ce, y, values = rows[keep], cs[keep], ce[keep], y[keep], values[keep]
        short = np.flatnonzero(ncols[rows] < n_cols)
        if short.shape[0]:
            self.notes.add(f"row(s) with fewer than {n_cols} columns (trailing empty fields stripped?): "
                           "their missing trailing columns were read as missing values",
                           short.shape[0], line0 + int(rows[short[0]]), f"{int(ncols[rows[short[0]]])} columns")

        # ---- C1..C26 ------------------------------------------------------------------
        columns = {name: values[:, k] for k, name in enumerate(INT_NAMES)}
        cat_s, cat_e = cs[:, first + 13:], ce[:, first + 13:]         # (n, 26)
        lengths = cat_e - cat_s
        if lengths.size == 0 or lengths.max() <= 8:                  # Criteo: always 8 hex digits
            keys = pack_cells(win, cat_s, cat_e).reshape(cat_s.shape)
            for k, name in enumerate(CAT_NAMES):
                columns[name] = PackedStrings(np.ascontiguousarray(keys[:, k]))
        else:                                                        # some long values: per column
            for k, name in enumerate(CAT_NAMES):
                s, e = cat_s[:, k], cat_e[:, k]
                if (e - s).max() <= 8:
                    columns[name] = PackedStrings(pack_cells(win, s, e))
                else:
                    columns[name] = [block[i:j].decode("utf-8") for i, j in zip(s.tolist(), e.tolist())]
        return RawChunk(str(self.path), (line0 + rows).astype(np.int64), y, columns)

    def _needed(self) -> str:
        return "the label and I1..I13" if self.label else "I1..I13"

    def _expected(self) -> str:
        return "label, I1..I13, C1..C26" if self.label else "I1..I13, C1..C26"
