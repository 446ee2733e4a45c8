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
from the model's own seed), so two runs with the same seeds and the same fixed
thread count give bit-identical predictions. Under threads="auto" (the CLI's
default) the BLAS thread count changes with the machine's load, and a matmul's
rounding can depend on it (threads.AutoThreads), so such runs agree only to
rounding.

Early stopping matters for CTR models: they often overfit after one or two
epochs (the embedding tables memorise rare ids), so the best validation score
is kept and its parameters are restored at the end. What it watches
(`monitor`) matters as much: validation AUC can creep up for many epochs while
the probabilities drift towards 0 and 1 and the log loss explodes, so the
default watches log loss (see MODEL_DEFAULTS and docs/defaults_table.py for
the measurements behind every default).

Calibration from the first step: the output bias starts at the training set's
base-rate log-odds ln(r / (1 - r)) (Model.init_bias), not at p = 0.5.

Guards: an all-one-class training set is refused before training; a loss that
becomes NaN, or validations whose log loss stays far above the base rate's
(or whose predictions are constant), stop training with a message saying what
to try (TrainingDiverged). A checkpoint (train(checkpoint=...)) is written at
the end of every epoch and on Ctrl-C; train(resume=...) continues from one
bit-identically at a fixed thread count (parameters, optimizer state, generator states, position in
the epoch and the early-stopping bookkeeping are all in it).
"""
from __future__ import annotations

import math
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from .metrics import summary
from .models.step import make_step
from .optim import FTRL, make_optimizer
from .threads import AutoThreads, set_threads

MONITORS = ("logloss", "auc", "auc-logloss")   # what early stopping watches; auc-logloss = AUC minus log loss
FEW_ROWS = 50           # a validation class with fewer rows than this: warn (its AUC / log loss are noise)
DIVERGE_MARGIN = 1.0    # a validation log loss over the base rate's + this many nats per row is diverged (an
                        # overfitted model is rarely that bad: it still ranks; lr 1e6 gives ~20 nats),
DIVERGE_AFTER = 3       # and DIVERGE_AFTER such validations in a row (or a kept model that is one) stop
CONSTANT = 1e-6         # predictions whose max - min is below this are a constant predictor


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite, or stayed far above the base rate's; the message says what to try."""


class TrainingRefused(ValueError):
    """The data or a resume checkpoint cannot be trained on as given; nothing was trained."""


@dataclass
class TrainConfig:
    epochs: int = 5                 # passes over the training data (an upper bound with early stopping)
    batch_size: int = 1024
    optimizer: str = "adam"         # sgd | adagrad | adam | ftrl
    lr: float = 1e-3
    l2_embed: float = 0.0           # L2 on the embedding rows a batch touches (sparse tables only)
    eval_every: int = 0             # also validate every N steps (0: once per epoch only)
    patience: int = 2               # validations without improvement before stopping (0: never stop early)
    monitor: str = "logloss"        # what early stopping watches: logloss, auc, or auc-logloss (see MONITORS)
    bias_init: bool = True          # start the output bias at the training base rate's log-odds
    seed: int = 0                   # shuffling and dropout
    progress: bool = True           # a progress bar with the running loss (on stderr)
    log: bool = False               # one plain line per validation on stderr (for logs, without a bar)
    eval_batch_size: int = 8192
    fused: bool = True              # FM and LR: one fused Numba step (models/step.py); False: the readable layers
    threads: object = None          # None: as set; n: set_threads(n); "auto": threads.AutoThreads picks 1 or all
    metric: str | None = None       # the old name of `monitor` (kept for callers that use it): overrides it

    def __post_init__(self):
        if self.metric is not None:
            self.monitor, self.metric = self.metric, None
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch_size must be >= 1, got {self.epochs}, {self.batch_size}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.monitor not in MONITORS:
            raise ValueError(f"monitor must be one of {', '.join(MONITORS)}, got {self.monitor!r}")
        if not self.l2_embed >= 0 or self.eval_every < 0 or self.patience < 0:
            raise ValueError(f"l2_embed, eval_every and patience must be >= 0, got {self.l2_embed}, "
                             f"{self.eval_every}, {self.patience}")


# Per-model training defaults (the CLI's, and default_config's). Chosen from the table that
# docs/defaults_table.py measures (README, "Defaults"): each makes early stopping on validation log loss,
# not the epoch cap, end training, with test log loss below the base rate's on every data set tried.
MODEL_DEFAULTS = {
    "lr": dict(optimizer="adam", lr=1e-2, l2_embed=0.0),     # 3e-3 hit the 20-epoch cap; L2 hurt on MovieLens
    "fm": dict(optimizer="adam", lr=3e-3, l2_embed=1e-4),    # 1e-2 L2 cost 0.09 AUC on MovieLens
    "*": dict(optimizer="adam", lr=1e-3, l2_embed=1e-2),     # DeepFM (and the other deep models, unmeasured):
}                                                            # 1e-2 L2 helped on the 1% file and Criteo
# The defaults before issue 10 (every model: adam 3e-3, early stopping on AUC, bias at p = 0.5).
OLD_DEFAULTS = dict(optimizer="adam", lr=3e-3, l2_embed=0.0, monitor="auc", bias_init=False)


def default_config(model_name: str, **overrides) -> TrainConfig:
    """The TrainConfig the CLI uses for `model_name`; overrides that are None keep the default."""
    kw = {"epochs": 20, **MODEL_DEFAULTS.get(model_name, MODEL_DEFAULTS["*"])}
    kw.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig(**kw)


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
    stop_reason: str = ""                          # early_stopping | epoch_cap | no_validation
    monitor: str = ""                              # what early stopping watched (may differ from the config's)
    base_rate: float = float("nan")                # positive share of the training data
    warnings: list = field(default_factory=list)   # one line each, also passed to on_warning as they happen
    resumed_from: dict | None = None               # {"epoch", "step"} when resumed from a checkpoint
    threads_log: list = field(default_factory=list)  # --threads auto: (step, event, threads) of its choices

    @property
    def samples_per_second(self) -> float:
        return self.samples_seen / self.train_seconds if self.train_seconds > 0 else float("nan")

    def to_dict(self):
        d = asdict(self)
        d["samples_per_second"] = self.samples_per_second
        return d


def evaluate(model, data, batch_size=8192) -> dict:
    """AUC, log loss and calibration of `model` on a data set (evaluation mode: no dropout).

    Returns metrics.summary(): auc (None when the data has one class), logloss, base_logloss,
    mean_prediction, observed_rate, ece, spread, rows, positives.
    """
    p = np.empty(data.n, dtype=np.float64)
    y = np.empty(data.n, dtype=np.float32)
    s = 0
    for idx, val, yb in data.iter_batches(batch_size):
        p[s:s + len(yb)] = model.predict_proba(idx, val, batch_size)
        y[s:s + len(yb)] = yb
        s += len(yb)
    return summary(y, p)


def predict(model, data, batch_size=8192) -> np.ndarray:
    """Click probabilities (N,) in data order."""
    return np.concatenate([model.predict_proba(idx, val, batch_size)
                           for idx, val, _ in data.iter_batches(batch_size)] or [np.empty(0)])


def label_counts(data, batch_size=65536) -> tuple[int, int]:
    """(positives, rows) of a data set (its labels in memory when it has them, else one pass)."""
    y = getattr(data, "y", None)
    if isinstance(y, np.ndarray):
        return int(np.count_nonzero(y == 1)), int(y.shape[0])
    pos = n = 0
    for _, _, yb in data.iter_batches(batch_size):
        pos, n = pos + int(np.count_nonzero(yb == 1)), n + len(yb)
    return pos, n


def monitor_score(rec: dict, monitor: str) -> float:
    """The early-stopping score of a validation record; larger is better."""
    if monitor == "logloss":
        return -rec["valid_logloss"]
    if monitor == "auc":
        return rec["valid_auc"]
    return rec["valid_auc"] - rec["valid_logloss"]


# Settings a resumed run must share with the run that wrote the checkpoint (else it is not the same run).
_RESUME_KEYS = ("batch_size", "optimizer", "lr", "l2_embed", "eval_every", "monitor", "bias_init", "seed")


def train(model, train_data, valid_data=None, config: TrainConfig | None = None, optimizer=None,
          on_eval=None, on_warning=None, checkpoint=None, resume=None) -> TrainResult:
    """Train `model` in place; returns the history. With valid_data, the best parameters are restored.

    optimizer : an optimizer built on model.params (default: from config.optimizer / config.lr).
    on_eval   : optional callback(record dict) after each validation (for notebooks and logs).
    on_warning: optional callback(str) for each warning as it happens (also kept in result.warnings).
    checkpoint: a path: write a checkpoint there at the end of every epoch and on Ctrl-C (SIGINT).
    resume    : a checkpoint path written by a run with the same data, model and settings: continue it
                (to config.epochs in all); the result is bit-identical to the uninterrupted run's.
    Raises TrainingRefused (one class in the training data; a checkpoint from another run) before
    training, TrainingDiverged when the loss becomes NaN or stays far above the base rate's.
    """
    from .data.checkpoint import load_checkpoint
    cfg = config or TrainConfig()
    pos, n = label_counts(train_data)
    if pos == 0 or pos == n:
        raise TrainingRefused(f"the training data has only {'negative' if pos == 0 else 'positive'} rows "
                              f"({n:,} rows): a click model needs both classes to learn anything")
    result = TrainResult(base_rate=pos / n)

    def warn(msg):
        result.warnings.append(msg)
        if on_warning is not None:
            on_warning(msg)

    monitor = cfg.monitor
    if valid_data is not None:
        vpos, vn = label_counts(valid_data)
        few = min(vpos, vn - vpos)
        kind = "positive" if vpos <= vn - vpos else "negative"
        if few == 0:
            warn(f"the validation data has only {'negative' if vpos == 0 else 'positive'} rows: AUC is "
                 f"undefined for it" + (f"; early stopping watches log loss instead of {monitor}"
                                         if monitor != "logloss" else ""))
            monitor = "logloss"
        elif few < FEW_ROWS:
            warn(f"the validation data has only {few} {kind} rows (of {vn:,}): its scores are noisy and so "
                 f"is early stopping on them (hold out more rows, or give a larger validation file)")
    result.monitor = monitor

    state = None
    if resume is not None:
        arrays, meta = load_checkpoint(resume)
        _check_resume(model, cfg, arrays, meta, resume)
        state = meta
    elif cfg.bias_init and not isinstance(optimizer, FTRL):   # FTRL derives w from its state: built already
        model.init_bias(result.base_rate)
    if optimizer is None:
        optimizer = make_optimizer(cfg.optimizer, model.params, sparse=model.sparse_params, lr=cfg.lr,
                                   l2_sparse=cfg.l2_embed)
    shuffle_rng, dropout_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(cfg.seed).spawn(2))
    step_fn = make_step(model, optimizer, dropout_rng, fused=cfg.fused)   # the route, chosen once
    tuner = None                                     # threads="auto": an AutoThreads, made in the timed loop
    if isinstance(cfg.threads, int):
        set_threads(cfg.threads)
    shown = (lambda: {"threads": tuner.label}) if cfg.threads == "auto" else dict   # for the progress line
    best_score, best_params, bad_evals, diverged = -math.inf, None, 0, 0
    step, first_epoch, skip, running = 0, 1, 0, None
    if state is None:
        pre = model.pretrain(train_data, valid_data, cfg, fit=train)   # a two-stage model's stage 1 (FNN), or None
        if pre is not None:                          # counted as training
            result.pretrain_seconds, result.pretrain_cpu_seconds = pre.train_seconds, pre.train_cpu_seconds
            result.train_seconds += pre.train_seconds
            result.train_cpu_seconds += pre.train_cpu_seconds
    else:                                            # everything the loop below keeps, as it was
        for k, v in model.params.items():
            np.copyto(v, arrays[f"param/{k}"])
        optimizer.load_state_dict({k[4:]: v for k, v in arrays.items() if k.startswith("opt/")})
        if any(k.startswith("best/") for k in arrays):
            best_params = {k: arrays[f"best/{k}"].copy() for k in model.params}
        model.pretrain_result = True                 # a two-stage model's stage 1 is in the parameters
        shuffle_rng.bit_generator.state = state["shuffle_state"]
        dropout_rng.bit_generator.state = state["dropout_state"]
        first_epoch, skip, step, running = state["epoch"], state["batches_done"], state["step"], state["running"]
        best_score = -math.inf if state["best_score"] is None else state["best_score"]
        bad_evals, diverged = state["bad_evals"], state["diverged"]
        for k in ("history", "best", "train_seconds", "train_cpu_seconds", "pretrain_seconds",
                  "pretrain_cpu_seconds", "samples_seen"):
            setattr(result, k, state["result"][k])
        result.warnings = state["result"]["warnings"] + [w for w in result.warnings
                                                         if w not in state["result"]["warnings"]]
        result.resumed_from = {"epoch": first_epoch, "step": step}
        if state.get("finished"):                    # early stopping had already ended that run
            result.stopped_early, result.stop_reason = True, state["finished"]
            _restore(model, best_params)
            return result
    steps_per_epoch = math.ceil(train_data.n / cfg.batch_size)
    bar = _progress(cfg.progress, cfg.epochs * steps_per_epoch, model.name, initial=step)
    clock = _Clock()                                 # training time, validation excluded

    def validate(epoch):
        """Score the validation data, keep the best parameters; True when early stopping says stop."""
        nonlocal best_score, best_params, bad_evals, diverged
        rec = {"epoch": epoch, "step": step, "samples": result.samples_seen, "train_loss": running}
        improved = False
        if valid_data is not None:
            s = evaluate(model, valid_data, cfg.eval_batch_size)
            rec.update({f"valid_{k}": s[k] for k in ("auc", "logloss", "base_logloss", "mean_prediction",
                                                      "ece", "spread")})
            score = monitor_score(rec, monitor)
            if score > best_score:
                best_score, bad_evals, result.best, improved = score, 0, rec, True
                best_params = {k: v.copy() for k, v in model.params.items()}
            else:
                bad_evals += 1
            bad = not rec["valid_logloss"] <= rec["valid_base_logloss"] + DIVERGE_MARGIN \
                or rec["valid_spread"] < CONSTANT
        else:                                        # no validation data: only the NaN guard (a running
            bad = False                              # training loss with dropout is no test of divergence)
        diverged = diverged + 1 if bad else 0
        result.history.append(rec)
        if on_eval is not None:
            on_eval(rec)
        if cfg.log:
            print(_log_line(model.name, rec, improved), file=sys.stderr, flush=True)
        if bar is not None and valid_data is not None:
            bar.set_postfix(loss=f"{running:.4f}", valid_logloss=f"{rec['valid_logloss']:.4f}", **shown())
        if diverged >= DIVERGE_AFTER:
            _restore(model, best_params)
            raise TrainingDiverged(_diverged_message(model.name, result.history[-diverged:], cfg))
        return cfg.patience > 0 and bad_evals >= cfg.patience

    def save(epoch, batches_done, epoch_start_state, finished=""):
        from .data.checkpoint import save_checkpoint
        arrays = {f"param/{k}": v for k, v in model.params.items()}
        arrays.update({f"opt/{k}": v for k, v in optimizer.state_dict().items()})
        if best_params is not None:
            arrays.update({f"best/{k}": v for k, v in best_params.items()})
        meta = {"model": {"name": model.name, "config": model.config},
                "config": {k: getattr(cfg, k) for k in _RESUME_KEYS}, "epochs": cfg.epochs,
                "epoch": epoch, "batches_done": batches_done, "step": step, "running": running,
                "shuffle_state": epoch_start_state, "dropout_state": dropout_rng.bit_generator.state,
                "best_score": None if best_score == -math.inf else best_score, "bad_evals": bad_evals,
                "diverged": diverged, "finished": finished,
                "result": {k: getattr(result, k) for k in ("history", "best", "train_seconds",
                                                            "train_cpu_seconds", "pretrain_seconds",
                                                            "pretrain_cpu_seconds", "samples_seen", "warnings")}}
        save_checkpoint(checkpoint, arrays, meta)

    interrupted = []
    old_handler = None
    if checkpoint is not None and threading.current_thread() is threading.main_thread():
        old_handler = signal.signal(signal.SIGINT, lambda signum, frame: interrupted.append(signum))
    try:
        for epoch in range(first_epoch, cfg.epochs + 1):
            stop = False
            epoch_start_state = shuffle_rng.bit_generator.state
            clock.start()
            if cfg.threads == "auto" and tuner is None:   # its first probe (a screen) counts as training time
                tuner = AutoThreads()                    # times the steps, keeps the faster setting
            for b, batch in enumerate(step_fn.batches(train_data, cfg.batch_size, shuffle_rng)):
                if b < skip:                         # resumed mid-epoch: these batches were trained on
                    continue
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
                if cfg.eval_every and step % cfg.eval_every == 0 and b + 1 < steps_per_epoch:
                    clock.stop(result)
                    stop = validate(epoch)
                    clock.start()
                    if stop:
                        break
                if interrupted:                      # Ctrl-C: between two whole steps, so the state is whole
                    clock.stop(result)
                    save(epoch, b + 1, epoch_start_state)
                    raise KeyboardInterrupt
            skip = 0
            clock.stop(result)
            if stop or validate(epoch):
                result.stopped_early = epoch < cfg.epochs or stop
                result.stop_reason = "early_stopping"
                if checkpoint is not None:
                    save(epoch + 1, 0, shuffle_rng.bit_generator.state, finished="early_stopping")
                break
            if checkpoint is not None:
                save(epoch + 1, 0, shuffle_rng.bit_generator.state)
        else:
            result.stop_reason = "epoch_cap"
            if valid_data is not None and cfg.patience > 0 and result.best is result.history[-1] \
                    and len(result.history) > 1:
                warn(f"{model.name}: reached the epoch cap ({cfg.epochs}) while the validation {monitor} was "
                     f"still improving (best at the last validation): more --epochs, or a larger --lr, "
                     f"may give a better model")
    finally:
        if bar is not None:
            bar.close()
        if old_handler is not None:
            signal.signal(signal.SIGINT, old_handler)
    kept = result.best
    if valid_data is not None and kept is not None and diverged and (
            not kept["valid_logloss"] <= kept["valid_base_logloss"] + DIVERGE_MARGIN
            or kept["valid_spread"] < CONSTANT):
        raise TrainingDiverged(_diverged_message(model.name, result.history[-diverged:], cfg))
    _restore(model, best_params)
    if tuner is not None:
        result.threads_log = list(tuner.history)
    return result


def _check_resume(model, cfg, arrays, meta, path):
    if meta["model"]["name"] != model.name or meta["model"]["config"] != model.config:
        raise TrainingRefused(f"{path}: the checkpoint is of {meta['model']['name']} {meta['model']['config']}, "
                              f"not of {model.name} {model.config}")
    for k, v in model.params.items():
        a = arrays.get(f"param/{k}")
        if a is None or a.shape != v.shape or a.dtype != v.dtype:
            raise TrainingRefused(f"{path}: parameter {k} of the checkpoint does not fit this model "
                                  f"(another data set or preprocessing?)")
    want = {k: getattr(cfg, k) for k in _RESUME_KEYS}
    diff = [f"{k} {meta['config'].get(k)!r} vs {want[k]!r}" for k in _RESUME_KEYS if meta["config"].get(k) != want[k]]
    if diff:
        raise TrainingRefused(f"{path}: the checkpoint was written with other settings ({'; '.join(diff)}); "
                              f"resume with the same ones")


def _diverged_message(name, recs, cfg):
    last = recs[-1]
    if last["valid_spread"] < CONSTANT:
        what = (f"the predictions were constant (p = {last['valid_mean_prediction']:.4g}) for "
                f"{len(recs)} validation(s): the model learned nothing")
    else:
        what = (f"the validation log loss stayed far above the base rate's ({last['valid_logloss']:.4g} "
                f"vs {last['valid_base_logloss']:.4g}) for {len(recs)} validation(s)")
    return (f"{name}: training diverged: {what} (lr={cfg.lr:g}, optimizer={cfg.optimizer}). Try a smaller "
            f"--lr (e.g. {cfg.lr / 10:g}), the default optimizer, or check the input for huge numeric values; "
            f"no model was kept")


def _log_line(name, rec, improved):
    parts = [f"{name} epoch {rec['epoch']} step {rec['step']}:",
             f"train loss {rec['train_loss']:.4f}" if rec["train_loss"] is not None else "train loss -"]
    if "valid_logloss" in rec:
        auc = "undefined" if rec["valid_auc"] is None else f"{rec['valid_auc']:.4f}"
        parts.append(f"valid AUC {auc} log loss {rec['valid_logloss']:.4f}" + ("  (best so far)" if improved else ""))
    return "  ".join(parts)


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


def _progress(enabled, total, desc, initial=0):
    if not enabled:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, unit="batch", file=sys.stderr, leave=False, dynamic_ncols=True,
                initial=initial, disable=None)   # None: off unless stderr is a terminal (no bars in logs)
