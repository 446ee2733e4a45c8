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


def test_set_threads_caps_an_imported_torch_and_restores_it():
    """Numba's OpenMP pool launch used to reset torch's thread count (shared libgomp): 1 became 2."""
    pytest.importorskip("torch", reason="torch is an optional extra")
    import subprocess
    import sys
    script = ("import torch; torch.set_num_threads(1); from deepfm_np.threads import set_threads;"
              "set_threads(2); a = torch.get_num_threads(); set_threads(1); b = torch.get_num_threads();"
              "set_threads(None); print(a, b, torch.get_num_threads())")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["2", "1", "1"]          # capped at n, then back to the caller's own 1


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


class Recorder:
    """A stand-in thread setter: records the switches instead of touching the real pools."""

    def __init__(self):
        self.calls = []

    def __call__(self, n):
        self.calls.append(n)


def tuner(**kw):
    kw.setdefault("candidates", (1, 2))
    kw.setdefault("screen", False)
    return AutoThreads(setter=Recorder(), **kw)


def test_auto_screens_out_a_collapsed_setting_without_stepping_it():
    cost = {1: 0.002, 2: 0.009}                        # the screen's product at each setting (made up)
    t = tuner(probe_steps=3, give_up=2.0, window=4, screen=lambda n: cost[n])
    assert t.history == [(0, "screened out", 2)] and t._setter.calls == [1, 2, 1]
    feed(t, {1: 0.010, 2: 0.050}, 4)                   # warm-up + 3 at 1; 2 was never stepped
    assert t.history[-1] == (4, "chose", 1) and t.threads == 1 and not t._probing
    feed(t, {1: 0.010, 2: 0.050}, 4)
    assert t._base == 0.010 / 100                      # no switch at the choice: no warm-up step lost


def test_auto_steps_the_screen_faster_setting_first():
    cost = {1: 0.002, 2: 0.0012}
    t = tuner(probe_steps=3, screen=lambda n: cost[n])
    assert t._setter.calls == [1, 2] and t.threads == 2   # screened at 1 and 2, stays at 2 to step it
    feed(t, {1: 0.010, 2: 0.006}, 6)                   # warm-up + 3 at 2; then at 1 (1.7x): its warm-up (under
    assert t.history == [(6, "chose", 2)] and t._setter.calls == [1, 2, 1, 2]   # give_up), 1 step (over lose)


def test_auto_never_screens_out_one_thread():
    cost = {1: 0.009, 2: 0.002}                        # a burst of load during 1 thread's screen
    t = tuner(probe_steps=3, screen=lambda n: cost[n])
    assert t.history == [] and t.threads == 2          # 2 is stepped first, then 1 all the same
    feed(t, {1: 0.004, 2: 0.020}, 4 + 4)
    assert t.history[-1] == (8, "chose", 1)


def test_auto_reprobe_screens_the_other_settings_and_keeps_the_one_in_use_in_play():
    cost = {1: 0.002, 2: 0.009, 4: 0.009}              # on the screen, 2 and 4 threads look collapsed
    t = tuner(candidates=(1, 2, 4), probe_steps=3, window=4, reprobe_every=10)
    feed(t, {1: 0.010, 2: 0.008, 4: 0.004}, 12)        # no screen yet: 1, 2, 4 stepped; 4 chosen at step 12
    assert t.history == [(12, "chose", 4)]
    t._screen = lambda n: cost[n]                      # from now on
    feed(t, {1: 0.010, 2: 0.008, 4: 0.004}, 10)        # periodic re-probe: 2 dropped, 4 (in use) is not
    assert [h[1:] for h in t.history] == [("chose", 4), ("periodic", 4), ("screened out", 2)]
    assert t._med == {4: 0.004 / 100, 2: float("inf")} and t.threads == 1   # 1 is stepped next
    feed(t, {1: 0.010, 2: 0.008, 4: 0.004}, 1)         # its warm-up step, 2.5x slower: given up
    assert t.history[-1] == (23, "kept", 4) and t.threads == 4


def test_auto_keeps_the_faster_setting_and_says_so():
    t = tuner(probe_steps=3)
    assert t.threads == 1 and t.label == "auto:1 probing"
    feed(t, {1: 0.010, 2: 0.006}, 8)                   # 1 warm-up + 3 at each
    assert t.threads == 2 and t.label == "auto:2"
    assert t.history == [(8, "chose", 2)] and t._setter.calls == [1, 2]
    feed(t, {1: 0.010, 2: 0.006}, 400)                 # steady: no new probe before reprobe_every
    assert len(t.history) == 1


def test_auto_switches_the_real_thread_pools():
    try:
        t = AutoThreads(candidates=(1, 2), probe_steps=2, screen=False)   # the real pools, made-up times
        feed(t, {1: 0.010, 2: 0.006}, 6)
        assert t.threads == 2
        assert get_threads()["numba"] == min(2, numba.config.NUMBA_NUM_THREADS)
        assert all(n == 2 for n in get_threads()["blas"])
        t._use(1)                                      # the fast path, after the first full set_threads
        assert get_threads()["numba"] == 1 and all(n == 1 for n in get_threads()["blas"])
    finally:
        set_threads(None)


def test_auto_gives_up_a_collapsed_setting_after_its_warm_up_step():
    t = tuner(probe_steps=3)
    feed(t, {1: 0.010, 2: 0.050}, 5)                   # 4 steps at 1 thread, ONE at 2 (5x slower): given up
    assert t.threads == 1 and t.history == [(5, "chose", 1)]


def test_auto_gives_up_a_slower_setting_after_one_counted_step():
    t = tuner(probe_steps=3, give_up=2.0, lose=1.25)
    feed(t, {1: 0.010, 2: 0.014}, 6)                   # 1.4x: past the warm-up, but its fastest step is too slow
    assert t.threads == 1 and t.history == [(6, "chose", 1)]


def test_auto_baseline_skips_the_warm_up_step_after_switching_back():
    t = tuner(probe_steps=3, window=4)
    feed(t, {1: 0.010, 2: 0.050}, 5)                   # chose 1: switched back from 2
    t.observe(1.0, 100)                                # the warm-up step at 1 is slow: not in the baseline
    feed(t, {1: 0.010, 2: 0.050}, 4)
    assert t._base == 0.010 / 100


def test_auto_reprobes_on_a_jump_only_in_the_direction_that_can_change_the_choice():
    t = tuner(probe_steps=3, window=4, jump=1.5, min_gap=0)
    feed(t, {1: 0.010, 2: 0.050}, 5 + 1 + 4)           # chose 1; warm-up; the baseline window
    feed(t, {1: 0.030, 2: 0.050}, 50)                  # 1 thread got slower: 2 threads will not pay more
    assert len(t.history) == 1
    feed(t, {1: 0.004, 2: 0.002}, 3)                   # faster: the load went away, 2 threads may pay now
    assert t.history[-1] == (63, "step time moved", 1) and t.label == "auto:2 probing"   # 3 of 4 moved the median
    feed(t, {1: 0.004, 2: 0.002}, 4)                   # only 2 is probed (1 is measured by its recent steps)
    assert t.threads == 2 and t.history[-1] == (67, "chose", 2)
    feed(t, {1: 0.004, 2: 0.001}, 4 + 50)              # at all cores, faster steps say nothing
    assert len(t.history) == 3
    feed(t, {1: 0.004, 2: 0.009}, 2)                   # slower at all cores: a neighbour came
    assert t.history[-1] == (123, "step time moved", 2)


def test_auto_keeps_the_setting_in_use_unless_the_other_is_faster_by_the_margin():
    t = tuner(probe_steps=3, window=4, reprobe_every=20, margin=0.05)
    feed(t, {1: 0.010, 2: 0.050}, 5)                   # chose 1
    feed(t, {1: 0.010, 2: 0.0098}, 1 + 20 + 4)         # periodic re-probe: 2 only 2% faster
    assert [h[1:] for h in t.history] == [("chose", 1), ("periodic", 1), ("kept", 1)]
    assert t.threads == 1


def test_auto_backs_off_while_the_choice_is_stable_and_resets_on_a_switch():
    t = tuner(probe_steps=3, window=4, reprobe_every=20, max_backoff=4)
    feed(t, {1: 0.010, 2: 0.050}, 5)
    feed(t, {1: 0.010, 2: 0.050}, 300)
    probes = [s for s, e, _ in t.history if e == "periodic"]
    gaps = [b - a for a, b in zip(probes, probes[1:])]
    # each re-probe that keeps 1 thread doubles the interval (20, 40, 80, then capped at 4x = 80);
    # a re-probe costs its one step at the other setting (the warm-up, given up) + the warm-up back
    assert gaps[:3] == [40 + 1 + 1, 80 + 1 + 1, 80 + 1 + 1] and t.backoff == 4
    for _ in range(100):                               # 2 threads became faster: found at the next probe
        feed(t, {1: 0.010, 2: 0.004}, 1)
        if t.threads == 2 and not t._probing:
            break
    assert t.history[-1][1:] == ("chose", 2) and t.backoff == 1


def test_auto_catches_a_collapse_that_starts_right_after_the_choice():
    t = tuner(probe_steps=3, window=4)
    feed(t, {1: 0.010, 2: 0.006}, 8)                   # chose 2 at step 8
    feed(t, {1: 0.010, 2: 0.030}, 4)                   # a neighbour comes at once: the first window is 5x slower
    assert t.history[-1] == (12, "step time moved", 2)   # than the probe said: not taken as the new baseline
    feed(t, {1: 0.010, 2: 0.030}, 4)                   # 1 thread: its warm-up + 3 steps
    assert t.history[-1] == (16, "chose", 1)


def test_auto_ignores_a_jump_right_after_a_probe():
    t = tuner(probe_steps=3, window=4, jump=1.5, min_gap=20)
    feed(t, {1: 0.010, 2: 0.050}, 5)                   # chose 1 at step 5, switching back from 2
    feed(t, {1: 0.010, 2: 0.050}, 1 + 4)               # its warm-up, then the baseline window
    feed(t, {1: 0.004, 2: 0.050}, 15)                  # moved (faster), but within min_gap of the probe
    assert len(t.history) == 1
    feed(t, {1: 0.004, 2: 0.050}, 1)                   # the 20th counted step after the choice
    assert t.history[-1] == (26, "step time moved", 1)


def test_auto_with_one_candidate_never_probes_again():
    t = tuner(candidates=(1,), reprobe_every=10)
    feed(t, {1: 0.01}, 200)
    assert t.threads == 1 and t.history == [(4, "chose", 1)]


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


def test_matmul_screen_times_a_product_without_touching_the_global_random_state():
    import math

    import numpy as np
    from deepfm_np.threads import _matmul_screen
    state = np.random.get_state()[1].copy()
    seconds = _matmul_screen(reps=2)(1)
    assert math.isfinite(seconds) and seconds > 0
    assert np.array_equal(np.random.get_state()[1], state)
