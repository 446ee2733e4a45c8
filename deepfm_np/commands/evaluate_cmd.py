"""`python -m deepfm_np evaluate`: AUC, log loss, rows and OOV rate of a saved model on a data file."""
from __future__ import annotations

from .options import (add_bad_rows_option, add_json_option, add_threads_option, open_data, skipped_lines,
                      write_json)


def add_parser(sub):
    p = sub.add_parser(
        "evaluate", help="score a saved model on a labelled data file (AUC, log loss, calibration, OOV rate)",
        description="Reads --data the way the model's training data was read (format and schema come from the "
                    "model file), encodes it with the saved preprocessing, and prints AUC, log loss (beside the "
                    "base rate's), calibration (mean prediction vs observed rate, expected calibration error "
                    "over 10 bins), the number of rows and the share of values that were not in the training "
                    "vocabularies (OOV).")
    p.add_argument("--model-file", "--model", dest="model", required=True, metavar="FILE",
                   help="model file written by `train` (its --out; --model is the older spelling)")
    p.add_argument("--data", required=True, metavar="FILE", help="labelled data in the model's format")
    add_bad_rows_option(p)
    p.add_argument("--batch-size", type=int, default=8192, help="rows per prediction batch (default 8192)")
    add_threads_option(p)
    add_json_option(p)
    p.add_argument("--plot", metavar="PATH", help="also draw a reliability diagram and the ROC curve to PATH (.png)")
    p.set_defaults(run=run)


def score_file(saved, reader, batch_size=8192):
    """Stream `reader` through the saved encoder and model -> (p (N,), y (N,), EncodeStats)."""
    import numpy as np

    from ..data import EncodeStats
    stats = EncodeStats()
    ps, ys = [], []
    for chunk in reader.chunks():
        enc = saved.encoder.transform(chunk)
        stats.merge(enc.stats)
        ps.append(saved.model.predict_proba(enc.idx, enc.val, batch_size))
        ys.append(enc.y)
    return np.concatenate(ps), np.concatenate(ys), stats


def run(args):
    from ..metrics import calibration, summary
    from ..model_file import load_model
    from ..threads import set_threads
    from .train_cmd import format_scores
    from .checks import check_args, check_outputs
    check_args(args, positive=("batch_size", "threads"))
    check_outputs(args, files=("json_path", "plot"), inputs=("data", "model"))
    set_threads(args.threads)
    saved = load_model(args.model)
    reader = open_data(saved.reader, args.data, skip_bad_rows=args.skip_bad_rows)
    p, y, stats = score_file(saved, reader, args.batch_size)
    s = summary(y, p)                                # auc None (and why) for a one-class file: no traceback
    out = {"model": saved.meta["model"]["name"], "data": str(args.data), **s, "oov_rate": stats.oov_rate,
           "oov": stats.oov, "skipped_rows": reader.stats.skipped, "reliability": calibration(y, p)["bins"]}
    print(f"{out['model']} on {args.data}: {format_scores(s)}  OOV rate {out['oov_rate']:.2%}"
          + (f"  skipped {out['skipped_rows']:,} bad rows" if out["skipped_rows"] else ""))
    for text in skipped_lines("", reader.stats.skipped, reader.stats.first_skipped)[1:]:
        print(text)                                   # why rows were skipped: the first reasons, lines
    if args.plot:
        from .plots import reliability_and_roc
        out["plot"] = str(reliability_and_roc(y, p, args.plot, title=f"{out['model']} on {args.data}"))
        print(f"plot written to {out['plot']}")
    if args.json_path:
        write_json(args.json_path, out)
    return 0
