"""The training loop: forward, backward, update, over shuffled minibatches.

    for epoch in 1..E:
        for (idx, val, y) in shuffled batches:
            logits = model.forward(idx, val, train=True, rng)      # 1. forward
            loss, dlogits = bce_with_logits(logits, y)
            grads = model.backward(dlogits)                        # 2. backward
            optimizer.step(grads)                                  # 3. update (sparse rows + dense)
        validate; keep the best parameters; stop early when validation stops improving

One seed fixes everything random in a run (the shuffling order and the dropout
masks come from two generators spawned from it; the initial parameters come
from the model's own seed), so two runs with the same seeds give bit-identical
predictions.

Early stopping matters for CTR models: they often overfit after one or two
epochs (the embedding tables memorise rare ids), so the best validation score
is kept and its parameters are restored at the end.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from .metrics import auc, logloss
from .optim import make_optimizer
from .threads import AutoThreads, set_threads
from .models.step import make_step


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite; the message says where and what to try."""


@dataclass
class TrainConfig:
    epochs: int = 5                 # passes over the training data (an upper bound with early stopping)
    batch_size: int = 1024
    optimizer: str = "adam"         # sgd | adagrad | adam | ftrl
    lr: float = 1e-3
    l2_embed: float = 0.0           # L2 on the embedding rows a batch touches (sparse tables only)
    eval_every: int = 0             # also validate every N steps (0: once per epoch only)
    patience: int = 2               # validations without improvement before stopping (0: never stop early)
    metric: str = "auc"             # what early stopping watches: auc (higher is better) or logloss
    seed: int = 0                   # shuffling and dropout
    progress: bool = True           # a progress bar with the running loss (on stderr)
    eval_batch_size: int = 8192
    fused: bool = True              # FM and LR: one fused Numba step (models/step.py); False: the readable layers
    threads: object = None          # None: as set; n: set_threads(n); "auto": threads.AutoThreads picks 1 or all

    def __post_init__(self):
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch_size must be >= 1, got {self.epochs}, {self.batch_size}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.metric not in ("auc", "logloss"):
            raise ValueError(f"metric must be 'auc' or 'logloss', got {self.metric!r}")


@dataclass
class TrainResult:
    history: list = field(default_factory=list)   # one dict per validation: epoch, step, train_loss, valid_*
    best: dict | None = None                       # the validation record whose parameters were kept
    train_seconds: float = 0.0                     # time in forward/backward/update (validation excluded)
    train_cpu_seconds: float = 0.0                 # the same, as CPU time of the process (steadier when the
                                                   # machine is shared; sums all threads' time)
    pretrain_seconds: float = 0.0                  # a two-stage model's stage 1 (FNN's FM), included above
    pretrain_cpu_seconds: float = 0.0
    samples_seen: int = 0
    stopped_early: bool = False
    threads_log: list = field(default_factory=list)  # --threads auto: (step, event, threads) of its choices

    @property
    def samples_per_second(self) -> float:
        return self.samples_seen / self.train_seconds if self.train_seconds > 0 else float("nan")

    def to_dict(self):
        d = asdict(self)
        d["samples_per_second"] = self.samples_per_second
        return d


def evaluate(model, data, batch_size=8192) -> dict:
    """AUC and log loss of `model` on a data set (evaluation mode: no dropout)."""
    p = np.empty(data.n, dtype=np.float64)
    y = np.empty(data.n, dtype=np.float32)
    s = 0
    for idx, val, yb in data.iter_batches(batch_size):
        p[s:s + len(yb)] = model.predict_proba(idx, val, batch_size)
        y[s:s + len(yb)] = yb
        s += len(yb)
    return {"auc": auc(y, p), "logloss": logloss(y, p), "rows": int(data.n)}


def predict(model, data, batch_size=8192) -> np.ndarray:
    """Click probabilities (N,) in data order."""
    return np.concatenate([model.predict_proba(idx, val, batch_size)
                           for idx, val, _ in data.iter_batches(batch_size)] or [np.empty(0)])


def train(model, train_data, valid_data=None, config: TrainConfig | None = None, optimizer=None,
          on_eval=None) -> TrainResult:
    """Train `model` in place; returns the history. With valid_data, the best parameters are restored.

    optimizer: an optimizer built on model.params (default: from config.optimizer / config.lr).
    on_eval: optional callback(record dict) after each validation (for notebooks and logs).
    """
    cfg = config or TrainConfig()
    if optimizer is None:
        optimizer = make_optimizer(cfg.optimizer, model.params, sparse=model.sparse_params, lr=cfg.lr,
                                   l2_sparse=cfg.l2_embed)
    shuffle_rng, dropout_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(cfg.seed).spawn(2))
    step_fn = make_step(model, optimizer, dropout_rng, fused=cfg.fused)   # the route, chosen once
    tuner = AutoThreads() if cfg.threads == "auto" else None   # times the steps, keeps the faster setting
    if isinstance(cfg.threads, int):
        set_threads(cfg.threads)
    shown = (lambda: {"threads": tuner.label}) if tuner is not None else dict   # for the progress line
    sign = 1.0 if cfg.metric == "auc" else -1.0      # larger score = better
    result = TrainResult()
    pre = model.pretrain(train_data, valid_data, cfg, fit=train)   # a two-stage model's stage 1 (FNN), or None
    if pre is not None:                              # counted as training
        result.pretrain_seconds, result.pretrain_cpu_seconds = pre.train_seconds, pre.train_cpu_seconds
        result.train_seconds += pre.train_seconds
        result.train_cpu_seconds += pre.train_cpu_seconds
    best_score, best_params, bad_evals = -math.inf, None, 0
    steps_per_epoch = math.ceil(train_data.n / cfg.batch_size)
    step = 0
    bar = _progress(cfg.progress, cfg.epochs * steps_per_epoch, model.name)
    running = None                                   # exponential moving average of the batch loss
    clock = _Clock()                                 # training time, validation excluded

    def validate(epoch):
        nonlocal best_score, best_params, bad_evals
        rec = {"epoch": epoch, "step": step, "samples": result.samples_seen, "train_loss": running}
        if valid_data is not None:
            rec.update({f"valid_{k}": v for k, v in evaluate(model, valid_data, cfg.eval_batch_size).items()
                        if k != "rows"})
            score = sign * rec[f"valid_{cfg.metric}"]
            if score > best_score:
                best_score, bad_evals, result.best = score, 0, rec
                best_params = {k: v.copy() for k, v in model.params.items()}
            else:
                bad_evals += 1
        result.history.append(rec)
        if on_eval is not None:
            on_eval(rec)
        if bar is not None and valid_data is not None:
            bar.set_postfix(loss=f"{running:.4f}", valid_auc=f"{rec['valid_auc']:.4f}", **shown())
        return cfg.patience > 0 and bad_evals >= cfg.patience

    try:
        for epoch in range(1, cfg.epochs + 1):
            stop = False
            clock.start()
            for batch in step_fn.batches(train_data, cfg.batch_size, shuffle_rng):
                t_step = time.perf_counter()
                loss = step_fn(*batch)                   # forward, loss, backward, update (models/step.py)
                if tuner is not None:
                    tuner.observe(time.perf_counter() - t_step, len(batch[-1]))
                if not math.isfinite(loss):
                    _restore(model, best_params)
                    raise TrainingDiverged(
                        f"{model.name}: the training loss became {loss} at epoch {epoch}, step {step + 1} "
                        f"(lr={cfg.lr}, optimizer={cfg.optimizer}). Try a smaller --lr, or check the "
                        f"input values for huge numbers (numeric fields are best log-transformed)."
                        + (" The best parameters so far were restored." if best_params is not None else ""))
                step += 1
                result.samples_seen += len(batch[-1])    # y, or the fused step's rows
                running = loss if running is None else 0.98 * running + 0.02 * loss
                if bar is not None:
                    bar.update(1)
                    if step % 20 == 0:
                        bar.set_postfix(loss=f"{running:.4f}", **shown(), refresh=False)
                if cfg.eval_every and step % cfg.eval_every == 0 and step % steps_per_epoch != 0:
                    clock.stop(result)
                    stop = validate(epoch)
                    clock.start()
                    if stop:
                        break
            clock.stop(result)
            if stop or validate(epoch):
                result.stopped_early = epoch < cfg.epochs or stop
                break
    finally:
        if bar is not None:
            bar.close()
    _restore(model, best_params)
    if tuner is not None:
        result.threads_log = list(tuner.history)
    return result


class _Clock:
    """Adds wall and CPU time between start() and stop() to a TrainResult."""

    def start(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def stop(self, result):
        result.train_seconds += time.perf_counter() - self.wall
        result.train_cpu_seconds += time.process_time() - self.cpu


def _restore(model, best_params):
    if best_params is not None:
        for k, v in best_params.items():
            model.params[k][...] = v                   # in place: the optimizer keeps its references


def _progress(enabled, total, desc):
    if not enabled:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, unit="batch", file=sys.stderr, leave=False, dynamic_ncols=True,
                disable=None)                        # None: off unless stderr is a terminal (no bars in logs)
