"""One process of a scale-train run, and the launcher that starts N of them on this machine.

    result = launch(opts)         # opts: ScaleOptions; spawns opts.world_size processes, waits (bounded)

Each process (rank r of N):
    1. joins the gloo group on 127.0.0.1:port; reads ITS shard of --train/--valid/--test (scale/data.py);
    2. builds the TorchRec model from the model file, plans and shards the tables, writes the file's rows
       into the shards it owns; checks the forward against deepfm_np's predict on its test rows;
    3. per step: its local batch -> KJT -> DMP forward (all-to-all of pooled embeddings) -> loss ->
       backward (the fused table optimizer updates owned rows; DDP all-reduces the dense gradients) ->
       dense optimizer step;
    4. per epoch: validation AUC / log loss on all ranks' rows, a checkpoint of its own shards; the best
       epoch's checkpoint is restored at the end (as `train` restores its best parameters);
    5. rank 0 gathers every shard and writes a deepfm_np model file.

Loss scaling: a step's loss on rank r is N * sum_{rows of r} bce / (rows of the step on ALL ranks). DDP
AVERAGES the dense gradients over the N ranks, and TorchRec's backward all-to-all averages the table
gradients the same way (comm_ops.GRADIENT_DIVISION, on by default; checked at start), so both become
sum_{all rows} d bce / (all rows): what one process computes on the whole global batch
(tests/test_torchrec_dist.py checks one SGD step parameter by parameter).
"""
from __future__ import annotations

import json
import math
import os
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataError


class ScaleError(Exception):
    """A set-up or data problem found by a worker: reported by the launcher as one line."""


@dataclass
class ScaleOptions:
    model: str
    train: str
    out: str
    valid: str | None = None
    test: str | None = None
    world_size: int = 2
    epochs: int = 1
    batch_size: int = 1024
    lr: float = 0.01
    optimizer: str = "adagrad"
    sharding: str = "table_wise"
    seed: int = 0
    fresh: bool = False                  # re-initialise the parameters (model's seeded init) before training
    checkpoint_dir: str | None = None
    port: int | None = None
    timeout: float = 1800.0
    skip_bad_rows: bool = False
    threads: int = 1                     # torch / BLAS threads per process
    eval_batch_size: int = 8192
    result_path: str | None = None       # where rank 0 writes the JSON result (the launcher sets it)
    extra: dict = field(default_factory=dict)


def _model_from_file(opts):
    from ..model_file import load_model
    from ..models.registry import SPECS
    saved = load_model(opts.model)
    model = saved.model
    if opts.fresh:
        cfg = dict(model.config, seed=opts.seed)
        if model.name == "fnn":
            raise ScaleError("--fresh fnn: FNN's FM pre-training is not part of scale-train; train fnn with "
                             "`train` first and continue it here without --fresh")
        model = SPECS[model.name].build(model.layout, dtype=model.dtype, **cfg)
    return saved, model


def _counts(n_local):
    import torch
    import torch.distributed as dist
    t = torch.zeros(dist.get_world_size(), dtype=torch.int64)
    t[dist.get_rank()] = n_local
    dist.all_reduce(t)
    return t.numpy()


def _steps_or_fail(counts, batch, what, path, world):
    """Steps every rank runs over a split; ScaleError if a rank would have no rows for some step."""
    total = int(counts.sum())
    steps = max(1, math.ceil(total / batch))
    steps = min(steps, int(counts.min())) if counts.min() > 0 else 0
    if steps == 0:
        raise ScaleError(f"world size {world} is larger than the data: {path} ({what}) has {total} rows, "
                         f"so rank {int(np.argmin(counts))} would have none")
    return steps


def _forward(dmp, idx, val, layout):
    from .model import batch_to_kjt
    return dmp(batch_to_kjt(idx, val, layout))


def _predict(dmp, ds, steps, layout):
    """This rank's probabilities (n,) float64 over `steps` batches (evaluation mode)."""
    import torch
    from .data import even_batches
    dmp.eval()
    out = []
    with torch.no_grad():
        for rows in even_batches(ds.n, steps):
            out.append(torch.sigmoid(_forward(dmp, ds.idx[rows], ds.val[rows], layout).double()).numpy())
    dmp.train()
    return np.concatenate(out)


def _score(dmp, ds, steps, layout):
    """AUC / log loss over all ranks' rows (rank 0 gets them; others None), and this rank's p."""
    import torch.distributed as dist
    from ..metrics import auc, logloss
    p = _predict(dmp, ds, steps, layout)
    parts = [None] * dist.get_world_size() if dist.get_rank() == 0 else None
    dist.gather_object((p, ds.y), parts, dst=0)
    if parts is None:
        return None, p
    P = np.concatenate([a for a, _ in parts])
    Y = np.concatenate([b for _, b in parts])
    return {"auc": auc(Y, P), "logloss": logloss(Y, P), "rows": int(len(Y))}, p


def _broadcast(obj):
    import torch.distributed as dist
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def _save_checkpoint(dmp, dense, dense_opt, path, epoch):
    """This rank's table shards, the fused optimizer's state shards, dense params and optimizer state."""
    import torch
    from .dist import local_shards

    def plain(x):                                    # ShardedTensor -> its local pieces; recurse into dicts
        if hasattr(x, "local_shards"):
            return [(list(s.metadata.shard_offsets), s.tensor.detach().clone()) for s in x.local_shards()]
        if isinstance(x, dict):
            return {k: plain(v) for k, v in x.items()}
        return x.detach().clone() if torch.is_tensor(x) else x

    state = {"epoch": epoch, "tables": local_shards(dmp), "table_optimizer": plain(dmp.fused_optimizer.state_dict()),
             "dense": {k: v.detach().clone() for k, v in dense.items()}, "dense_optimizer": dense_opt.state_dict()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    torch.save(state, tmp)
    os.replace(tmp, path)                            # atomic: never a half-written checkpoint


def _restore_checkpoint(dmp, dense, path):
    import torch
    from .dist import load_local_shards
    state = torch.load(path, weights_only=False)
    load_local_shards(dmp, state["tables"])
    with torch.no_grad():
        for k, v in dense.items():
            v.copy_(state["dense"][k])
    return state["epoch"]


def worker(rank: int, opts: ScaleOptions) -> None:
    import torch
    import torch.distributed as dist

    from ..export.torch_module import load_params
    from ..model_file import save_model
    from ..threads import set_threads
    from .data import even_batches, read_shard
    from .dist import dense_optimizer, gather_tables, init_process_group, load_tables, plan_table, shard
    from .model import TorchRecCTR

    W = opts.world_size
    t_start = time.perf_counter()
    set_threads(opts.threads)
    torch.set_num_threads(opts.threads)
    init_process_group(rank, W, opts.port, timeout_s=min(opts.timeout, 600))
    say = print if rank == 0 else (lambda *a, **k: None)
    saved, model = _model_from_file(opts)
    layout = model.layout

    sets, steps, rows = {}, {}, {}
    for name, path, batch in (("train", opts.train, opts.batch_size), ("valid", opts.valid, opts.eval_batch_size),
                              ("test", opts.test, opts.eval_batch_size)):
        if path:
            ds, _ = read_shard(saved, path, rank, W, opts.skip_bad_rows)
            counts = _counts(ds.n)
            sets[name], steps[name] = ds, _steps_or_fail(counts, batch, name, path, W)
            rows[name] = int(counts.sum())
            if name == "train":
                train_counts = counts
    say("data: " + ", ".join(f"{k} {n:,} rows" for k, n in rows.items())
        + f" over {W} processes; {layout.n_fields} fields, {layout.n_rows:,} table rows")

    torch.manual_seed(opts.seed * 1000 + rank)      # dropout masks: seeded, different per rank
    net = TorchRecCTR(model)
    dmp, plan = shard(net, W, opts.lr, opts.optimizer, opts.sharding)
    load_tables(dmp, net.initial_weights())
    placement = plan_table(plan)
    say(f"set-up (process group, data, plan, sharding): {time.perf_counter() - t_start:.1f} s")
    say(f"sharding plan ({opts.sharding}, {len(placement)} tables):")
    for t, p in placement.items():
        say(f"  {t} ({layout.names[int(t[1:])]}): {p['sharding']} {p['kernel']} on rank(s) {p['ranks']}")
    dense_opt, dense_named = dense_optimizer(dmp, opts.optimizer, opts.lr)
    from torchrec.distributed.comm_ops import get_gradient_division
    if not get_gradient_division():                  # the loss scaling below assumes TorchRec's default
        raise ScaleError("TorchRec's gradient division is off (comm_ops.set_gradient_division(False)); "
                         "scale-train's loss scaling needs it on")

    parity = None
    if "test" in sets:                               # before any step: TorchRec forward == deepfm_np predict
        p_t = _predict(dmp, sets["test"], steps["test"], layout)
        p_np = model.predict_proba(sets["test"].idx, sets["test"].val)
        t = torch.tensor([float(np.abs(p_t - p_np).max())], dtype=torch.float64)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        parity = float(t[0])
        say(f"before training: max |p_torchrec - p_deepfm_np| = {parity:.2e} on the test rows")

    # Per-step global row counts: batch j on rank r has n_r // steps + (j < n_r % steps) rows.
    S = steps["train"]
    step_rows = sum((c // S) + (np.arange(S) < c % S) for c in train_counts.tolist())       # (S,)
    ckpt = Path(opts.checkpoint_dir) if opts.checkpoint_dir else Path(opts.out).with_name(Path(opts.out).stem + ".ckpt")
    history, best, best_epoch = [], -math.inf, None
    train_seconds, samples = 0.0, 0
    ds = sets["train"]
    for epoch in range(1, opts.epochs + 1):
        rng = np.random.default_rng([opts.seed, rank, epoch])
        t0 = time.perf_counter()
        loss_sum = torch.zeros(1, dtype=torch.float64)
        for j, rows in enumerate(even_batches(ds.n, S, rng)):
            logits = _forward(dmp, ds.idx[rows], ds.val[rows], layout)
            y = torch.from_numpy(ds.y[rows])
            bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="sum")
            loss = bce * (W / float(step_rows[j]))   # both gradients are averaged over ranks (docstring)
            dense_opt.zero_grad()
            loss.backward()                          # tables: fused update on their owners, here
            dense_opt.step()
            loss_sum += bce.detach().double()
        dist.all_reduce(loss_sum)
        train_seconds += time.perf_counter() - t0
        samples += int(train_counts.sum())
        rec = {"epoch": epoch, "train_loss": float(loss_sum[0]) / int(train_counts.sum())}
        if "valid" in sets:
            scores, _ = _score(dmp, sets["valid"], steps["valid"], layout)
            if rank == 0:
                rec.update({f"valid_{k}": v for k, v in scores.items() if k != "rows"})
        rec = _broadcast(rec)
        _save_checkpoint(dmp, dense_named, dense_opt, ckpt / f"epoch{epoch}" / f"rank{rank}.pt", epoch)
        score = rec.get("valid_auc", epoch)          # without --valid: the last epoch is kept
        if score > best:
            best, best_epoch = score, epoch
        history.append(rec)
        say(f"epoch {epoch}: train loss {rec['train_loss']:.4f}"
            + (f"  valid AUC {rec['valid_auc']:.4f}  log loss {rec['valid_logloss']:.4f}" if "valid_auc" in rec else ""))
    if best_epoch != opts.epochs:
        _restore_checkpoint(dmp, dense_named, ckpt / f"epoch{best_epoch}" / f"rank{rank}.pt")
        say(f"restored epoch {best_epoch} (best validation AUC) from {ckpt}")
    dist.barrier()

    scores = {}
    for name in ("valid", "test"):
        if name in sets:
            s, p = _score(dmp, sets[name], steps[name], layout)
            scores[name] = s
            if name == "test":
                p_final = p
    full = gather_tables(dmp, {k: v.shape for k, v in net.initial_weights().items()})
    if rank == 0:
        with torch.no_grad():                        # the live head holds the trained dense weights
            params = net.to_numpy(full, model)
        load_params(model, params)
        after = None
        if "test" in sets:                           # rank 0's test rows: the written model predicts the same
            after = float(np.abs(model.predict_proba(sets["test"].idx, sets["test"].val) - p_final).max())
        result = {"model": model.name, "world_size": W, "backend": "gloo", "optimizer": opts.optimizer,
                  "lr": opts.lr, "batch_size": opts.batch_size, "epochs": opts.epochs, "best_epoch": best_epoch,
                  "sharding": opts.sharding, "plan": placement, "history": history,
                  "valid": scores.get("valid"), "test": scores.get("test"),
                  "parity_before_training": parity, "parity_after_gather": after,
                  "train_seconds": train_seconds, "samples_per_second": samples / train_seconds if train_seconds else None,
                  "rows": rows, "checkpoints": str(ckpt),
                  "versions": _versions()}
        result = json.loads(json.dumps(result, default=_plain))       # numpy scalars / arrays -> JSON types
        path = save_model(opts.out, model, saved.encoder, saved.reader,
                          train={"scale_train": {k: v for k, v in result.items() if k not in ("plan",)},
                                 "started_from": str(opts.model), "fresh": opts.fresh})
        result["out"] = str(path)
        if opts.result_path:
            Path(opts.result_path).write_text(json.dumps(result, indent=2))
    dist.barrier()
    dist.destroy_process_group()


def _plain(o):
    return o.tolist() if hasattr(o, "tolist") else str(o)


def _versions():
    from importlib.metadata import version
    out = {}
    for pkg in ("torch", "torchrec", "fbgemm-gpu-cpu", "tensordict", "torchmetrics"):
        try:
            out[pkg] = version(pkg)
        except Exception:                            # a package missing is reported, not fatal
            out[pkg] = None
    return out


def quiet():
    """TorchRec and torch log warnings at import and planning time (fx tracing, topology, DDP); keep errors."""
    import logging
    import warnings
    warnings.filterwarnings("ignore")
    for name in ("torch", "torchrec", "fbgemm_gpu"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _entry(rank, opts, err_path):
    """Process entry: run the worker; any failure becomes ONE line in err_path and exit code 1.

    The worker's own stderr (library warnings, native-code messages) goes to err_path + ".log".
    """
    log = os.open(err_path + ".log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(log, 2)
    quiet()
    try:
        worker(rank, opts)
    except (ScaleError, DataError) as e:
        Path(err_path).write_text(str(e))
        os._exit(1)
    except Exception as e:                           # unexpected: one line for the user, the trace beside it
        Path(err_path).write_text(f"rank {rank}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        Path(err_path + ".trace").write_text(traceback.format_exc())
        os._exit(1)


def launch(opts: ScaleOptions) -> dict:
    """Start opts.world_size processes on this machine, wait at most opts.timeout s; -> rank 0's result."""
    import multiprocessing as mp
    import tempfile

    from .dist import free_port, port_in_use
    if opts.port is None:
        opts.port = free_port()
    elif port_in_use(opts.port):
        raise ScaleError(f"port {opts.port} on 127.0.0.1 is in use; pass another --port or leave it out "
                         f"to pick a free one")
    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="scale-train-") as tmp:
        opts.result_path = str(Path(tmp) / "result.json")
        errs = [str(Path(tmp) / f"rank{r}.err") for r in range(opts.world_size)]
        procs = [ctx.Process(target=_entry, args=(r, opts, errs[r]), daemon=True) for r in range(opts.world_size)]
        for p in procs:
            p.start()
        deadline = time.monotonic() + opts.timeout
        failed = None
        while any(p.is_alive() for p in procs):
            if any(p.exitcode not in (None, 0) for p in procs):
                failed = "error"
                break
            if time.monotonic() > deadline:
                failed = "timeout"
                break
            time.sleep(0.2)
        if failed:
            time.sleep(1.0)                          # let the other ranks write their own error, if any
            for p in procs:
                if p.is_alive():
                    p.terminate()                    # only the processes this launcher started
            for p in procs:
                p.join(10)
        messages = [Path(e).read_text() for e in errs if Path(e).exists()]
        if failed == "timeout" and not messages:
            raise ScaleError(f"scale-train did not finish within --timeout {opts.timeout:g} s")
        if messages or any(p.exitcode != 0 for p in procs):
            first = messages[0] if messages else f"a worker exited with code {[p.exitcode for p in procs]}"
            if os.environ.get("DEEPFM_NP_TRACE"):       # for developers: every rank's trace and log
                for e in errs:
                    for extra in (".trace", ".log"):
                        if Path(e + extra).exists():
                            print(f"---- {Path(e).stem}{extra}\n" + Path(e + extra).read_text())
            raise ScaleError(first)
        return json.loads(Path(opts.result_path).read_text())


def options_dict(opts: ScaleOptions) -> dict:
    return asdict(opts)
