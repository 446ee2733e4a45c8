"""kernels/prefetch.py: a hint only. A kernel that prefetches reads exactly what it would without."""
import numpy as np
import pytest
from numba import njit

from deepfm_np.kernels.prefetch import prefetch


@njit
def _sum_rows_prefetching(a, rows):
    """sum_n a[rows[n], :], prefetching the row two ahead (as the FM kernels do)."""
    t = 0.0
    for n in range(rows.shape[0]):
        if n + 2 < rows.shape[0]:
            prefetch(a, rows[n + 2], 0)
            prefetch(a, rows[n + 2], a.shape[1] - 1)
        for k in range(a.shape[1]):
            t += a[rows[n], k]
    return t


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_prefetch_changes_no_value(dtype):
    rng = np.random.default_rng(0)
    a = (rng.standard_normal((50, 7)) * 10).astype(dtype)
    rows = rng.integers(0, 50, 200)
    want = float(np.sum(a[rows].astype(np.float64)))
    assert _sum_rows_prefetching(a, rows) == pytest.approx(want, rel=1e-12)
    view = a[::2, 1:]                                   # a strided, non-contiguous view
    r2 = rows % view.shape[0]
    assert _sum_rows_prefetching(view, r2) == pytest.approx(float(np.sum(view[r2].astype(np.float64))), rel=1e-12)


def test_prefetch_refuses_what_it_cannot_address():
    @njit
    def one_d(a):
        prefetch(a, 0, 0)

    with pytest.raises(Exception, match="prefetch"):
        one_d(np.zeros(3))


def test_prefetch_compiles_to_the_instruction():
    a = np.zeros((3, 4))
    _sum_rows_prefetching(a, np.zeros(3, dtype=np.int64))
    asm = _sum_rows_prefetching.inspect_asm(_sum_rows_prefetching.signatures[0]).lower()
    assert "prefetch" in asm or "prfm" in asm                         # x86 PREFETCHT0, ARM PRFM
