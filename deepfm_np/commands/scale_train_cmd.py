"""`python -m deepfm_np scale-train`: continue a model on TorchRec, tables sharded over N processes (extra `scale`)."""
from __future__ import annotations

import json

from . import CommandError

INSTALL = ("pip install torch==2.13.0 && pip install --no-deps torchrec==1.8.0 fbgemm-gpu-cpu==1.8.0 && "
           "pip install tensordict torchmetrics==1.0.3 pyre-extensions tqdm")


def add_parser(sub):
    p = sub.add_parser(
        "scale-train", help="train a model file's model on TorchRec with its tables sharded over N processes",
        description="Builds a TorchRec DeepFM (or FM, LR, ...) from --model: every field's embedding rows and "
                    "first-order weights become one table of an EmbeddingBagCollection, the MLP and bias are "
                    "carried over. Starts --world-size processes (gloo on 127.0.0.1), each reading its share "
                    "of --train with the model file's reader and fitted preprocessing; TorchRec plans the "
                    "sharding (printed), trains the tables with its fused optimizer and the MLP with a dense "
                    "one, checkpoints every epoch, reports AUC / log loss like `train`, and gathers the result "
                    f"into --out, a deepfm_np model file. Needs the extra `scale`: {INSTALL}")
    p.add_argument("--model", required=True, metavar="MODEL", help="deepfm_np model file (from `train`)")
    p.add_argument("--train", required=True, metavar="FILE", help="training data in the model's format")
    p.add_argument("--valid", metavar="FILE", help="validation data: scored per epoch, the best epoch is kept")
    p.add_argument("--test", metavar="FILE", help="test data, scored once after training")
    p.add_argument("--out", required=True, metavar="MODEL", help="model file to write (.npz)")
    p.add_argument("--world-size", type=int, default=2, help="processes (ranks) to start (default 2)")
    p.add_argument("--epochs", type=int, default=1, help="epochs (default 1)")
    p.add_argument("--batch-size", type=int, default=1024, help="GLOBAL rows per step, split over ranks (default 1024)")
    p.add_argument("--lr", type=float, default=0.01, help="learning rate of both optimizers (default 0.01)")
    p.add_argument("--optimizer", choices=("adagrad", "sgd"), default="adagrad",
                   help="tables: TorchRec's fused exact Adagrad / SGD (FBGEMM's CPU kernels have no Adam); "
                        "MLP and bias: torch.optim's of the same name (default adagrad)")
    p.add_argument("--sharding", choices=("table_wise", "row_wise"), default="table_wise",
                   help="how the planner may cut the tables (default table_wise: whole fields per rank)")
    p.add_argument("--fresh", action="store_true",
                   help="re-initialise the parameters (the model's seeded init with --seed) instead of "
                        "continuing from the file's; the file then supplies model, hyper-parameters and preprocessing")
    p.add_argument("--seed", type=int, default=0, help="shuffling, dropout, --fresh init (default 0)")
    p.add_argument("--checkpoint-dir", metavar="DIR", help="per-epoch checkpoints (default: OUT's name + .ckpt)")
    p.add_argument("--port", type=int, default=None, help="rendezvous port on 127.0.0.1 (default: a free one)")
    p.add_argument("--timeout", type=float, default=1800.0, help="stop everything after this many seconds (default 1800)")
    p.add_argument("--threads", type=int, default=1, help="torch / BLAS threads per process (default 1)")
    p.add_argument("--skip-bad-rows", action="store_true", help="skip and count unreadable rows")
    p.add_argument("--json", dest="json_path", metavar="PATH", help="also write the results as JSON")
    p.set_defaults(run=run)


def check_extra():
    """CommandError naming the missing module and the install line when the extra `scale` is absent.

    Only looks the modules up (importing torchrec costs seconds); a library that is present but fails to
    load (e.g. an fbgemm built for another torch) is reported by the workers, also as one line.
    """
    import importlib.util
    for mod in ("torch", "fbgemm_gpu", "torchrec"):
        try:
            found = importlib.util.find_spec(mod) is not None
        except (ImportError, ValueError) as e:
            found, why = False, str(e).splitlines()[0]
        else:
            why = f"no module named {mod}"
        if not found:
            raise CommandError(f"scale-train needs the extra `scale` ({why}); install it with: {INSTALL}")


def run(args):
    if args.world_size < 1:
        raise CommandError(f"--world-size must be >= 1, got {args.world_size}")
    if args.epochs < 1 or args.batch_size < 1 or not args.lr > 0:
        raise CommandError("--epochs and --batch-size must be >= 1 and --lr > 0")
    if args.port is not None and not 0 < args.port < 65536:
        raise CommandError(f"--port must be in 1..65535, got {args.port}")
    from ..model_file import load_model
    saved = load_model(args.model)                   # a bad model file: one line before any process starts
    check_extra()
    from ..scale.trainer import ScaleError, ScaleOptions, launch
    opts = ScaleOptions(model=args.model, train=args.train, valid=args.valid, test=args.test, out=args.out,
                        world_size=args.world_size, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                        optimizer=args.optimizer, sharding=args.sharding, seed=args.seed, fresh=args.fresh,
                        checkpoint_dir=args.checkpoint_dir, port=args.port, timeout=args.timeout,
                        skip_bad_rows=args.skip_bad_rows, threads=args.threads)
    try:
        result = launch(opts)
    except ScaleError as e:
        raise CommandError(str(e)) from None
    for name in ("valid", "test"):
        s = result.get(name)
        if s:
            print(f"{name}: AUC {s['auc']:.4f}  log loss {s['logloss']:.4f}  ({s['rows']:,} rows)")
    print(f"trained {result['epochs']} epoch(s) on {result['world_size']} processes in {result['train_seconds']:.1f} s "
          f"({result['samples_per_second']:,.0f} samples/s); model written to {result['out']}")
    if args.json_path:
        with open(args.json_path, "w") as f:
            json.dump(result, f, indent=2)
    return 0
