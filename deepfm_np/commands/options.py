"""Options shared by the commands, each defined once: threads, JSON output, hidden sizes, input formats."""
from __future__ import annotations

import json

from ..errors import DataError
from . import CommandError

THREADS_HELP_ONE = ("BLAS and Numba threads (default 1: on a shared or busy machine two BLAS threads spin "
                    "against other processes and ran 3.5x SLOWER than one in our measurements; try 2 on an "
                    "idle machine)")


def add_threads_option(p, default=None) -> None:
    """--threads N: BLAS and Numba threads (None: all cores)."""
    p.add_argument("--threads", type=int, default=default,
                   help="BLAS and Numba threads (default: all cores)" if default is None else THREADS_HELP_ONE)


def add_json_option(p, what="the results") -> None:
    """--json PATH: also write `what` as JSON (args.json_path; see write_json)."""
    p.add_argument("--json", dest="json_path", default=None, metavar="PATH", help=f"also write {what} as JSON")


def write_json(path, obj) -> None:
    """Write obj as indented JSON to path atomically (data/atomic.py: the old file stays until it is whole)."""
    from ..data.atomic import write_text
    write_text(path, json.dumps(obj, indent=2))


def parse_hidden(text: str) -> tuple:
    """'400,400,400' or '400-400-400' -> (400, 400, 400); CommandError otherwise."""
    try:
        sizes = tuple(int(h) for h in text.replace("-", ",").split(",") if h.strip())
    except ValueError:
        raise CommandError(f"--hidden must look like 400,400,400 or 400-400-400, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise CommandError(f"--hidden needs positive sizes, got {text!r}")
    return sizes


def add_format_options(p) -> None:
    """--format and the options that describe how a format is read (stored in the model file)."""
    from ..data import FORMATS
    p.add_argument("--format", required=True, choices=FORMATS,
                   help="input format: criteo (TSV: label, I1..I13, C1..C26), libsvm/libfm "
                        "(label idx:val ...), libffm (label field:idx:val ...), csv (needs a schema), "
                        "movielens (an ml-100k directory, or a ratings file such as ml-100k/u1.base)")
    g = p.add_argument_group("csv format: the schema (a file, or the flags below)")
    g.add_argument("--schema", metavar="FILE",
                   help="schema file: lines like 'label click', 'categorical user item', 'numeric age', "
                        "'multi genres |', 'sep comma', 'header yes' (see deepfm_np/data/csvschema.py)")
    g.add_argument("--label", metavar="COL", help="label column (0/1)")
    g.add_argument("--categorical", metavar="COLS", help="comma-separated categorical columns")
    g.add_argument("--numeric", metavar="COLS", help="comma-separated numeric columns")
    g.add_argument("--multi", metavar="COL:SEP,...", help="multi-valued columns and separators, e.g. genres:|")
    g.add_argument("--sep", default=",", help="column separator: a character or comma/tab/semicolon/pipe "
                                              "(default comma)")
    g.add_argument("--no-header", action="store_true", help="the file has no header row (give --columns)")
    g.add_argument("--columns", metavar="NAMES", help="comma-separated names of all columns (with --no-header)")
    g = p.add_argument_group("libsvm format")
    g.add_argument("--fields", default="single",
                   help="how libSVM features map to fields: single (one multi-valued field, the default; "
                        "FM/DeepFM then see no field pairs), position (the j-th feature of a row is field j), "
                        "or index ranges like user:1-943,item:944-2625")


def add_bad_rows_option(p) -> None:
    p.add_argument("--skip-bad-rows", action="store_true",
                   help="skip rows that cannot be read (wrong column count, bad number or label) and "
                        "report how many, instead of stopping at the first with its file, line and column")


def reader_spec(args) -> dict:
    """The JSON description of how to read input files (kept in the model file for predict)."""
    from ..data import CsvSchema
    from ..data.libsvm import parse_field_ranges
    spec = {"format": args.format}
    if args.format == "csv":
        try:
            if args.schema:
                schema = CsvSchema.from_file(args.schema)
            else:
                if not args.label or not (args.categorical or args.numeric or args.multi):
                    raise CommandError("--format csv needs --schema FILE, or --label and at least one of "
                                       "--categorical/--numeric/--multi")
                schema = CsvSchema.from_options(args.label, categorical=args.categorical, numeric=args.numeric,
                                                multi=args.multi, sep=args.sep, header=not args.no_header,
                                                columns=args.columns)
        except DataError:                            # a bad schema file: file and line already named
            raise
        except ValueError as e:
            raise CommandError(f"bad CSV schema: {e}") from None
        spec["schema"] = schema.to_dict()
    elif args.format in ("libsvm", "libfm"):
        if args.fields not in ("single", "position"):
            try:
                parse_field_ranges(args.fields)
            except ValueError as e:
                raise CommandError(f"--fields: {e}") from None
        spec["fields"] = args.fields
    return spec


def open_data(spec: dict, path, *, skip_bad_rows=False, label=True):
    """A reader for `path` as described by `spec` (from reader_spec or a model file)."""
    from ..data import FORMATS, CsvSchema, open_reader
    if spec.get("format") not in FORMATS:            # e.g. a DeepFMClassifier file: no reader of ours
        raise CommandError(f"this model reads {spec.get('format')!r} input, not a file format the command "
                           f"line reads ({', '.join(FORMATS)}); use it from Python")
    schema = CsvSchema.from_dict(spec["schema"]) if spec.get("schema") else None
    kw = {"fields": spec["fields"]} if spec.get("fields") else {}
    return open_reader(spec["format"], path, skip_bad_rows=skip_bad_rows, label=label, schema=schema, **kw)
