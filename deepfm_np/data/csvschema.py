"""Any CSV/TSV file, given a schema: which column is the label, which are categorical, numeric, multi-valued.

Schema file format (plain text, one directive per line, '#' starts a comment):

    sep comma                  # column separator: comma | tab | semicolon | pipe | space | one char
    header yes                 # yes: the first row names the columns (default); no: see `columns`
    columns id user age genres # the names of ALL columns, in order (needed with `header no`)
    label click                # the 0/1 label column
    categorical user item      # one or more categorical columns
    numeric age                # numeric, in the encoder's default mode (bucket unless told)
    bucket count               # numeric, always bucketized (numeric.py)
    value price                # numeric, always kept as a scaled value
    multi genres |             # multi-valued column and its separator (same names as `sep`)

The header is detected per file, so a training file with a header and
dev/test files without one (or the other way round) all read: once the
column names are known (`columns`, or the training file's header, which
`CsvSchema.learn_header` records), a file whose first line equals them - or
holds every column the schema uses - has a header; any other first line is
data, and with `header yes` a warning says the first line was not a header.
Without known names (`header yes`, no `columns`), the first line must be the
header: one that lacks the schema's columns is refused with a message that
it does not look like a header.

Columns the schema does not mention are ignored. The same schema can come
from command-line flags (`CsvSchema.from_options`). The schema is saved in
the model file (`to_dict`), so `predict` reads new files the same way.

Parsing uses Python's csv module (quotes, doubled quotes), one row per line:
a line break inside a quoted field is refused with a DataError. Cells:
label "0"/"1" (also "0.0"/"1.0"); numeric: empty = missing, anything
float() reads is a number, "nan"/"inf" are missing with a warning; multi:
tokens split on the separator, empty tokens dropped ("a||b" = a, b).
Categorical values are taken exactly as written ("" is a value too).
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field

import numpy as np

from ..errors import DataError
from .raw import (BLOCK_BYTES, MAX_SLOTS, BlockReader, ColumnSpec, NonFiniteCounter, RawChunk, ReadStats,
                  TokenLists, check_file, decoded_lines, iter_line_blocks)

SEPARATORS = {"comma": ",", "tab": "\t", "semicolon": ";", "pipe": "|", "space": " ", "colon": ":"}
_KINDS = {"categorical": ("categorical", None), "numeric": ("numeric", None),
          "bucket": ("numeric", "bucket"), "value": ("numeric", "value"), "multi": ("multi", None)}


def separator(name: str) -> str:
    """',' from 'comma' (or ',' itself); ValueError for anything that is not one character."""
    sep = SEPARATORS.get(name, name)
    if sep == "\\t":
        sep = "\t"
    if len(sep) != 1 or sep in "\r\n\"":
        raise ValueError(f"separator {name!r} must be one character (or one of {sorted(SEPARATORS)})")
    return sep


@dataclass
class CsvSchema:
    """label: label column (None for unlabeled data); fields: [(name, kind, mode, multi sep)].

    kind in "categorical" | "numeric" | "multi"; mode "bucket" | "value" | None for numeric.
    """

    label: str | None
    fields: list = field(default_factory=list)
    sep: str = ","
    header: bool = True
    names: tuple | None = None        # all column names, when there is no header row

    def __post_init__(self):
        self.sep = separator(self.sep)
        self.fields = [tuple(f) for f in self.fields]
        seen = set() if self.label is None else {self.label}
        for name, kind, mode, msep in self.fields:
            if name in seen:
                raise ValueError(f"schema names column {name!r} twice")
            seen.add(name)
            if kind == "multi":
                separator(msep)
            ColumnSpec(name, kind, mode)              # checks kind and mode
        if not self.fields:
            raise ValueError("schema has no feature columns")
        if not self.header and not self.names:
            raise ValueError("schema without a header row needs `columns` (the names of all columns)")
        if self.names is not None:
            self.names = tuple(self.names)
            missing = [n for n in seen if n not in self.names]
            if missing:
                raise ValueError(f"schema columns {missing} are not among the listed columns {list(self.names)}")

    def column_specs(self) -> tuple:
        return tuple(ColumnSpec(n, k, m) for n, k, m, _ in self.fields)

    # ---- constructors ------------------------------------------------------------------
    @classmethod
    def from_options(cls, label, categorical=(), numeric=(), multi=(), bucket=(), value=(),
                     sep=",", header=True, columns=None) -> "CsvSchema":
        """From command-line style options; multi items are "name:sep" ("genres:|")."""
        fields = [(n, "categorical", None, None) for n in _names(categorical)]
        fields += [(n, "numeric", None, None) for n in _names(numeric)]
        fields += [(n, "numeric", "bucket", None) for n in _names(bucket)]
        fields += [(n, "numeric", "value", None) for n in _names(value)]
        for item in _names(multi):
            name, _, msep = item.partition(":")
            fields.append((name, "multi", None, separator(msep or "|")))
        return cls(label, fields, sep, header, None if columns is None else tuple(_names(columns)))

    @classmethod
    def from_file(cls, path) -> "CsvSchema":
        """Parse a schema file (format in the module docstring); DataError names the bad line."""
        p = check_file(path)
        try:
            text = p.read_text(encoding="utf-8-sig")         # -sig: a byte-order mark is dropped
        except UnicodeDecodeError as e:
            raise DataError(f"schema file is not UTF-8 text ({e.reason})", p) from None
        label, fields, sep, header, names = None, [], ",", True, None
        for no, raw in enumerate(text.splitlines(), start=1):
            words = raw.split("#", 1)[0].split()
            if not words:
                continue
            key, args = words[0].lower(), words[1:]
            try:
                if key == "label" and len(args) == 1:
                    label = args[0]
                elif key == "sep" and len(args) == 1:
                    sep = separator(args[0])
                elif key == "header" and len(args) == 1 and args[0].lower() in ("yes", "no"):
                    header = args[0].lower() == "yes"
                elif key == "columns" and args:
                    names = tuple(args)
                elif key == "multi" and len(args) == 2:
                    fields.append((args[0], "multi", None, separator(args[1])))
                elif key in _KINDS and key != "multi" and args:
                    kind, mode = _KINDS[key]
                    fields.extend((a, kind, mode, None) for a in args)
                else:
                    raise ValueError(f"cannot read directive {raw.strip()!r}; expected one of "
                                     "sep/header/columns/label/categorical/numeric/bucket/value/multi")
            except ValueError as e:
                raise DataError(str(e), p, no) from None
        try:
            return cls(label, fields, sep, header, names)
        except ValueError as e:
            raise DataError(str(e), p) from None

    def to_dict(self) -> dict:
        return {"label": self.label, "fields": [list(f) for f in self.fields], "sep": self.sep,
                "header": self.header, "names": None if self.names is None else list(self.names)}

    def wanted(self, label: bool = True) -> list:
        """The columns a file must have: the feature columns, and the label if `label`."""
        return [f[0] for f in self.fields] + ([self.label] if label and self.label is not None else [])

    def learn_header(self, path) -> "CsvSchema":
        """This schema with `names` taken from the header of `path` (the training file), so other
        files can be told to have a header or not; itself when the names are already known."""
        if self.names is not None or not self.header:
            return self
        reader = CsvReader(path, self)
        line, cells = reader.first_line()
        if cells is None:
            raise DataError("empty file: no header row", path)
        reader._header_positions(cells, line)             # refuses a line that is not a header
        return CsvSchema(self.label, self.fields, self.sep, True, tuple(c.strip() for c in cells))

    @classmethod
    def from_dict(cls, d: dict) -> "CsvSchema":
        return cls(d["label"], [tuple(f) for f in d["fields"]], d["sep"], d["header"], d.get("names"))


def _names(x) -> list:
    if x is None:
        return []
    if isinstance(x, str):
        x = x.split(",")
    return [n.strip() for n in x if n.strip()]


class CsvReader(BlockReader):
    """CSV/TSV file + CsvSchema -> RawChunks.

    label         : False to read a file without labels (y = 0); the label column may be absent
    skip_bad_rows : drop bad rows (counted in .stats) instead of raising DataError
    """

    format = "csv"

    def __init__(self, path, schema: CsvSchema, *, label: bool = True, skip_bad_rows: bool = False,
                 block_bytes: int = BLOCK_BYTES, max_slots: int | None = MAX_SLOTS):
        self.path = path
        self.max_slots = None if max_slots is None else int(max_slots)
        self.schema = schema
        self.label = bool(label) and schema.label is not None
        self.skip_bad_rows = bool(skip_bad_rows)
        self.block_bytes = int(block_bytes)
        self.columns = schema.column_specs()
        self.stats = ReadStats()

    def _begin(self):
        self._where = None                 # column positions, fixed by the first non-blank line

    def _end(self):
        if self._where is None:
            raise DataError("empty file: no header row" if self.schema.names is None else
                            "empty file: no data rows", self.path)

    def _skippable(self):
        return self._where is not None                             # a bad header is never skipped

    def first_line(self):
        """(line number, cells) of the file's first non-blank line, or (None, None)."""
        for line0, block in iter_line_blocks(self.path, self.block_bytes):
            for line, text, bad in decoded_lines(block, line0, self.path):
                if bad is not None:
                    raise bad
                if text.strip():
                    return line, self._split(text, line)
        return None, None

    def _first(self, cells, line) -> bool:
        """Fix the column positions from the first non-blank line; True if it is a header (skip it)."""
        names = self.schema.names
        stripped = [c.strip() for c in cells]
        if names is None:                                  # header yes, names unknown: it must be one
            self._where = self._header_positions(cells, line)
            return True
        if stripped == list(names):
            if not self.schema.header:
                self.notes.add("first line is the header row (the column names): skipped", 1, line)
            self._where = self._positions(names, line)
            return True
        wanted = self.schema.wanted(self.label)
        if len(set(stripped)) == len(stripped) and all(n in stripped for n in wanted):
            self._where = self._positions(stripped, line)  # a header of its own (other order, no label)
            return True
        self._where = self._positions(names, line)
        if self.schema.header:
            self.notes.add(f"first line does not look like a header (it is not the column names "
                           f"{','.join(names)}): read as a data row", 1, line, ",".join(cells)[:60])
        return False

    def _header_positions(self, cells, line):
        """Positions from a line that must be the header; DataError saying so when it is not."""
        names = [n.strip() for n in cells]
        missing = [n for n in self.schema.wanted(self.label) if n not in names]
        if missing:
            raise DataError(f"first line does not look like a header: columns {missing} of the schema are "
                            f"not in it {names}; if the file has no header row, pass --no-header and "
                            f"--columns NAMES (schema: header no, columns ...)", self.path, line)
        return self._positions(names, line)

    def _positions(self, names, line):
        """Column index of the label and of every schema field, from the header (or `columns`)."""
        names = [n.strip() for n in names]
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise DataError(f"header names columns {dup} more than once", self.path, line)
        where = {n: i for i, n in enumerate(names)}
        missing = [n for n in self.schema.wanted(self.label) if n not in where]
        if missing:
            raise DataError(f"columns {missing} of the schema are not in the header {names}",
                            self.path, line)
        return {"n": len(names), "names": names, "index": where}

    def _parse_block(self, block: bytes, line0: int, nonfinite: NonFiniteCounter) -> RawChunk:
        fields = self.schema.fields
        out = {f[0]: [] for f in fields}
        lines, ys = [], []

        def parse(text, line):
            cells = self._split(text, line)
            if self._where is None and self._first(cells, line):   # the header row
                return None
            return self._parse_row(cells, line, nonfinite)

        for line, (y, values) in self._parsed_rows(block, line0, parse):
            lines.append(line)
            ys.append(y)
            for (name, *_), v in zip(fields, values):
                out[name].append(v)
        columns = {}
        for name, kind, _, _ in fields:
            if kind == "numeric":
                columns[name] = np.asarray(out[name], dtype=np.float64)
            elif kind == "multi":
                columns[name] = TokenLists.from_lists(out[name])
            else:
                columns[name] = out[name]
        return RawChunk(str(self.path), np.asarray(lines, dtype=np.int64),
                        np.asarray(ys, dtype=np.float32), columns)

    def _split(self, text: str, line: int) -> list:
        try:
            rows = list(csv.reader([text], delimiter=self.schema.sep, strict=True))
        except csv.Error as e:
            raise DataError(f"bad CSV quoting ({e})", self.path, line, value=text[:60]) from None
        if len(rows) != 1:
            raise DataError("a line break inside a quoted field is not supported", self.path, line,
                            value=text[:60])
        return rows[0]

    def _parse_row(self, cells, line: int, nonfinite: NonFiniteCounter):
        w = self._where
        if len(cells) != w["n"]:
            raise DataError(f"expected {w['n']} columns (separator {self.schema.sep!r}), "
                            f"got {len(cells)}", self.path, line)
        y = 0.0
        if self.label:
            j = w["index"][self.schema.label]
            v = cells[j].strip()
            if v in ("0", "1", "0.0", "1.0"):
                y = float(v)
            else:
                raise DataError("label must be 0 or 1", self.path, line,
                                (self.schema.label, j + 1), cells[j])
        values = []
        for name, kind, _, msep in self.schema.fields:
            j = w["index"][name]
            cell = cells[j]
            if kind == "numeric":
                t = cell.strip()
                if not t:
                    values.append(np.nan)
                    continue
                try:
                    x = float(t)
                except ValueError:
                    raise DataError("not a number", self.path, line, (name, j + 1), cell) from None
                if not np.isfinite(x):
                    nonfinite.add(1, line, name, j + 1, cell)
                    x = np.nan
                values.append(x)
            elif kind == "multi":
                tokens = [t for t in cell.split(msep) if t]
                if self.max_slots is not None and len(tokens) > self.max_slots:
                    raise DataError(f"{len(tokens):,} values, more than max_slots {self.max_slots:,}: rows are "
                                    "padded to the widest one, so a row this wide costs memory and time on "
                                    "every row; pass --max-slots N, or --skip-bad-rows to skip it",
                                    self.path, line, (name, j + 1), cell[:40])
                values.append(tokens)
            else:
                values.append(cell)
        return y, values

