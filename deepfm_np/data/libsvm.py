"""Readers for libSVM / libFM (`label idx:val ...`) and libFFM (`label field:idx:val ...`) files.

    1 3:1 10:0.5 27:1          libSVM / libFM: label, then feature index:value pairs
    0 0:3:1 1:10:1 2:27:0.5    libFFM: label, then field:index:value triples

Labels are 0/1 or -1/+1 (-1 becomes 0). Tokens are separated by spaces or
tabs; blank lines are ignored. A row keeps its features as (field id,
feature id, value) entries (raw.SparseEntries); the preprocessing then gives
every field id its own multi-valued field whose slots hold that field's
features with val = x, the feature's value, so a model summing a field's
slots computes sum_j x_j E[j] - exactly the linear and embedding terms of an
FM over that field's features.

Which field does a libSVM feature belong to? The format does not say, and the
models interact *fields* (FM: <e_f, e_g> for f < g; a multi-valued field's
features are pooled first, so pairs inside one field are not modelled).
The choice is made with `fields=`:

  "auto"      (default) "position" when every row of the file has the same
              number of features (the mark of a file written from a fixed list
              of one-hot fields), else "single". The choice and its reason are in
              `reader.auto` ({"mode", "rows", "min", "max"}); the command line prints
              them, and warns loudly when a model that needs field pairs gets one field.
  "single"    all features in one field "features". Every feature keeps one
              embedding whatever the file, but FM/DeepFM then see no pairs (one
              field) and are no better than logistic regression. Use it for LR,
              or when you know nothing about the features.
  "position"  the j-th feature of a row is field j ("pos0", "pos1", ...): right for
              files written from a fixed list of one-hot fields in a fixed order
              (libFM's user-then-item files, most CTR conversions), wrong for
              bag-of-words rows, where position means nothing.
  ranges      "user:1-943,item:944-2625" or [("user", 1, 943), ...]: contiguous
              inclusive index ranges, the usual way libFM files are built. An
              index outside every range is a DataError.

A feature index that occurs more than once in a row (`3:1 3:1 3:1`; in
libFFM the same field:index) is one feature whose values are summed, kept at
its first position: `3:3`. For a pooled field this is exactly what the
repeated entries meant (sum_j x_j E[j] is linear in x), and it gives
"position" one meaning too. Rows so merged are counted and warned about.

Rows are padded to the widest row of their field (preprocess.py), so one
very wide row would cost memory and time on every row: a row with more than
`max_slots` features (default raw.MAX_SLOTS) is a bad row, refused with its
line (or skipped and counted with skip_bad_rows) - raise max_slots for files
whose rows really are that wide.

libFFM files say the field of every feature, so there is nothing to choose:
field id f becomes field "field{f}".
"""
from __future__ import annotations

import numpy as np

from ..errors import DataError
from .raw import (BLOCK_BYTES, MAX_SLOTS, BlockReader, ColumnSpec, NonFiniteCounter, Notes, RawChunk, ReadStats,
                  SparseEntries, iter_line_blocks, line_bounds)

FIELD_MODES = ("auto", "single", "position")


def features_per_row(path, block_bytes: int = BLOCK_BYTES) -> dict:
    """{"rows", "min", "max"}: how many features (tokens after the label) the non-blank rows hold.

    One vectorised pass over the bytes: a token starts at a byte that is not a space, tab or
    line end and follows one (or the line start); tokens per line come from one bincount.
    """
    rows, lo, hi = 0, None, 0
    for _, block in iter_line_blocks(path, block_bytes):
        a = np.frombuffer(block, dtype=np.uint8)
        starts, ends, newlines = line_bounds(a)
        space = (a == 32) | (a == 9) | (a == 10) | (a == 13)
        begin = ~space
        begin[1:] &= space[:-1]
        tokens = np.bincount(np.searchsorted(newlines, np.flatnonzero(begin)), minlength=starts.shape[0])
        tokens = tokens[tokens > 0] - 1                      # blank lines out, the label out
        if tokens.shape[0]:
            rows += int(tokens.shape[0])
            lo = int(tokens.min()) if lo is None else min(lo, int(tokens.min()))
            hi = max(hi, int(tokens.max()))
    return {"rows": rows, "min": 0 if lo is None else lo, "max": hi}


def auto_fields(path, block_bytes: int = BLOCK_BYTES) -> dict:
    """fields="auto" resolved for a file: {"mode": "position" | "single", "n_fields", "rows", "min", "max"}."""
    counts = features_per_row(path, block_bytes)
    same = counts["rows"] > 0 and counts["min"] == counts["max"] and counts["max"] > 1
    mode = "position" if same else "single"
    return {"mode": mode, "n_fields": counts["max"] if same else 1, **counts}


def parse_field_ranges(spec) -> list:
    """[(name, lo, hi), ...] from "name:lo-hi,..." or a list of triples; checks they do not overlap."""
    if isinstance(spec, str):
        out = []
        for part in spec.split(","):
            part = part.strip()
            try:
                name, rng = part.rsplit(":", 1)
                lo, hi = rng.split("-")
                out.append((name.strip(), int(lo), int(hi)))
            except ValueError:
                raise ValueError(f"field range {part!r} is not of the form name:lo-hi "
                                 f"(e.g. user:1-943)") from None
    else:
        out = [(str(n), int(lo), int(hi)) for n, lo, hi in spec]
    if not out:
        raise ValueError("no field ranges given")
    for name, lo, hi in out:
        if lo > hi or lo < 0:
            raise ValueError(f"field range {name}:{lo}-{hi} is empty or negative")
    if len({n for n, _, _ in out}) != len(out):
        raise ValueError(f"field range names must be unique: {[n for n, _, _ in out]}")
    srt = sorted(out, key=lambda t: t[1])
    for (n1, _, h1), (n2, l2, _) in zip(srt, srt[1:]):
        if l2 <= h1:
            raise ValueError(f"field ranges {n1} and {n2} overlap")
    return out


class LibSVMReader(BlockReader):
    """libSVM/libFM (ffm=False) or libFFM (ffm=True) file -> RawChunks with one sparse column.

    fields        : libSVM only: "auto" | "single" | "position" | ranges (see the module docstring)
    skip_bad_rows : drop bad rows (counted in .stats) instead of raising DataError
    max_slots     : most features a row may have (None: no limit); wider rows are bad rows
    """

    def __init__(self, path, *, ffm: bool = False, fields="auto", skip_bad_rows: bool = False,
                 block_bytes: int = BLOCK_BYTES, max_slots: int | None = MAX_SLOTS):
        self.path = path
        self.ffm = bool(ffm)
        self.format = "libffm" if self.ffm else "libsvm"
        self.skip_bad_rows = bool(skip_bad_rows)
        self.block_bytes = int(block_bytes)
        self.max_slots = None if max_slots is None else int(max_slots)
        if self.max_slots is not None and self.max_slots < 1:
            raise ValueError(f"max_slots must be >= 1, got {max_slots}")
        self.ranges = None
        self.auto = None
        self.notes = Notes(path)
        self.stats = ReadStats()
        self._fields = fields
        self._columns = None
        if not self.ffm and fields not in FIELD_MODES:
            self._setup()                                  # bad ranges: ValueError now, not later

    @property
    def columns(self) -> tuple:
        """(ColumnSpec,): the one sparse column (fields="auto" reads the file once to choose)."""
        if self._columns is None:
            self._setup()
        return self._columns

    @property
    def mode(self) -> str:
        """"ffm" | "single" | "position" | "ranges" (auto resolved)."""
        if self._columns is None:
            self._setup()
        return self._mode

    def chunks(self):
        if self._columns is None:
            self._setup()
        return super().chunks()

    def _setup(self) -> None:
        fields = self._fields
        if not self.ffm and fields == "auto":
            self.auto = auto_fields(self.path, self.block_bytes)
            fields = self.auto["mode"]
        if self.ffm:
            self._mode = "ffm"
            spec = ColumnSpec("field", "sparse")
        elif fields == "single":
            self._mode = "single"
            spec = ColumnSpec("features", "sparse", names=("features",))
        elif fields == "position":
            self._mode = "position"
            spec = ColumnSpec("pos", "sparse")
        else:
            self._mode = "ranges"
            self.ranges = parse_field_ranges(fields)
            order = sorted(range(len(self.ranges)), key=lambda i: self.ranges[i][1])
            self._lo = np.array([self.ranges[i][1] for i in order], dtype=np.int64)
            self._hi = np.array([self.ranges[i][2] for i in order], dtype=np.int64)
            self._fid = np.array(order, dtype=np.int64)
            spec = ColumnSpec("features", "sparse", names=tuple(n for n, _, _ in self.ranges))
        self._columns = (spec,)

    def _parse_block(self, block: bytes, line0: int, nonfinite: NonFiniteCounter) -> RawChunk:
        lines, ys, counts, fields, feats, vals = [], [], [], [], [], []
        for line, (y, f, k, v) in self._parsed_rows(
                block, line0, lambda text, line: self._parse_tokens(text.split(), line, nonfinite)):
            lines.append(line)
            ys.append(y)
            counts.append(len(k))
            fields.extend(f)
            feats.extend(k)
            vals.extend(v)
        n = len(ys)
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.asarray(counts, dtype=np.int64), out=indptr[1:])
        feats = np.asarray(feats, dtype=np.int64)
        if self._mode == "single":
            fields = np.zeros(feats.shape[0], dtype=np.int64)
        elif self._mode == "position":                          # j-th entry of its row
            row = np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr))
            fields = np.arange(feats.shape[0], dtype=np.int64) - indptr[row]
        else:                                                  # ffm: as read; ranges: looked up
            fields = np.asarray(fields, dtype=np.int64)
        entries = SparseEntries(indptr, fields, feats, np.asarray(vals, dtype=np.float64))
        return RawChunk(str(self.path), np.asarray(lines, dtype=np.int64),
                        np.asarray(ys, dtype=np.float32), {self.columns[0].name: entries})

    def _parse_tokens(self, toks, line: int, nonfinite: NonFiniteCounter):
        """(y, field ids, feature ids, values) of one row's tokens, or DataError."""
        y = _label(toks[0], self.path, line)
        if self.max_slots is not None and len(toks) - 1 > self.max_slots:
            raise DataError(f"row has {len(toks) - 1:,} features, more than max_slots {self.max_slots:,}: rows "
                            "are padded to the widest one, so a row this wide costs memory and time on every "
                            "row; pass --max-slots N for files whose rows are that wide, or --skip-bad-rows "
                            "to skip it", self.path, line)
        parts = 3 if self.ffm else 2
        what = "field:index:value" if self.ffm else "index:value"
        f_ids, k_ids, values = [], [], []
        for j, tok in enumerate(toks[1:], start=2):
            p = tok.split(":")
            col = (what, j)
            if len(p) != parts:
                raise DataError(f"expected {what}", self.path, line, col, tok)
            try:
                ints = [int(t) for t in p[:-1]]
            except ValueError:
                raise DataError(f"{what}: field and index must be integers", self.path, line, col,
                                tok) from None
            if min(ints) < 0 or max(ints) >= 1 << 62:
                raise DataError(f"{what}: field and index must be in [0, 2^62)", self.path, line,
                                col, tok)
            try:
                x = float(p[-1])
            except ValueError:
                raise DataError(f"{what}: value is not a number", self.path, line, col, tok) from None
            if not np.isfinite(x):
                nonfinite.add(1, line, what, j, tok)           # a missing value: drop the entry
                continue
            k = ints[-1]
            if self._mode == "ffm":
                f = ints[0]
            elif self._mode == "ranges":
                r = int(np.searchsorted(self._lo, k, side="right")) - 1
                if r < 0 or k > self._hi[r]:
                    raise DataError("feature index is in no field range "
                                    f"({', '.join(f'{n}:{lo}-{hi}' for n, lo, hi in self.ranges)})",
                                    self.path, line, col, tok)
                f = int(self._fid[r])
            else:
                f = 0
            f_ids.append(f)
            k_ids.append(k)
            values.append(x)
        keys = list(zip(f_ids, k_ids)) if self.ffm else k_ids
        if len(set(keys)) != len(keys):
            f_ids, k_ids, values = self._merge_duplicates(keys, f_ids, k_ids, values, line)
        return y, f_ids, k_ids, values

    def _merge_duplicates(self, keys, f_ids, k_ids, values, line: int):
        """One entry per feature, at its first position, with the values of its repeats summed."""
        first = {}
        out_f, out_k, out_v = [], [], []
        for key, f, k, x in zip(keys, f_ids, k_ids, values):
            if key in first:
                out_v[first[key]] += x
                continue
            first[key] = len(out_k)
            out_f.append(f)
            out_k.append(k)
            out_v.append(x)
        dup = [k for k in first if keys.count(k) > 1][0]
        what = "field:index" if self.ffm else "index"
        self.notes.add("row(s) with a repeated feature: its values were summed into one entry",
                       1, line, f"{what} {':'.join(map(str, dup)) if self.ffm else dup} "
                                f"{keys.count(dup)} times")
        return out_f, out_k, out_v


def _label(tok: str, path, line: int) -> float:
    try:
        v = float(tok)
    except ValueError:
        v = None
    if v not in (0.0, 1.0, -1.0):
        raise DataError("label must be 0/1 or -1/+1", path, line, ("label", 1), tok)
    return 1.0 if v > 0 else 0.0
