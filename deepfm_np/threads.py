"""How many threads the numeric libraries may use.

Two thread pools do the work in deepfm_np:
- the BLAS behind NumPy's matmul (OpenBLAS or MKL), used by the dense layers;
- Numba's, used only by kernels compiled with parallel=True (the kernels in deepfm_np.kernels are
  serial on purpose, but a caller's own parallel kernels would use it).

`set_threads(n)` caps both at n. This matters on a small shared machine (two processes each starting
one BLAS thread per core oversubscribe it) and for benchmarks, which must say how many threads they used.
`set_threads(None)` keeps (or restores) the libraries' own defaults. `AutoThreads` (the training loop's
`--threads auto`) switches between 1 thread and all cores by timing the steps themselves.

The BLAS limit is a threadpoolctl context that must stay alive for the limit to hold, so the module keeps
it in a global and undoes it before setting a new one.
"""
from __future__ import annotations

_blas_limit = None        # the live threadpoolctl.threadpool_limits object, or None
_numba_default = None     # numba's thread count before the first set_threads call


def set_threads(n: int | None) -> None:
    """Cap BLAS and Numba at `n` threads (n >= 1); None restores the defaults."""
    global _blas_limit, _numba_default
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
        return
    _blas_limit = threadpool_limits(limits=n, user_api="blas")
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))  # numba cannot exceed its pool


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


class AutoThreads:
    """Choose between 1 thread and all cores from the training steps' own times.

    Why: a 2-thread BLAS waits for its other thread at every synchronisation point; when another process
    keeps a core busy (even at nice 19) that thread is descheduled for whole time slices and a 2-thread
    step can run several times slower than a 1-thread one. Which is faster depends on the machine's load
    right now, so it is measured, not guessed:

        probe     run a few steps at each candidate (1, then all cores), the first after a switch as a
                  warm-up; the step time per sample is compared by its median. A candidate whose warm-up
                  step is already `give_up` times slower than the best so far is abandoned at once (a
                  probe of a collapsed setting costs one step, not several).
        run       keep the faster; after `reprobe_every` steps, or when the median of the last `window`
                  steps moves by more than `jump` (x or /) from the probe's (at least `min_gap` steps after
                  the last probe, so that a noisy machine does not keep it probing), probe again, starting
                  with the setting in use (no switch, no warm-up cost).

    Use: `tuner = AutoThreads(); ...; tuner.observe(seconds, batch_size)` after every step; `tuner.threads`
    is the setting in use and `tuner.label` says it for a progress line ("auto:1", "auto:2 probing").
    """

    def __init__(self, candidates=None, probe_steps=3, reprobe_every=2000, window=8, jump=1.5, give_up=2.0,
                 min_gap=100):
        import os
        n = os.cpu_count() or 1
        self.candidates = tuple(candidates) if candidates else ((1, n) if n > 1 else (1,))
        self.probe_steps, self.reprobe_every, self.window = probe_steps, reprobe_every, window
        self.jump, self.give_up, self.min_gap = jump, give_up, min_gap
        self.history = []                  # (step, event, threads) for logs and tests
        self.steps = 0
        self.threads = None
        self._start_probe()

    @property
    def label(self) -> str:
        return f"auto:{self.threads}" + (" probing" if self._probing else "")

    def _use(self, n):
        if n != self.threads:
            set_threads(n)
            self.threads = n

    def _start_probe(self):
        first = [self.threads] if self.threads in self.candidates else []
        self._probing, self._queue, self._med = True, first + [c for c in self.candidates if c not in first], {}
        self._next_candidate()

    def _next_candidate(self):
        self._use(self._queue.pop(0))
        self._samples, self._warm = [], True

    def _choose(self):
        best = min(self._med, key=self._med.get)
        self._use(best)
        self._probing, self._base, self._recent, self._since = False, self._med[best], [], 0
        self.history.append((self.steps, "chose", best))

    def observe(self, seconds: float, batch: int) -> None:
        """Record one step of `batch` samples that took `seconds` (wall clock)."""
        import statistics
        self.steps += 1
        t = seconds / max(batch, 1)
        if self._probing:
            best = min(self._med.values(), default=None)
            if self._warm:
                self._warm = False
                if best is not None and t > self.give_up * best:    # collapsed: not worth more steps
                    self._med[self.threads] = t
                    self._finish_candidate()
                return
            self._samples.append(t)
            if len(self._samples) >= self.probe_steps:
                self._med[self.threads] = statistics.median(self._samples)
                self._finish_candidate()
            return
        self._since += 1
        self._recent.append(t)
        if len(self._recent) > self.window:
            self._recent.pop(0)
        moved = (len(self._recent) == self.window and self._since >= self.min_gap
                 and not (self._base / self.jump <= statistics.median(self._recent) <= self._base * self.jump))
        if moved or self._since >= self.reprobe_every:
            self.history.append((self.steps, "step time moved" if moved else "periodic", self.threads))
            self._start_probe()

    def _finish_candidate(self):
        if self._queue:
            self._next_candidate()
        else:
            self._choose()
