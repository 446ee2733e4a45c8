"""`python -m deepfm_np predict`: one click probability per input row, in input order."""
from __future__ import annotations

from .options import (add_bad_rows_option, add_json_option, add_threads_option, open_data, skipped_lines,
                      write_json)


def add_parser(sub):
    p = sub.add_parser(
        "predict", help="write one probability per input row with a saved model",
        description="Reads --input the way the model's training data was read (format and schema come from the "
                    "model file), encodes it with the saved preprocessing (values never seen in training use "
                    "their field's OOV row; the share is reported), and writes one probability per line to "
                    "--output, rows in input order, streaming (memory does not grow with the file). "
                    "Probabilities are written with 17 significant digits, enough to reproduce them exactly. "
                    "An --output ending in .csv gets a header and the columns line,probability (line: the "
                    "input line number, which identifies the row); one ending in .parquet the same two "
                    "columns as int64 and float64 (extra `parquet`: pyarrow). Every output is written "
                    "atomically: an error or Ctrl-C leaves an existing file as it was.")
    p.add_argument("--model-file", "--model", dest="model", required=True, metavar="FILE",
                   help="model file written by `train` (its --out; --model is the older spelling)")
    p.add_argument("--input", required=True, metavar="FILE", help="rows to score, in the model's format")
    p.add_argument("--output", required=True, metavar="FILE",
                   help="where to write the probabilities: text, one per line (default), .csv or .parquet")
    p.add_argument("--no-label", action="store_true",
                   help="criteo/csv input without the label column (e.g. Criteo's 39-column test file)")
    add_bad_rows_option(p)
    p.add_argument("--line-numbers", action="store_true",
                   help="write 'LINE<TAB>PROBABILITY' (the input line number), useful with --skip-bad-rows")
    p.add_argument("--batch-size", type=int, default=8192, help="rows per prediction batch (default 8192)")
    add_threads_option(p)
    add_json_option(p, "a summary")
    p.set_defaults(run=run)


def run(args):
    from ..data import EncodeStats
    from ..data.atomic import atomic_write
    from ..model_file import load_model
    from ..threads import set_threads
    from .checks import check_args, check_outputs
    check_args(args, positive=("batch_size", "threads"))
    check_outputs(args, files=("output", "json_path"), inputs=("input", "model"))
    if output_kind(args.output) == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            from . import CommandError
            raise CommandError("--output .parquet needs pyarrow: pip install 'deepfm_np[parquet]' "
                               "(or write .csv)") from None
    set_threads(args.threads)
    saved = load_model(args.model)
    reader = open_data(saved.reader, args.input, skip_bad_rows=args.skip_bad_rows, label=not args.no_label)
    stats = EncodeStats()
    rows = 0
    kind = output_kind(args.output)
    with atomic_write(args.output, "wb") as f:          # an error or Ctrl-C leaves no partial output
        write = _writer(kind, f, args.line_numbers)
        for chunk in reader.chunks():
            enc = saved.encoder.transform(chunk)
            stats.merge(enc.stats)
            p = saved.model.predict_proba(enc.idx, enc.val, args.batch_size)
            write(chunk.lines, p)
            rows += len(p)
        write(None, None)                                # close: parquet writes its footer
    out = {"model": saved.meta["model"]["name"], "input": str(args.input), "output": str(args.output),
           "rows": rows, "oov_rate": stats.oov_rate, "skipped_rows": reader.stats.skipped}
    print(f"wrote {rows:,} probabilities to {args.output} (OOV rate {stats.oov_rate:.2%}"
          + (f", skipped {out['skipped_rows']:,} bad rows" if out["skipped_rows"] else "") + ")")
    for text in skipped_lines("", reader.stats.skipped, reader.stats.first_skipped)[1:]:
        print(text)                                   # why rows were skipped: the first reasons, lines
    if args.json_path:
        write_json(args.json_path, out)
    return 0


def output_kind(path) -> str:
    name = str(path).lower()
    return "csv" if name.endswith(".csv") else "parquet" if name.endswith(".parquet") else "text"


def _writer(kind, f, line_numbers):
    """-> write(lines (n,) int64, p (n,) float64); write(None, None) finishes the file. f: binary file."""
    if kind == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq
        schema = pa.schema([("line", pa.int64()), ("probability", pa.float64())])
        pw = pq.ParquetWriter(f, schema)

        def write(lines, p):
            if p is None:
                pw.close()
            else:
                pw.write_table(pa.table({"line": pa.array(lines, pa.int64()), "probability": pa.array(p)},
                                        schema=schema))
        return write
    if kind == "csv":
        f.write(b"line,probability\n")

    def write(lines, p):
        if p is None:
            return
        numbered = kind == "csv" or line_numbers
        f.write(format_lines(p, lines if numbered else None, "," if kind == "csv" else "\t").encode("ascii"))
    return write


def format_lines(p, lines=None, sep="\t") -> str:
    """p (n,) as text, one '%.17g' per line (17 significant digits: float64 exactly), each after its line
    number and `sep` when lines (n,) is given.

    One %-format of the whole batch: C does the loop, about twice as fast as joining one f-string per row,
    the same text character for character (tests/test_predict_checks.py compares the two).
    """
    values = p.tolist()
    if lines is None:
        return ("%.17g\n" * len(values)) % tuple(values)
    pairs = [None] * (2 * len(values))                 # line, probability, line, probability, ...
    pairs[0::2], pairs[1::2] = lines.tolist(), values
    return (f"%d{sep}%.17g\n" * len(values)) % tuple(pairs)
