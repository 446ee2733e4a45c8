"""How many threads the numeric libraries may use.

Two thread pools do the work in deepfm_np:
- the BLAS behind NumPy's matmul (OpenBLAS or MKL), used by the dense layers;
- Numba's, used only by kernels compiled with parallel=True (the kernels in deepfm_np.kernels are
  serial on purpose, but a caller's own parallel kernels would use it).

`set_threads(n)` caps both at n, and PyTorch's intra-op pool too when the caller has already imported
torch (the ONNX/torch export tests, the TorchRec trainer, benchmarks beside PyTorch): Numba's OpenMP
layer and PyTorch share libgomp, and launching Numba's pool resets the process's OpenMP thread count,
so a `torch.set_num_threads(1)` made before would silently become 2. This module never imports torch.
This matters on a small shared machine (two processes each starting
one BLAS thread per core oversubscribe it) and for benchmarks, which must say how many threads they used.
`set_threads(None)` keeps (or restores) the libraries' own defaults. `AutoThreads` (the training loop's
`--threads auto`) switches between 1 thread and all cores by timing the steps themselves.

The BLAS limit is a threadpoolctl context that must stay alive for the limit to hold, so the module keeps
it in a global and undoes it before setting a new one.
"""
from __future__ import annotations

import math

_blas_limit = None        # the live threadpoolctl.threadpool_limits object, or None
_numba_default = None     # numba's thread count before the first set_threads call
_torch_default = None     # torch's intra-op thread count before the first set_threads call (if imported)


def set_threads(n: int | None) -> None:
    """Cap BLAS and Numba (and torch, if imported) at `n` threads (n >= 1); None restores the defaults."""
    global _blas_limit, _numba_default
    import sys

    import numba
    from threadpoolctl import threadpool_limits

    if n is not None:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"set_threads: n must be a positive int or None, got {n!r}")
    if _numba_default is None:
        _numba_default = numba.get_num_threads()
    if _blas_limit is not None:  # undo the previous limit first: limits do not stack
        _blas_limit.restore_original_limits()
        _blas_limit = None
    if n is None:
        numba.set_num_threads(_numba_default)
    else:
        _blas_limit = threadpool_limits(limits=n, user_api="blas")
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))  # numba cannot exceed its pool
    torch = sys.modules.get("torch")       # last: numba's pool launch above may have reset OpenMP's count
    if torch is not None:
        _set_torch_threads(torch, n)


def _set_torch_threads(torch, n):
    """torch.set_num_threads(n), or back to the count it had before the first call when n is None."""
    global _torch_default
    if _torch_default is None:
        _torch_default = torch.get_num_threads()
    torch.set_num_threads(_torch_default if n is None else n)


def get_threads() -> dict:
    """Current thread counts: {"numba": int, "blas": [int per loaded BLAS library]} (for logs)."""
    import numba
    from threadpoolctl import threadpool_info

    return {"numba": numba.get_num_threads(),
            "blas": [d["num_threads"] for d in threadpool_info() if d.get("user_api") == "blas"]}


# --------------------------------------------------------------------------------------------------
# --threads auto: measure, keep the faster setting, measure again when things change
# --------------------------------------------------------------------------------------------------

def parse_threads(text):
    """Command-line value of --threads: "auto" or a positive int (ValueError otherwise)."""
    if str(text).strip().lower() == "auto":
        return "auto"
    try:
        n = int(text)
    except (TypeError, ValueError):
        raise ValueError(f"--threads must be 'auto' or a positive integer, got {text!r}") from None
    if n < 1:
        raise ValueError(f"--threads must be 'auto' or a positive integer, got {text!r}")
    return n


def _fast_setter():
    """A function n -> None that sets BLAS and Numba to n threads in microseconds.

    set_threads rescans the loaded libraries (threadpoolctl walks the process's shared objects: ~1 ms) so
    that a BLAS loaded later is capped too; AutoThreads switches within a training run, when nothing new
    is loaded, and a millisecond is half a fused FM step, so it scans once and then only sets the counts.
    """
    import numba
    from threadpoolctl import ThreadpoolController

    libs = ThreadpoolController().select(user_api="blas").lib_controllers
    top = numba.config.NUMBA_NUM_THREADS

    def use(n):
        for lib in libs:
            lib.set_num_threads(n)
        numba.set_num_threads(min(n, top))
    return use


def _matmul_screen(reps=3):
    """A function (threads) -> seconds: the fastest of `reps` timed products (512, 400) @ (400, 400) float32.

    A cheap stand-in for a training step when asking "has this thread count collapsed?": under load a
    2-thread BLAS waits for its descheduled thread at every product, small or large, so a product that
    takes ~2 ms at one thread takes several times longer at two, every time; the fastest of a few is
    kept, so that one product preempted by a burst of load (or the first, waking the pool) does not
    count as a collapse. Cost: ~10 ms on a quiet machine; ~0.1 s on a loaded one, where the 2-thread
    products are the collapsed ones (still less than one 2-thread DeepFM step there).
    The arrays come from their own generator: the training run's random streams are not touched.
    """
    import time

    import numpy as np
    rng = np.random.default_rng(12345)
    a = rng.standard_normal((512, 400), dtype=np.float32)
    b = rng.standard_normal((400, 400), dtype=np.float32)
    out = np.empty((512, 400), dtype=np.float32)

    def run(threads=None):                 # the pools are already at `threads`: the argument is for fakes
        times = []
        for _ in range(reps):
            t = time.perf_counter()
            np.matmul(a, b, out=out)
            times.append(time.perf_counter() - t)
        return min(times)
    return run


class AutoThreads:
    """Choose between 1 thread and all cores from the training steps' own times.

    Why: a 2-thread BLAS waits for its other thread at every synchronisation point; when another process
    keeps a core busy (even at nice 19) that thread is descheduled for whole time slices and a 2-thread
    step can run several times slower than a 1-thread one. Which is faster depends on the machine's load
    right now, so it is measured, not guessed. Times are per sample (seconds / batch), so a short last
    batch compares fairly.

        probe     each candidate in turn (1 first, then all cores): the first step after a switch is a
                  warm-up (not counted: the other pool's threads are still winding down or waking up),
                  then `probe_steps` steps, compared by their median. A candidate is abandoned early - a
                  probe of a bad setting costs one or two steps, not four - when its warm-up step is
                  already `give_up` times slower than the best so far, or when the median of its counted
                  steps so far is `lose` times slower (its median, not its fastest: the fastest of a few
                  noisy steps flatters it more the more steps it gets).
        screen    before a probe's first step, a few small matrix products are timed at every candidate
                  (_matmul_screen, ~10 ms in all, ~0.1 s under load); a candidate `give_up` times slower there than the
                  fastest is not stepped at all (never the one in use, never 1 thread), and the others are
                  stepped fastest first. On a loaded 2-core machine one step at 2 threads can cost five at 1, so this is
                  the probe's main saving; a candidate that passes is still judged by its real steps.
        run       keep the faster. The median of the last `window` steps is watched against a baseline:
                  the probe's median of the chosen setting until the first full window after the choice
                  (a warm-up step excluded), then that window's median (the probe's 3 steps are too few to
                  watch against for long). So a collapse that starts right after the choice is caught
                  when the first window fills, not taken as the new normal.
        re-probe  (a) the step time moved by more than `jump` (x or /) in the direction that could change
                  the choice: at 1 thread, faster (less load: more threads may pay now); at all cores,
                  slower (a neighbour arrived: fewer may pay), at least `min_gap` steps after the last
                  probe - or only a window after it when the slowdown is a collapse (`give_up` x: it costs
                  several steps per step, checking 1 thread one or two); (b) every `reprobe_every` steps. The setting in use is not probed again: its
                  recent median is its measurement (no switch, no warm-up); only the others are tried.
                  Hysteresis: another setting replaces it only if `margin` faster. Back-off: each
                  re-probe that keeps the setting doubles both intervals (up to `max_backoff` x), one
                  that switches resets them, so a stable choice costs less and less to confirm.

    Switching costs microseconds (_fast_setter), not the millisecond of set_threads.

    Reproducibility: BLAS results can depend on the thread count (a matmul split over two threads may
    add in another order; seen as 1e-16 differences in float64 DeepFM after one epoch, none in float32
    there), and auto's choices depend on the machine's load, so a run under auto is reproducible only up
    to that rounding. Bit-identical results (and bit-identical resume) need a fixed --threads.

    Use: `tuner = AutoThreads(); ...; tuner.observe(seconds, batch_size)` after every step; `tuner.threads`
    is the setting in use and `tuner.label` says it for a progress line ("auto:1", "auto:2 probing").
    `tuner.history` lists (step, event, threads): "chose", "kept", "screened out" and the re-probe triggers.
    Tests inject `setter` (n -> None) and `screen` (n -> seconds, or False: no screen) with made-up times.
    """

    def __init__(self, candidates=None, probe_steps=3, reprobe_every=500, window=16, jump=1.3, give_up=2.0,
                 lose=1.25, min_gap=50, margin=0.05, max_backoff=32, setter=None, screen=None):
        import os
        n = os.cpu_count() or 1
        self.candidates = tuple(candidates) if candidates else ((1, n) if n > 1 else (1,))
        self.probe_steps, self.reprobe_every, self.window = probe_steps, reprobe_every, window
        self.jump, self.give_up, self.lose, self.min_gap = jump, give_up, lose, min_gap
        self.margin, self.max_backoff = margin, max_backoff
        self._setter = setter              # n -> None; None: set_threads once, then _fast_setter()
        self._screen = screen              # n -> seconds, run with the pools at n; None: _matmul_screen(); False: none
        self.history = []                  # (step, event, threads) for logs and tests
        self.steps = 0
        self.threads = self.threads_before = None
        self.backoff = 1                   # the re-probe intervals are multiplied by this
        self._first = True
        self._start_probe(None)

    @property
    def label(self) -> str:
        return f"auto:{self.threads}" + (" probing" if self._probing else "")

    def _use(self, n):
        if n == self.threads:
            return
        if self._setter is None:           # the first call: the full path, which also records the defaults
            set_threads(n)
            self._setter = _fast_setter()
        else:
            self._setter(n)
        self.threads = n
        self._warm = True                  # the next step is a warm-up

    def _start_probe(self, current_median):
        self._probing, self._med = True, {}
        if current_median is not None:     # a re-probe: the setting in use is measured by its recent steps
            self._med[self.threads] = current_median
        self._queue = [c for c in self.candidates if c not in self._med]
        if self._screen is not False and len(self.candidates) > 1:
            self._screen_queue()
        self._next_candidate()

    def _screen_queue(self):
        """Time the screen at every candidate (the one in use first: no switch); drop from the queue the
        multi-thread ones `give_up` times slower than the fastest, step the rest fastest first.

        Never dropped: the setting in use (its recent steps measure it) and the fewest threads. The
        screen detects a pool that waits for descheduled threads; one thread waits for nobody, and a
        screen disturbed by a burst of load must not rule out the setting that is safe under load (one
        step there costs at most the cores' speed-up; a run stuck at 2 threads under load, 5x).
        """
        if self._screen is None:
            self._screen = _matmul_screen()
        order = ([self.threads] if self.threads in self.candidates else []) + \
            [c for c in self.candidates if c != self.threads]
        times = {}
        for c in order:
            self._use(c)
            times[c] = self._screen(c)
        fastest = min(times.values())
        for c in list(self._queue):
            if c != min(self.candidates) and times[c] > self.give_up * fastest:   # a real step would cost
                self._queue.remove(c)                                              # as many times more
                self._med[c] = math.inf
                self.history.append((self.steps, "screened out", c))
        self._queue.sort(key=times.get)
        if self._queue and self._queue[0] == self.threads and not self._first:
            self._warm = False             # the screen's products just ran on this pool: no warm-up step
                                           # (the run's very first step keeps one: it is cold anyway)

    def _next_candidate(self):
        if self._queue:
            self._use(self._queue.pop(0))
            self._samples = []
        else:
            self._choose()

    def _choose(self):
        best, cur = min(self._med, key=self._med.get), self.threads_before
        if not self._first and best != cur and not self._med[best] < (1 - self.margin) * self._med[cur]:
            best = cur                     # hysteresis: not faster by the margin, the one in use stays
        kept = not self._first and best == cur
        self.backoff = min(self.backoff * 2, self.max_backoff) if kept else 1
        self._use(best)
        self.history.append((self.steps, "kept" if kept else "chose", best))
        self._probing, self._first, self._since = False, False, 0
        self._base, self._recent = self._med[best], []   # the probe's figure, until a full window replaces it
        self._window_full = False

    def observe(self, seconds: float, batch: int) -> None:
        """Record one step of `batch` samples that took `seconds` (wall clock)."""
        self.steps += 1
        t = seconds / max(batch, 1)
        if self._warm:                     # the first step after a switch says little about the setting
            self._warm = False
            best = min(self._med.values(), default=None) if self._probing else None
            if best is not None and t > self.give_up * best:        # collapsed: not worth more steps
                self._med[self.threads] = t
                self._finish_candidate()
            return
        if self._probing:
            self._samples.append(t)
            best = min(self._med.values(), default=None)
            if len(self._samples) >= self.probe_steps or (best is not None and _median(self._samples) > self.lose * best):
                self._med[self.threads] = _median(self._samples)
                self._finish_candidate()
            return
        if len(self.candidates) == 1:      # nothing to choose between
            return
        self._since += 1
        self._recent.append(t)
        if len(self._recent) > self.window:
            self._recent.pop(0)
        if len(self._recent) < self.window:
            return
        now = _median(self._recent)
        slower, faster = now > self._base * self.jump, now < self._base / self.jump
        # slower at more threads by give_up (a collapse: a neighbour came) costs several times per step, and
        # checking costs a step or two at fewer threads, so a window suffices; any other move waits min_gap
        waited = self._since >= self.min_gap * self.backoff
        collapsed = now > self._base * self.give_up and self._since >= self.window * self.backoff
        moved = ((self.threads != min(self.candidates) and (collapsed or (slower and waited)))
                 or (self.threads != max(self.candidates) and faster and waited))
        if not self._window_full and not moved:  # the first full window after the choice, if it agrees
            self._window_full, self._base = True, now   # with the probe, is the baseline
            return
        if moved or self._since >= self.reprobe_every * self.backoff:
            self.history.append((self.steps, "step time moved" if moved else "periodic", self.threads))
            self.threads_before = self.threads
            self._start_probe(now)

    def _finish_candidate(self):
        self._next_candidate()


def _median(xs):
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])
