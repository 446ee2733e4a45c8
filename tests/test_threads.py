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


# ---- --threads auto: the controller, fed made-up step times (no timing in tests) --------------------

from deepfm_np.threads import AutoThreads, parse_threads  # noqa: E402


def feed(tuner, seconds_at, steps):
    """Run `steps` steps whose time depends on the setting in use: seconds_at[threads]."""
    for _ in range(steps):
        tuner.observe(seconds_at[tuner.threads], 100)


def test_auto_keeps_the_faster_setting_and_says_so():
    try:
        t = AutoThreads(candidates=(1, 2), probe_steps=3)
        assert t.threads == 1 and t.label == "auto:1 probing"
        feed(t, {1: 0.010, 2: 0.006}, 8)               # 1 warm-up + 3 at each
        assert t.threads == 2 and t.label == "auto:2"
        assert t.history == [(8, "chose", 2)]
        assert get_threads()["numba"] == min(2, numba.config.NUMBA_NUM_THREADS)
        feed(t, {1: 0.010, 2: 0.006}, 100)             # steady: no new probe
        assert len(t.history) == 1
    finally:
        set_threads(None)


def test_auto_gives_up_a_collapsed_setting_after_one_step_and_reprobes_on_a_jump():
    try:
        t = AutoThreads(candidates=(1, 2), probe_steps=3, window=4, jump=1.5, min_gap=0)
        feed(t, {1: 0.010, 2: 0.050}, 5)               # 4 steps at 1 thread, ONE at 2 (5x slower): given up
        assert t.threads == 1 and t.history == [(5, "chose", 1)]
        feed(t, {1: 0.030, 2: 0.012}, 4)               # the neighbour left the 2nd core, 1 thread got slower
        assert t.history[-1] == (9, "step time moved", 1) and t.label.endswith("probing")
        feed(t, {1: 0.030, 2: 0.012}, 8)              # probes the setting in use (1) first, then 2
        assert t.threads == 2 and t.history[-1][1:] == ("chose", 2)
    finally:
        set_threads(None)


def test_auto_probes_again_periodically():
    try:
        t = AutoThreads(candidates=(1, 2), probe_steps=2, reprobe_every=50)
        feed(t, {1: 0.01, 2: 0.02}, 6 + 50)
        assert [h[1] for h in t.history] == ["chose", "periodic"]
    finally:
        set_threads(None)


def test_auto_ignores_a_jump_right_after_a_probe():
    try:
        t = AutoThreads(candidates=(1, 2), probe_steps=3, window=4, min_gap=20)
        feed(t, {1: 0.010, 2: 0.050}, 5)
        feed(t, {1: 0.030, 2: 0.050}, 19)             # moved, but within min_gap of the probe
        assert len(t.history) == 1
        feed(t, {1: 0.030, 2: 0.050}, 1)
        assert t.history[-1] == (25, "step time moved", 1)
    finally:
        set_threads(None)


@pytest.mark.parametrize("text, want", [("auto", "auto"), ("AUTO", "auto"), ("1", 1), ("4", 4)])
def test_parse_threads(text, want):
    assert parse_threads(text) == want


@pytest.mark.parametrize("bad", ["0", "-2", "two", "1.5", ""])
def test_parse_threads_rejects(bad):
    with pytest.raises(ValueError, match="'auto' or a positive integer"):
        parse_threads(bad)


def test_train_with_threads_auto_runs_and_ends_on_a_candidate():
    import numpy as np
    from deepfm_np.data.dataset import ArrayDataset
    from deepfm_np.experiments.synthetic import make_synthetic
    from deepfm_np.models.registry import build_model
    from deepfm_np.train import TrainConfig, train
    try:
        data = ArrayDataset.from_data(make_synthetic(600, seed=0))
        model = build_model("deepfm", data.layout, embed_dim=4, hidden=(8,), seed=0)
        res = train(model, data, None, TrainConfig(epochs=1, batch_size=32, progress=False, threads="auto"))
        assert res.samples_seen == 600 and np.isfinite(res.history[-1]["train_loss"])
        assert get_threads()["numba"] in (1, min(2, numba.config.NUMBA_NUM_THREADS), numba.config.NUMBA_NUM_THREADS)
    finally:
        set_threads(None)
