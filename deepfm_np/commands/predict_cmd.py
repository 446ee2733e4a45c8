"""`python -m deepfm_np predict`: one click probability per input row, in input order."""
from __future__ import annotations

from .options import add_bad_rows_option, add_json_option, add_threads_option, open_data, write_json


def add_parser(sub):
    p = sub.add_parser(
        "predict", help="write one probability per input row with a saved model",
        description="Reads --input the way the model's training data was read (format and schema come from the "
                    "model file), encodes it with the saved preprocessing (values never seen in training use "
                    "their field's OOV row; the share is reported), and writes one probability per line to "
                    "--output, rows in input order, streaming (memory does not grow with the file). "
                    "Probabilities are written with 17 significant digits, enough to reproduce them exactly.")
    p.add_argument("--model-file", "--model", dest="model", required=True, metavar="FILE",
                   help="model file written by `train` (its --out; --model is the older spelling)")
    p.add_argument("--input", required=True, metavar="FILE", help="rows to score, in the model's format")
    p.add_argument("--output", required=True, metavar="FILE", help="where to write the probabilities")
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
    from ..data.atomic import atomic_write, write_text
    from ..model_file import load_model
    from ..threads import set_threads
    from .checks import check_args, check_outputs
    check_args(args, positive=("batch_size", "threads"))
    check_outputs(args, files=("output", "json_path"), inputs=("input", "model"))
    set_threads(args.threads)
    saved = load_model(args.model)
    reader = open_data(saved.reader, args.input, skip_bad_rows=args.skip_bad_rows, label=not args.no_label)
    stats = EncodeStats()
    rows = 0
    with atomic_write(args.output, "w") as f:           # an error or Ctrl-C leaves no partial output
        for chunk in reader.chunks():
            enc = saved.encoder.transform(chunk)
            stats.merge(enc.stats)
            p = saved.model.predict_proba(enc.idx, enc.val, args.batch_size)
            if args.line_numbers:
                f.writelines(f"{line}\t{x:.17g}\n" for line, x in zip(chunk.lines.tolist(), p.tolist()))
            else:
                f.writelines(f"{x:.17g}\n" for x in p.tolist())
            rows += len(p)
    out = {"model": saved.meta["model"]["name"], "input": str(args.input), "output": str(args.output),
           "rows": rows, "oov_rate": stats.oov_rate, "skipped_rows": reader.stats.skipped}
    print(f"wrote {rows:,} probabilities to {args.output} (OOV rate {stats.oov_rate:.2%}"
          + (f", skipped {out['skipped_rows']:,} bad rows" if out["skipped_rows"] else "") + ")")
    if args.json_path:
        write_json(args.json_path, out)
    return 0
