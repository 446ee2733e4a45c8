"""How many threads the numeric libraries may use.

Two thread pools do the work in deepfm_np:
- the BLAS behind NumPy's matmul (OpenBLAS or MKL), used by the dense layers;
- Numba's, used only by kernels compiled with parallel=True (the kernels in deepfm_np.kernels are
  serial on purpose, but a caller's own parallel kernels would use it).

`set_threads(n)` caps both at n. This matters on a small shared machine (two processes each starting
one BLAS thread per core oversubscribe it) and for benchmarks, which must say how many threads they used.
`set_threads(None)` keeps (or restores) the libraries' own defaults.

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
