"""Options shared by the commands, each defined once: threads, JSON output, hidden sizes, input formats."""
from __future__ import annotations

import json
import sys

from ..data.raw import MAX_SLOTS
from ..errors import DataError
from . import CommandError

THREADS_HELP_ONE = ("BLAS and Numba threads (default 1: on a shared or busy machine two BLAS threads spin "
                    "against other processes and ran 3.5x SLOWER than one in our measurements; try 2 on an "
                    "idle machine)")


def add_threads_option(p, default=None, auto=False) -> None:
    """--threads N: BLAS and Numba threads (None: all cores). auto=True (training): also --threads auto, the
    default, which times 1 thread and all cores during training and keeps the faster (threads.AutoThreads)."""
    if auto:
        p.add_argument("--threads", type=_threads_or_auto, default="auto",
                       help="BLAS and Numba threads, or auto: time 1 thread and all cores during training and keep "
                            "the faster, again when the step time moves (default auto)")
        return
    p.add_argument("--threads", type=int, default=default,
                   help="BLAS and Numba threads (default: all cores)" if default is None else THREADS_HELP_ONE)


def _threads_or_auto(text: str):
    import argparse
    from ..threads import parse_threads
    try:
        return parse_threads(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


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
    g.add_argument("--fields", default="auto",
                   help="how libSVM features map to fields: auto (the default: position when every training "
                        "row has the same number of features, else single), single (one multi-valued field; "
                        "FM/DeepFM then see no field pairs), position (the j-th feature of a row is field j), "
                        "or index ranges like user:1-943,item:944-2625")
    g.add_argument("--max-slots", type=int, default=MAX_SLOTS, metavar="N",
                   help=f"libsvm/libffm/csv lists: most features a row may have (default {MAX_SLOTS}); every "
                        "row is padded to the widest, so wider rows are bad rows (see --skip-bad-rows)")


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
        spec["schema"] = schema.learn_header(args.train).to_dict()   # names, to tell other files' headers
    elif args.format in ("libsvm", "libfm"):
        if args.fields not in ("auto", "single", "position"):
            try:
                parse_field_ranges(args.fields)
            except ValueError as e:
                raise CommandError(f"--fields: {e}") from None
        spec["fields"] = _resolve_fields(args)
    if args.max_slots < 1:
        raise CommandError(f"--max-slots must be >= 1, got {args.max_slots}")
    if args.format in ("libsvm", "libfm", "libffm", "csv"):
        spec["max_slots"] = args.max_slots
    return spec


def _resolve_fields(args) -> str:
    """--fields auto resolved on the training file; the number of fields always printed, and a loud
    warning when a model that needs field pairs is left with a single field."""
    from ..data.libsvm import auto_fields
    fields = args.fields
    if fields == "auto":
        a = auto_fields(args.train)
        fields = a["mode"]
        if fields == "position":
            why = f"every row of {args.train} has {a['max']:,} features"
        else:
            why = f"the rows of {args.train} have {a['min']:,} to {a['max']:,} features"
        print(f"--fields auto: {why} -> {fields}: {a['n_fields']:,} field(s)")
    elif fields in ("single", "position"):
        print(f"--fields {fields}" + (": 1 field" if fields == "single" else ": one field per position"))
    if fields == "single" and getattr(args, "model", "lr") != "lr":
        print(f"WARNING: --model {args.model} models pairs of fields, and with one field (--fields single) "
              "it has none: it learns no more than logistic regression. If each row lists the same fields in "
              "the same order, pass --fields position; if features come from known index ranges, pass them "
              "(e.g. --fields user:1-943,item:944-2625).", file=sys.stderr)
    return fields


def open_data(spec: dict, path, *, skip_bad_rows=False, label=True):
    """A reader for `path` as described by `spec` (from reader_spec or a model file)."""
    from ..data import FORMATS, open_spec_reader
    if spec.get("format") not in FORMATS:            # e.g. a DeepFMClassifier file: no reader of ours
        raise CommandError(f"this model reads {spec.get('format')!r} input, not a file format the command "
                           f"line reads ({', '.join(FORMATS)}); use it from Python")
    return open_spec_reader(spec, path, skip_bad_rows=skip_bad_rows, label=label)


def skipped_lines(name: str, skipped: int, first_skipped: list) -> list:
    """'  NAME: skipped N bad row(s):' then the first reasons with their lines (nothing when none)."""
    from ..data.raw import skipped_report
    lines = skipped_report(skipped, first_skipped)
    return [f"  {name}: {lines[0]}"] + [f"  {t}" for t in lines[1:]] if lines else []
