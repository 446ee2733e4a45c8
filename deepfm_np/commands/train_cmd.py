"""`python -m deepfm_np train`: fit the preprocessing on the training file, train a model, save one model file."""
from __future__ import annotations

import argparse
import sys
import time

from ..errors import DataError
from . import CommandError
from .options import (add_bad_rows_option, add_format_options, add_json_option, add_threads_option, open_data,
                      parse_hidden, reader_spec, skipped_lines, write_json)


def add_parser(sub):
    from ..models.registry import default, model_names
    from ..train import MONITORS, default_config
    d = default_config("deepfm")             # early stopping ends most runs long before its 20 epochs
    p = sub.add_parser(
        "train", help="train a model on a data file and save it (with its preprocessing) to one file",
        description="Reads --train, fits the preprocessing on it ONLY (vocabularies with --min-count, numeric "
                    "buckets), encodes --valid and --test with it (values never seen in training go to their "
                    "field's out-of-vocabulary row), trains --model with early stopping on the validation AUC, "
                    "reports validation and test AUC / log loss and writes --out: parameters, preprocessing, "
                    "schema and hyper-parameters in one .npz file for `evaluate` and `predict`. Without "
                    "--valid, a seeded random 10% of --train is held out for early stopping.")
    add_format_options(p)
    g = p.add_argument_group("data")
    g.add_argument("--train", required=True, metavar="FILE", help="training data")
    g.add_argument("--valid", metavar="FILE", help="validation data for early stopping "
                                                   "(default: hold out --valid-fraction of --train)")
    g.add_argument("--valid-fraction", type=float, default=0.1, help="held-out share without --valid (default 0.1)")
    g.add_argument("--test", metavar="FILE", help="test data, scored once after training")
    add_bad_rows_option(g)
    g.add_argument("--cache", metavar="DIR",
                   help="stream the encoded data to DIR/{train,valid,test} on disk instead of memory "
                        "(for files larger than memory; peak memory then does not grow with the rows)")
    g = p.add_argument_group("preprocessing")
    g.add_argument("--min-count", type=int, default=2,
                   help="values seen fewer times in training share their field's OOV row (default 2)")
    g.add_argument("--numeric-mode", choices=("bucket", "value"), default="bucket",
                   help="numeric fields: bucket = Criteo-style floor(ln(v)^2) buckets (default); value = one "
                        "embedding scaled by sign(v) ln(1 + |v|)")
    g.add_argument("--hash-buckets", type=int, default=0,
                   help="hash categorical values into this many rows per field (crc32) instead of "
                        "vocabularies (default 0: vocabularies)")
    g.add_argument("--max-width", type=int, default=None, help="cap on the values kept per multi-valued field")
    g = p.add_argument_group("model and training")
    g.add_argument("--model", required=True, choices=model_names(), metavar="NAME",
                   help=f"one of {', '.join(model_names())}")
    g.add_argument("--out", required=True, metavar="MODEL", help="model file to write (.npz)")
    g.add_argument("--epochs", type=int, default=d.epochs, help=f"maximum epochs (default {d.epochs}; early "
                                                               f"stopping normally ends training first)")
    g.add_argument("--batch-size", type=int, default=d.batch_size, help=f"minibatch size (default {d.batch_size})")
    g.add_argument("--lr", type=float, default=None,
                   help="learning rate (default per model: " + _per_model("lr") + ")")
    g.add_argument("--optimizer", choices=("adam", "adagrad", "sgd", "ftrl"), default=None,
                   help="optimizer (default per model: " + _per_model("optimizer") + ")")
    g.add_argument("--l2-embed", type=float, default=None,
                   help="L2 penalty on the embedding and first-order rows a batch touches (default per model: "
                        + _per_model("l2_embed") + ")")
    g.add_argument("--monitor", choices=MONITORS, default=None,
                   help=f"what early stopping watches on the validation data: logloss, auc, or auc-logloss "
                        f"(AUC minus log loss) (default {d.monitor}: AUC can keep creeping up while the "
                        f"probabilities degrade)")
    g.add_argument("--patience", type=int, default=d.patience,
                   help=f"validations without improvement before stopping (default {d.patience}; 0: never)")
    g.add_argument("--eval-every", type=int, default=0, metavar="N",
                   help="also validate every N steps, not only at the end of each epoch (default 0: per epoch)")
    g.add_argument("--checkpoint", metavar="PATH",
                   help="write a checkpoint (parameters, optimizer and generator states, history) to PATH at the "
                        "end of every epoch and on Ctrl-C, atomically")
    g.add_argument("--resume", metavar="PATH",
                   help="continue the run that wrote checkpoint PATH (same data and options) up to --epochs in "
                        "all; the result is bit-identical to an uninterrupted run")
    g.add_argument("--embed-dim", type=int, help=f"embedding size K (default {default('embed_dim')})")
    g.add_argument("--hidden", help=f"hidden layer sizes (default {','.join(map(str, default('hidden')))})")
    g.add_argument("--keep-prob", type=float, help=f"dropout keep probability (default {default('keep_prob')})")
    g.add_argument("--seed", type=int, default=0, help="initial weights, shuffling, dropout, holdout (default 0)")
    add_threads_option(g, auto=True)
    g.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bars on stderr (default: only when stderr is a terminal, never in a log file)")
    add_json_option(p)
    p.set_defaults(run=run)


def _per_model(key: str) -> str:
    from ..train import MODEL_DEFAULTS
    return ", ".join(f"{'others' if m == '*' else m} {v.get(key, 0):g}" if not isinstance(v.get(key), str)
                     else f"{'others' if m == '*' else m} {v[key]}" for m, v in MODEL_DEFAULTS.items())


def load_splits(args, spec):
    """Readers for train / valid / test, the fitted encoder, and the three data sets."""
    from ..data import HoldoutReader, build_cache, encode, fit_encoder
    from ..data.dataset import ArrayDataset
    from ..data.fused import fast_reader, fit_encode_splits

    def reader(path):
        return open_data(spec, path, skip_bad_rows=args.skip_bad_rows)

    if args.valid:
        tr, va = reader(args.train), reader(args.valid)
    else:
        tr = HoldoutReader(reader(args.train), args.valid_fraction, args.seed, "train")
        va = HoldoutReader(reader(args.train), args.valid_fraction, args.seed, "valid")
    readers = {"train": tr, "valid": va}
    if args.test:
        readers["test"] = reader(args.test)
    config = dict(min_count=args.min_count, numeric=args.numeric_mode, hash_buckets=args.hash_buckets,
                  max_width=args.max_width)
    one_pass = not args.cache and all(fast_reader(r) for r in readers.values())
    try:
        if one_pass:                                 # Criteo in memory: each file parsed once (data/fused.py)
            enc, encoded = fit_encode_splits(tr, readers, **config)
        else:
            enc = fit_encoder(tr, **config)
    except DataError:                                # keeps its file and line
        raise
    except ValueError as e:
        raise CommandError(str(e)) from None
    sets, report = {}, {}
    for name, r in readers.items():
        if args.cache:
            from pathlib import Path
            ds = build_cache(r, enc, Path(args.cache) / name)
            stats = ds.stats
        else:
            d = encoded[name] if one_pass else encode(r, enc)
            ds = ArrayDataset(d.idx, d.val, d.y, d.layout, validate=False)
            stats = d.stats.to_dict()
        sets[name] = ds
        report[name] = {"rows": ds.n, "skipped_rows": r.stats.skipped, "oov_rate": stats["oov_rate"],
                        "nonfinite_values": r.stats.nonfinite, "first_skipped": list(r.stats.first_skipped)}
    return enc, sets, report


def _label_counts(ds) -> tuple:
    """(rows, positives) of a data set, one streaming pass over its labels."""
    n = pos = 0
    for _, _, y in ds.iter_batches(1 << 16):
        n, pos = n + len(y), pos + int((y > 0.5).sum())
    return n, pos


def check_train_args(args, hidden) -> None:
    """Everything that can be refused before the data is read (values, memory, output paths)."""
    from ..model_file import model_path
    from ..models.registry import SPECS
    from .checks import check_args, check_memory, check_outputs, min_params
    defaults = SPECS[args.model].defaults if args.model in SPECS else {}
    embed_dim = args.embed_dim if args.embed_dim is not None else defaults.get("embed_dim", 1)
    hidden = hidden if hidden is not None else defaults.get("hidden", ())
    check_args(args, positive=("epochs", "batch_size", "embed_dim", "min_count", "threads", "max_width"),
               nonnegative=("patience", "hash_buckets"), fraction=("valid_fraction",),
               probability=("keep_prob",), finite_positive=("lr",))
    if args.hash_buckets:                            # at least one hashed field of that many rows
        check_memory(min_params(args.model, args.hash_buckets, embed_dim, hidden),
                     f"--hash-buckets {args.hash_buckets:,} with --embed-dim {embed_dim}")
    check_memory(min_params(args.model, 0, embed_dim, hidden), f"--hidden {','.join(map(str, hidden))}")
    check_outputs(args, files=("out", "json_path"), folders=("cache",), inputs=("train", "valid", "test"))
    if str(model_path(args.out)) != args.out:        # --out m writes m.npz: check that name too
        from ..data.atomic import check_output_path
        check_output_path(model_path(args.out), "--out", not_same_as=[("--train", args.train)])


def run(args):
    from ..model_file import save_model
    from ..models.registry import SPECS, build_model
    from ..threads import set_threads
    from ..train import TrainingRefused, default_config, evaluate, label_counts, train
    from .checks import check_memory, min_params

    hidden = parse_hidden(args.hidden) if args.hidden else None      # None: the model's default
    check_train_args(args, hidden)
    set_threads(None if args.threads == "auto" else args.threads)
    spec = reader_spec(args)
    t0 = time.perf_counter()
    enc, sets, report = load_splits(args, spec)
    layout = enc.layout
    sizes = ", ".join(f"{k} {v['rows']:,} rows" for k, v in report.items())
    print(f"data: {sizes}; {layout.n_fields} fields, {layout.n_rows:,} table rows "
          f"({time.perf_counter() - t0:.1f} s to read and encode)")
    for k, v in report.items():
        for text in skipped_lines(k, v["skipped_rows"], v["first_skipped"]):   # how many, and why
            print(text)
        if k != "train" and v["oov_rate"]:
            print(f"  {k}: {v['oov_rate']:.2%} of values not in the training vocabularies (OOV rows)")
    n_valid, pos_valid = _label_counts(sets["valid"])
    if pos_valid in (0, n_valid):                    # AUC undefined, and log loss alone on one class is no guide
        where = f"--valid {args.valid}" if args.valid else f"the {args.valid_fraction:g} holdout of --train"
        raise CommandError(f"{where}: all {n_valid:,} labels are {int(pos_valid > 0)}; early stopping on "
                           f"the validation AUC needs both classes")
    pos, n = label_counts(sets["train"])
    if pos in (0, n):                                # refused before any model is built or trained
        raise CommandError(f"{args.train}: the training data has only {'negative' if pos == 0 else 'positive'} "
                           f"rows ({n:,} rows): a click model needs both classes")
    model_defaults = SPECS[args.model].defaults
    check_memory(min_params(args.model, layout.n_rows, args.embed_dim or model_defaults.get("embed_dim", 1),
                            hidden or model_defaults.get("hidden", ())),
                 f"{args.model} on {layout.n_rows:,} table rows")
    try:
        model = build_model(args.model, layout, embed_dim=args.embed_dim, hidden=hidden,
                            keep_prob=args.keep_prob, seed=args.seed)
        cfg = default_config(args.model, epochs=args.epochs, batch_size=args.batch_size, optimizer=args.optimizer,
                             lr=args.lr, l2_embed=args.l2_embed, monitor=args.monitor, patience=args.patience,
                             eval_every=args.eval_every, seed=args.seed, progress=args.progress is not False,
                             log=args.progress is False, threads=args.threads)   # --no-progress: a line per validation
    except ValueError as e:
        raise CommandError(str(e)) from None
    print(f"training {args.model}: {model.n_params():,} parameters; {cfg.optimizer} lr {cfg.lr:g}, "
          f"l2-embed {cfg.l2_embed:g}, early stopping on validation {cfg.monitor}")
    try:
        result = train(model, sets["train"], sets["valid"], cfg, checkpoint=args.checkpoint, resume=args.resume,
                       on_warning=lambda msg: print(f"warning: {msg}", flush=True))   # beside the data report
    except TrainingRefused as e:
        raise CommandError(str(e)) from None
    except KeyboardInterrupt:
        if args.checkpoint:
            print(f"interrupted: checkpoint written to {args.checkpoint} (continue with --resume "
                  f"{args.checkpoint})", file=sys.stderr)
        raise
    out = {
        "model": args.model,
        "train_seconds": result.train_seconds,
        "train_cpu_seconds": result.train_cpu_seconds,
        "samples_per_second": result.samples_per_second,
        "epochs_run": max((h["epoch"] for h in result.history), default=0),
        "chosen_epoch": result.best["epoch"] if result.best else None,
        "chosen_step": result.best["step"] if result.best else None,
        "stopped_early": result.stopped_early,
        "stop_reason": result.stop_reason,
        "monitor": result.monitor,
        "history": result.history,
        "warnings": result.warnings,
        "resumed_from": result.resumed_from,
        "training": {k: getattr(cfg, k) for k in ("optimizer", "lr", "l2_embed", "monitor", "patience",
                                                   "eval_every", "bias_init")},
        "base_rate": result.base_rate,
        "data": report,
        "table_rows": layout.n_rows,
    }
    hyper = {k: getattr(args, k) for k in ("epochs", "batch_size", "patience", "seed",
                                           "min_count", "numeric_mode", "hash_buckets", "max_width")}
    hyper.update({k: getattr(cfg, k) for k in ("lr", "optimizer", "l2_embed", "monitor", "eval_every")})

    def save():
        return save_model(args.out, model, enc, spec,
                          train={"hyper_parameters": {**hyper, **model.config}, "results": out,
                                 "files": {"train": args.train, "valid": args.valid, "test": args.test}})

    try:                                             # nothing after training may lose the model
        scores = {name: evaluate(model, sets[name]) for name in sets if name != "train"}
    except BaseException:
        print(f"model written to {save()} before the error below")
        raise
    keep = ("auc", "auc_undefined", "logloss", "base_logloss", "mean_prediction", "observed_rate", "ece",
            "rows", "positives")
    out["valid"] = {k: scores["valid"][k] for k in keep}
    out["test"] = {k: scores["test"][k] for k in keep} if "test" in scores else None
    path = save()
    out["out"] = str(path)
    for name, s in scores.items():
        print(f"{name}: {format_scores(s)}")
    why = {"early_stopping": f"early stopping kept epoch {out['chosen_epoch']}",
           "epoch_cap": f"stopped at the --epochs cap; kept epoch {out['chosen_epoch']}"}.get(result.stop_reason, "")
    print(f"trained {out['epochs_run']} epoch(s) in {result.train_seconds:.1f} s ({result.train_cpu_seconds:.1f} s "
          f"CPU, {result.samples_per_second:,.0f} samples/s){'; ' + why if why else ''}; model written to {path}")
    if args.json_path:
        write_json(args.json_path, out)
    return 0


def format_scores(s: dict) -> str:
    """One line: AUC (or why it is undefined), log loss against the base rate's, calibration, rows."""
    auc = f"AUC {s['auc']:.4f}" if s["auc"] is not None else f"AUC undefined ({s['auc_undefined']})"
    return (f"{auc}  log loss {s['logloss']:.4f} (base rate {s['base_logloss']:.4f})  mean prediction "
            f"{s['mean_prediction']:.4f} vs observed {s['observed_rate']:.4f}  ECE {s['ece']:.4f}  "
            f"({s['rows']:,} rows)")
