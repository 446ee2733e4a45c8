"""Tests for metrics.py: AUC against a brute-force pair count, log loss against a hand computation."""
import numpy as np
import pytest

from deepfm_np.metrics import auc, average_ranks, logloss


def auc_pairs(y, s):
    """O(N^2) reference: share of (positive, negative) pairs ordered correctly, ties half."""
    y = np.asarray(y)
    s = np.asarray(s, dtype=np.float64)
    pos, neg = s[y == 1], s[y == 0]
    d = pos[:, None] - neg[None, :]
    return ((d > 0).sum() + 0.5 * (d == 0).sum()) / d.size


@pytest.mark.parametrize("seed", range(40))
def test_auc_matches_pair_count_with_ties(seed):
    rng = np.random.default_rng(seed)
    N = int(rng.integers(2, 300))
    y = rng.integers(0, 2, N)
    y[0], y[1] = 0, 1                                   # both classes present
    # Few distinct score levels on half the cases, so ties are common.
    levels = int(rng.integers(1, 6)) if seed % 2 else N
    s = rng.integers(0, levels, N).astype(np.float64) + (0 if seed % 2 else rng.random(N))
    assert auc(y, s) == pytest.approx(auc_pairs(y, s), abs=1e-12)


def test_all_scores_equal_is_half():
    y = np.array([0, 1, 1, 0, 1])
    assert auc(y, np.full(5, 0.3)) == 0.5


def test_perfect_and_inverted_ranking():
    y = np.array([0, 0, 1, 0, 1, 1], dtype=np.float32)
    s = np.array([0.1, 0.2, 0.9, 0.3, 0.8, 0.7])
    assert auc(y, s) == 1.0
    assert auc(y, -s) == 0.0


def test_hand_example():
    # positives score 0.5, 0.8; negatives 0.5, 0.2 -> pairs: (0.5,0.5) tie, (0.5,0.2) win,
    # (0.8,0.5) win, (0.8,0.2) win -> (3 + 0.5) / 4
    assert auc([1, 1, 0, 0], [0.5, 0.8, 0.5, 0.2]) == 3.5 / 4


def test_invariant_to_monotone_transforms():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 500)
    z = np.round(rng.normal(size=500), 1)                # rounded: has ties
    a = auc(y, z)
    assert auc(y, 1 / (1 + np.exp(-z))) == a
    assert auc(y, 3 * z + 7) == a
    assert auc(y, np.exp(z)) == a
    assert auc(y, z.astype(np.float32)) == a


def test_average_ranks():
    np.testing.assert_array_equal(average_ranks(np.array([3.0, 1.0, 3.0, 2.0, 3.0])),
                                  [4.0, 1.0, 4.0, 2.0, 4.0])
    np.testing.assert_array_equal(average_ranks(np.array([5.0])), [1.0])


@pytest.mark.parametrize("y, s, msg", [
    ([1, 1, 1], [0.1, 0.2, 0.3], "no negative"),
    ([0, 0], [0.1, 0.2], "no positive"),
    ([0, 1], [0.1, 0.2, 0.3], "2 rows but score has 3"),
    ([0, 2], [0.1, 0.2], "labels must be 0 or 1"),
    ([0, 0.5], [0.1, 0.2], "labels must be 0 or 1"),
    ([0, 1], [0.1, np.nan], "score\\[1\\] is NaN"),
    ([], [], "empty"),
])
def test_auc_errors(y, s, msg):
    with pytest.raises(ValueError, match=msg):
        auc(np.array(y), np.array(s))


def test_logloss_hand_computation():
    y = np.array([1, 0, 1, 0])
    p = np.array([0.9, 0.2, 0.4, 0.5])
    expected = -(np.log(0.9) + np.log(0.8) + np.log(0.4) + np.log(0.5)) / 4
    assert logloss(y, p) == pytest.approx(expected, rel=1e-14)


def test_logloss_clips_certain_mistakes():
    # 1 - 1e-12 is not exact in float64, so the second term is log1p(-(1 - 1e-12)), not log(1e-12).
    expected = -(np.log(1e-12) + np.log1p(-(1 - 1e-12))) / 2
    assert logloss([1, 0], [0.0, 1.0], eps=1e-12) == pytest.approx(expected, rel=1e-12)
    assert logloss([1, 0], [1.0, 0.0]) == pytest.approx(0.0, abs=1e-11)


def test_logloss_errors():
    with pytest.raises(ValueError, match="probability"):
        logloss([1, 0], [1.5, 0.2])
    with pytest.raises(ValueError, match="labels must be 0 or 1"):
        logloss([1, -1], [0.5, 0.2])
    with pytest.raises(ValueError, match="NaN"):
        logloss([1, 0], [np.nan, 0.2])
