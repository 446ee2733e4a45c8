"""What every reader hands to the preprocessing: a schema and chunks of raw columns.

A reader turns a file into a stream of `RawChunk`s of at most a few MB each,
so that a file larger than memory can be read twice (count, then encode)
without ever holding it whole. A chunk is column-oriented: one entry per
input column, in one of four raw forms that the preprocessing
(`preprocess.py`) knows how to encode:

    kind "categorical"  list[str] of n values ("" = missing, a value of its own),
                        or PackedStrings: the same values packed into uint64 keys
    kind "numeric"      ndarray (n,) float64, NaN = missing
    kind "multi"        TokenLists: n lists of str tokens, as CSR (indptr, tokens)
    kind "sparse"       SparseEntries: n lists of (field id, feature id, value), as CSR

`ColumnSpec` names a column and its kind; a reader's `.columns` is its schema.

This module also holds what the text readers share: opening a file with a
clear error, reading it in blocks of whole lines while keeping line numbers,
finding the lines that are not UTF-8, and the once-per-file warnings about
NaN/inf numbers and about rows a reader repaired (`Notes`).

Files as they come: a name ending in .gz, .bz2 or .xz is decompressed while
it is read (the standard library's gzip, bz2, lzma; Criteo ships gzipped);
compressed bytes under another name are refused with a message saying that
compression is recognised by the extension. A UTF-8 byte-order mark at the
start of a file is dropped.
"""
from __future__ import annotations

import bz2
import gzip
import lzma
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataError

RAW_KINDS = ("categorical", "numeric", "multi", "sparse")
NUMERIC_MODES = ("bucket", "value")
MAX_SLOTS = 1000      # most values a row may put in multi-valued fields (libSVM features, a CSV list)
BLOCK_BYTES = 1 << 22  # 4 MiB of text per chunk: ~20k Criteo rows, a few tens of MB once split


@dataclass(frozen=True)
class ColumnSpec:
    """One input column.

    name  : column name (also the encoded field's name, except for "sparse")
    kind  : "categorical" | "numeric" | "multi" | "sparse"
    mode  : numeric only: "bucket" | "value" | None (use the encoder's default)
    names : sparse only: field names by field id, or None to name them f"{name}{id}"
    """

    name: str
    kind: str
    mode: str | None = None
    names: tuple | None = None

    def __post_init__(self):
        if self.kind not in RAW_KINDS:
            raise ValueError(f"column {self.name!r}: kind {self.kind!r} is not one of {RAW_KINDS}")
        if self.mode is not None and (self.kind != "numeric" or self.mode not in NUMERIC_MODES):
            raise ValueError(f"column {self.name!r}: mode {self.mode!r} needs kind 'numeric' "
                             f"and one of {NUMERIC_MODES}")

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "mode": self.mode,
                "names": None if self.names is None else list(self.names)}

    @classmethod
    def from_dict(cls, d: dict) -> "ColumnSpec":
        names = d.get("names")
        return cls(d["name"], d["kind"], d.get("mode"), None if names is None else tuple(names))


# ---- raw column forms ---------------------------------------------------------------
@dataclass
class PackedStrings:
    """n categorical values of at most 8 UTF-8 bytes, each packed into one uint64.

    keys (n,) uint64: the value's bytes left-aligned, big-endian, zero-padded
    ("" -> 0). Text files never contain NUL bytes (readers reject them), so
    the packing is one-to-one, and numpy can sort and search the keys far
    faster than Python can hash the strings: this is what makes the Criteo
    reader fast. `to_strings()` gives the values back.
    """

    keys: np.ndarray

    def __len__(self) -> int:
        return int(self.keys.shape[0])

    def to_strings(self) -> list:
        return unpack_strings(self.keys)


def pack_string(s: str) -> int | None:
    """The uint64 key of `s` (see PackedStrings), or None if it is longer than 8 bytes."""
    b = s.encode("utf-8")
    if len(b) > 8 or b"\0" in b:
        return None
    return int.from_bytes(b.ljust(8, b"\0"), "big")


def pack_strings(tokens) -> tuple:
    """Vectorised pack_string over a list: (keys (V,) uint64, fits (V,) bool: at most 8 bytes).

    The tokens are joined by newlines into one buffer and cut with the same
    NumPy tricks as the Criteo reader (fastparse), instead of one Python call each.
    """
    from .fastparse import byte_windows, pack_cells       # fastparse does not import raw

    tokens = list(tokens)
    joined = "\n".join(tokens)
    if not tokens or "\0" in joined or joined.count("\n") != len(tokens) - 1:
        keys = [pack_string(t) for t in tokens]           # rare: a token with a newline or NUL
        fits = np.array([k is not None for k in keys], dtype=bool)
        return np.array([k or 0 for k in keys], dtype=np.uint64), fits
    a = np.frombuffer((joined + "\n").encode("utf-8"), dtype=np.uint8)
    ends = np.flatnonzero(a == 10)
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    fits = (ends - starts) <= 8
    keys = pack_cells(byte_windows(a), starts, np.minimum(ends, starts + 8))
    return np.where(fits, keys, np.uint64(0)), fits


def unpack_strings(keys: np.ndarray) -> list:
    """list[str] from uint64 keys (inverse of pack_string)."""
    as_bytes = np.ascontiguousarray(keys, dtype=">u8").view("S8")  # numpy drops trailing NULs
    return [b.decode("utf-8") for b in as_bytes.tolist()]


@dataclass
class TokenLists:
    """n lists of string tokens (a multi-valued column), in CSR form.

    indptr (n+1,) int64 : row r's tokens are tokens[indptr[r]:indptr[r+1]]
    tokens list[str]    : all tokens, row after row
    """

    indptr: np.ndarray
    tokens: list

    def __len__(self) -> int:
        return int(self.indptr.shape[0] - 1)

    @classmethod
    def from_lists(cls, lists) -> "TokenLists":
        lens = np.fromiter((len(t) for t in lists), dtype=np.int64, count=len(lists))
        indptr = np.zeros(len(lists) + 1, dtype=np.int64)
        np.cumsum(lens, out=indptr[1:])
        return cls(indptr, [tok for t in lists for tok in t])


@dataclass
class SparseEntries:
    """n rows of (field id, feature id, value) entries (libSVM / libFFM), in CSR form.

    indptr (n+1,) int64, fields (nnz,) int64, features (nnz,) int64, values (nnz,) float64
    """

    indptr: np.ndarray
    fields: np.ndarray
    features: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:
        return int(self.indptr.shape[0] - 1)


@dataclass
class RawChunk:
    """n consecutive data rows of one file.

    path    : the file they came from
    lines   : (n,) int64 1-based line numbers, for error messages
    y       : (n,) float32 labels in {0, 1} (zeros when the file has no labels)
    columns : column name -> raw column (see the module docstring)
    """

    path: str
    lines: np.ndarray
    y: np.ndarray
    columns: dict

    def __len__(self) -> int:
        return int(self.y.shape[0])


@dataclass
class ReadStats:
    """What one pass over a file saw: rows kept, bad rows skipped, NaN/inf numbers made missing."""

    rows: int = 0
    skipped: int = 0
    nonfinite: int = 0
    first_skipped: list = field(default_factory=list)  # the first few skipped rows' errors (str)
    notes: dict = field(default_factory=dict)          # repairs by kind -> count (see Notes)

    def skip(self, err: DataError, keep: int = 5) -> None:
        self.skipped += 1
        if len(self.first_skipped) < keep:
            self.first_skipped.append(str(err))

    def skipped_lines(self) -> list:
        """One line per reason shown: 'skipped N bad rows, the first: ...' lines (empty when none)."""
        return skipped_report(self.skipped, self.first_skipped)

    def to_dict(self) -> dict:
        return {"rows": self.rows, "skipped": self.skipped, "nonfinite": self.nonfinite,
                "first_skipped": list(self.first_skipped), "notes": dict(self.notes)}


def skipped_report(skipped: int, first: list) -> list:
    """Lines that say how many rows were skipped and why (the first few errors, with their lines)."""
    if not skipped:
        return []
    more = f" (the first {len(first)} shown)" if skipped > len(first) else ""
    return [f"skipped {skipped:,} bad row(s){more}:"] + [f"  {e}" for e in first]


class Notes:
    """Rows a reader repaired rather than refused, counted by kind and warned about once per file.

    notes.add("rows with missing trailing columns read as missing", count, line, detail)
    -> at the end of the file one RuntimeWarning per kind: "FILE: 12 rows with ... (first at line 7: ...)".
    Nothing a reader changes on its own stays silent.
    """

    def __init__(self, path):
        self.path = str(path)
        self.counts = {}
        self.first = {}

    def add(self, what: str, count: int = 1, line=None, detail=None) -> None:
        if count <= 0:
            return
        self.counts[what] = self.counts.get(what, 0) + int(count)
        self.first.setdefault(what, (line, detail))

    def warn(self) -> None:
        for what, n in self.counts.items():
            line, detail = self.first[what]
            where = ""
            if line is not None:
                where = f" (first at line {line}" + (f": {detail}" if detail else "") + ")"
            warnings.warn(f"{self.path}: {n:,} {what}{where}", RuntimeWarning, stacklevel=3)


# ---- files and blocks of lines ---------------------------------------------------------
def check_file(path) -> Path:
    """Path of an existing, readable regular file, else DataError naming it."""
    p = Path(path)
    if not p.exists():
        raise DataError("file not found", p)
    if p.is_dir():
        raise DataError("is a directory, expected a file", p)
    if not os.access(p, os.R_OK):
        raise DataError("file is not readable (permission denied)", p)
    return p


# extension -> (opener, name); and the magic bytes each compressed format starts with
COMPRESSED = {".gz": (gzip.open, "gzip"), ".bz2": (bz2.open, "bzip2"), ".xz": (lzma.open, "xz")}
_MAGIC = ((b"\x1f\x8b", ".gz"), (b"\xfd7zXZ\x00", ".xz"), (b"BZh", ".bz2"))
BOM = b"\xef\xbb\xbf"


def compressed_as(head: bytes):
    """The extension of the compressed format `head` (a file's first bytes) starts with, or None."""
    for magic, ext in _MAGIC:
        if head.startswith(magic):
            if ext == ".bz2" and not (len(head) >= 10 and head[3:4].isdigit() and head[4:10] in
                                      (b"\x31\x41\x59\x26\x53\x59", b"\x17\x72\x45\x38\x50\x90")):
                continue                  # plain text that happens to start with "BZh"
            return ext
    return None


def open_binary(path):
    """A binary file object over `path`, decompressing .gz/.bz2/.xz by extension; DataError when
    a file holds compressed bytes under another name (compression is recognised by extension only)."""
    p = check_file(path)
    opener = COMPRESSED.get(p.suffix.lower())
    try:
        if opener is not None:
            return opener[0](p, "rb")
        with open(p, "rb") as f:
            head = f.read(10)
    except OSError as e:
        raise DataError(f"cannot read file: {e.strerror or e}", p) from None
    ext = compressed_as(head)
    if ext is not None:
        raise DataError(f"this is {COMPRESSED[ext][1]}-compressed data, but compressed input is read by "
                        f"extension: name the file *{ext} (or decompress it)", p)
    return open(p, "rb")


def iter_line_blocks(path, block_bytes: int = BLOCK_BYTES):
    """Yield (first_line_number, block) with `block` bytes of whole lines, each ending in b"\\n".

    A last line without a newline gets one. Line numbers are 1-based. Memory
    is one block plus one partial line, whatever the file size. .gz/.bz2/.xz
    files are decompressed on the fly (open_binary); a leading UTF-8 BOM is dropped.
    """
    p = check_file(path)
    line_no = 1
    rest = b""
    first = True
    try:
        with open_binary(p) as f:
            while True:
                data = f.read(block_bytes)
                if not data:
                    break
                if first:
                    first = False
                    while len(data) < len(BOM) and data:     # a tiny first read: make sure of the BOM
                        more = f.read(block_bytes)
                        if not more:
                            break
                        data += more
                    if data.startswith(BOM):
                        data = data[len(BOM):]
                data = rest + data
                cut = data.rfind(b"\n")
                if cut < 0:          # no newline yet: keep reading (a very long line)
                    rest = data
                    continue
                block, rest = data[:cut + 1], data[cut + 1:]
                yield line_no, block
                line_no += block.count(b"\n")
    except (OSError, EOFError, lzma.LZMAError) as e:      # includes bad or truncated compressed data
        kind = COMPRESSED.get(p.suffix.lower())
        what = f"cannot read {kind[1]} file" if kind else "cannot read file"
        raise DataError(f"{what}: {getattr(e, 'strerror', None) or e}", p) from None
    if rest:
        yield line_no, rest + b"\n"


def line_bounds(a: np.ndarray):
    """Line starts and ends (exclusive, a trailing '\\r' excluded) of a block of whole lines.

    a (B,) uint8 ending in '\\n' -> (starts (L,) int64, ends (L,) int64, newlines (L,) int64)
    """
    nl = np.flatnonzero(a == 10)
    starts = np.empty_like(nl)
    if nl.shape[0]:
        starts[0] = 0
        starts[1:] = nl[:-1] + 1
    ends = nl.copy()
    cr = (ends > starts) & (a[np.maximum(ends - 1, 0)] == 13)   # Windows line ends
    ends[cr] -= 1
    return starts, ends, nl


def bad_text_lines(block: bytes, starts: np.ndarray, ends: np.ndarray) -> dict:
    """{line index: (message, value)} for lines that are not valid UTF-8 or hold a NUL byte.

    Cheap when the block is clean (one decode of the whole block); line by
    line only when something is wrong.
    """
    clean = b"\0" not in block
    if clean:
        try:
            block.decode("utf-8")
            return {}
        except UnicodeDecodeError:
            pass
    bad = {}
    for i, (s, e) in enumerate(zip(starts.tolist(), ends.tolist())):
        raw = block[s:e]
        if b"\0" in raw:
            bad[i] = ("NUL byte in a text file (binary data?)", raw[:40])
            continue
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as err:
            bad[i] = (f"bytes that are not UTF-8 at character {err.start + 1}", raw[err.start:err.start + 8])
    return bad


class BlockReader:
    """Base of the readers whose chunks are their blocks parsed one by one.

    A subclass sets path, block_bytes, skip_bad_rows and stats and implements
    `_parse_block(block, line0, nonfinite) -> RawChunk`, usually with `_parsed_rows`. `_begin()` and
    `_end()` run before and after each pass (default: nothing).
    """

    def chunks(self):
        """Yield RawChunks over the whole file (a fresh pass each call; .stats is reset)."""
        self.stats = ReadStats()
        self.notes = Notes(self.path)
        nonfinite = NonFiniteCounter(self.path)
        self._begin()
        for line0, block in iter_line_blocks(self.path, self.block_bytes):
            chunk = self._parse_block(block, line0, nonfinite)
            if len(chunk):
                self.stats.rows += len(chunk)
                yield chunk
        self._end()
        finish_file(self.path, self.stats, nonfinite, self.notes)

    def _begin(self):
        pass

    def _end(self):
        pass

    def _skippable(self) -> bool:
        """May a bad line be skipped now (with skip_bad_rows)? Not while reading a CSV header."""
        return True

    def _parsed_rows(self, block: bytes, line0: int, parse):
        """Yield (line, row), row = parse(text, line), for each non-blank line of a block.

        A line that cannot be read (bad text, or parse raising DataError) stops the read with its
        DataError, or, with skip_bad_rows, is counted in .stats and skipped. parse returns None for
        a line that is not a row (a header).
        """
        for line, text, bad in decoded_lines(block, line0, self.path):
            try:
                if bad is not None:
                    raise bad
                if not text.strip():
                    continue                                       # blank line
                row = parse(text, line)
            except DataError as err:
                if not (self.skip_bad_rows and self._skippable()):
                    raise
                self.stats.skip(err)
                continue
            if row is not None:
                yield line, row


def decoded_lines(block: bytes, line0: int, path):
    """Yield (line, text, error) for each line of a block read by iter_line_blocks.

    line is the 1-based line number; text the decoded line (without its newline), or None when
    the line is not usable text, in which case error is the DataError that says why (the
    caller raises it inside its per-line try, so --skip-bad-rows can count it like any bad row).
    """
    starts, ends, _ = line_bounds(np.frombuffer(block, dtype=np.uint8))
    bad = bad_text_lines(block, starts, ends)
    for i, (s, e) in enumerate(zip(starts.tolist(), ends.tolist())):
        if i in bad:
            msg, value = bad[i]
            yield line0 + i, None, DataError(msg, path, line0 + i, value=value)
        else:
            yield line0 + i, block[s:e].decode("utf-8"), None


class NonFiniteCounter:
    """Counts NaN/inf numbers made missing in one file; warns once, with the count and the first place."""

    def __init__(self, path):
        self.path = str(path)
        self.count = 0
        self.first = None  # (line, column name, column number, text)

    def add(self, count: int, line=None, name=None, number=None, text=None) -> None:
        if count and self.first is None:
            self.first = (line, name, number, text)
        self.count += int(count)

    def warn(self) -> None:
        if self.count:
            line, name, number, text = self.first
            warnings.warn(
                f"{self.path}: {self.count} NaN/inf numeric value(s) treated as missing "
                f"(first at line {line}, column {number} ({name}): {text!r})",
                RuntimeWarning, stacklevel=3)


def finish_file(path, stats: ReadStats, nonfinite: NonFiniteCounter, notes: Notes | None = None) -> None:
    """End-of-file checks shared by all readers: warn about NaN/inf and repairs, refuse a file with no rows."""
    stats.nonfinite = nonfinite.count
    nonfinite.warn()
    if notes is not None:
        stats.notes = dict(notes.counts)
        notes.warn()
    if stats.rows == 0:
        if stats.skipped:
            raise DataError(f"no usable rows: all {stats.skipped} data row(s) were bad and skipped "
                            f"(first: {stats.first_skipped[0]})", path)
        raise DataError("empty file: no data rows", path)


def parse_float(text: str):
    """float(text), or None if it is not a number. Accepts what Python's float() accepts."""
    try:
        return float(text)
    except ValueError:
        return None


def take_rows(chunk: RawChunk, rows: np.ndarray) -> RawChunk:
    """The chunk restricted to `rows` (int positions, in the order given)."""
    rows = np.asarray(rows, dtype=np.int64)
    cols = {}
    for name, col in chunk.columns.items():
        if isinstance(col, np.ndarray):
            cols[name] = col[rows]
        elif isinstance(col, PackedStrings):
            cols[name] = PackedStrings(col.keys[rows])
        elif isinstance(col, TokenLists):
            lens = np.diff(col.indptr)[rows]
            indptr = np.zeros(rows.shape[0] + 1, dtype=np.int64)
            np.cumsum(lens, out=indptr[1:])
            tokens = [t for r in rows.tolist() for t in col.tokens[col.indptr[r]:col.indptr[r + 1]]]
            cols[name] = TokenLists(indptr, tokens)
        elif isinstance(col, SparseEntries):
            lens = np.diff(col.indptr)[rows]
            indptr = np.zeros(rows.shape[0] + 1, dtype=np.int64)
            np.cumsum(lens, out=indptr[1:])
            # entry positions of the selected rows, row after row
            pos = np.repeat(col.indptr[rows] - indptr[:-1], lens) + np.arange(indptr[-1], dtype=np.int64)
            cols[name] = SparseEntries(indptr, col.fields[pos], col.features[pos], col.values[pos])
        else:
            cols[name] = [col[i] for i in rows.tolist()]
    return RawChunk(chunk.path, chunk.lines[rows], chunk.y[rows], cols)
