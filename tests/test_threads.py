"""set_threads caps Numba (and BLAS) and None restores the defaults."""
import numba
import pytest

from deepfm_np.threads import get_threads, set_threads


def test_set_threads_and_restore():
    default = numba.config.NUMBA_NUM_THREADS         # what None restores (an earlier test may have capped it)
    try:
        set_threads(1)
        info = get_threads()
        assert info["numba"] == 1
        assert all(n == 1 for n in info["blas"])
        set_threads(2)  # a second call replaces the first limit instead of stacking on it
        assert get_threads()["numba"] == min(2, numba.config.NUMBA_NUM_THREADS)
    finally:
        set_threads(None)
    assert numba.get_num_threads() == default


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_set_threads_rejects_bad_values(bad):
    with pytest.raises(ValueError, match="positive int or None"):
        set_threads(bad)
