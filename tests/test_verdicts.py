"""experiments/verdicts.py: the Hanley-McNeil standard error and the generated comparative sentences."""
import numpy as np

from deepfm_np.experiments.verdicts import auc_se, difference, sentence
from deepfm_np.metrics import auc


def test_auc_se_matches_the_spread_of_auc_over_test_sets():
    rng = np.random.default_rng(0)
    n_pos, n_neg, aucs = 300, 700, []
    for _ in range(400):                              # scores: positives shifted by 1 sd -> AUC ~0.76
        s = np.concatenate([rng.standard_normal(n_pos) + 1.0, rng.standard_normal(n_neg)])
        y = np.concatenate([np.ones(n_pos), np.zeros(n_neg)])
        aucs.append(auc(y, s))
    se = auc_se(float(np.mean(aucs)), n_pos, n_neg)
    assert 0.8 < np.std(aucs) / se < 1.2, (np.std(aucs), se)
    assert auc_se(0.7, 4000, 4000) < auc_se(0.7, 1000, 1000)


def test_difference_and_sentence():
    d = difference(0.75, 0.001, 0.70, 0.001, 3, 5000, 15000)
    assert d["resolved"] and abs(d["diff"] - 0.05) < 1e-12
    assert "FM is better, resolved" in sentence("FM", "LR", d)
    e = difference(0.701, 0.004, 0.700, 0.004, 2)
    assert not e["resolved"] and abs(e["noise"] - 2 * np.sqrt(2 * 0.004 ** 2 / 2)) < 1e-12
    assert "not resolved at this size" in sentence("FM", "LR", e)
    assert "LR is better" in sentence("FM", "LR", difference(0.6, 0.0, 0.7, 0.0, 1, 1000, 1000))


def test_ordering_states_only_resolved_pairs():
    from deepfm_np.experiments.verdicts import ordering
    items = [{"name": "LR", "mean": 0.70, "sd": 0.001, "n": 3, "se": 0.003},
             {"name": "FM", "mean": 0.74, "sd": 0.004, "n": 3, "se": 0.003},
             {"name": "DeepFM", "mean": 0.742, "sd": 0.001, "n": 3, "se": 0.003}]
    o = {x["name"]: x for x in ordering(items)}
    assert [x["name"] for x in ordering(items)] == ["DeepFM", "FM", "LR"]
    assert o["DeepFM"]["above"] == ["LR"] and o["DeepFM"]["unresolved"] == ["FM"]    # 0.002 < its noise
    assert o["FM"]["tied_with_best"] and not o["LR"]["tied_with_best"]
    assert o["LR"]["below"] == ["DeepFM", "FM"] and o["LR"]["above"] == []
    # lower is better (log loss): the smallest mean first; without se only seed noise counts
    ll = ordering([{"name": "a", "mean": 0.50, "sd": 0.0, "n": 1, "se": None},
                   {"name": "b", "mean": 0.49, "sd": 0.0, "n": 1, "se": None}], higher_is_better=False)
    assert ll[0]["name"] == "b" and ll[0]["above"] == ["a"]
