"""Every lesson grader PASSes the worked solution, FAILs a known-wrong version, and reports a stub as not done."""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "notebooks"))

import graders  # noqa: E402
from solutions import lesson01, lesson02, lesson03, lesson04  # noqa: E402

from deepfm_np.losses import bce_with_logits  # noqa: E402
from deepfm_np.models.registry import build_model  # noqa: E402
from deepfm_np.experiments.synthetic import make_world  # noqa: E402
from deepfm_np.sparse import SparseGrad  # noqa: E402


def stub(*args, **kwargs):
    raise NotImplementedError


# known-wrong versions: each is a plausible mistake
def fm_backward_forgets_self(dy, cache):               # S_f instead of S_f - e_{i,f}
    E, S = cache
    return dy[:, None, None] * np.broadcast_to(S[:, None, :], E.shape)


def fm_forward_all_pairs(E):                           # counts i == j and both orders: no 0.5, no diagonal
    y, cache = lesson01.fm_pair_forward(E)
    return (E.sum(axis=1) ** 2).sum(axis=1), cache


def dense_db_mean(dout, cache):                        # db averaged instead of summed over the batch
    dx, dW, db = lesson02.dense_backward(dout, cache)
    return dx, dW, dout.mean(axis=0)


def dense_dW_transposed(dout, cache):                  # dW = dout^T x has the wrong shape unless square
    x, W = cache
    dx, dW, db = lesson02.dense_backward(dout, cache)
    return dx, (dout.T @ x).T * 0.5 + dW * 0.5 + 1e-3, db


def add_sparse_no_merge(a, b):                          # concatenates: a row in both parts appears twice
    return SparseGrad(np.concatenate([a.rows, b.rows]), np.concatenate([a.values, b.values]))


def add_sparse_last_wins(a, b):                         # a fancy assignment keeps only one part per row
    rows = np.union1d(a.rows, b.rows)
    out = np.zeros((rows.size,) + a.values.shape[1:])
    out[np.searchsorted(rows, a.rows)] = a.values
    out[np.searchsorted(rows, b.rows)] = b.values
    return SparseGrad(rows, out)


def adam_global_step(table, m, v, count, rows, g, lr, beta1, beta2, eps):   # bias-corrects with the global step
    count[rows] += 1
    t = count.max()
    m[rows] = beta1 * m[rows] + (1 - beta1) * g
    v[rows] = beta2 * v[rows] + (1 - beta2) * g * g
    table[rows] -= lr * (m[rows] / (1 - beta1 ** t)) / (np.sqrt(v[rows] / (1 - beta2 ** t)) + eps)


def adam_dense_decay(table, m, v, count, rows, g, lr, beta1, beta2, eps):   # decays every row's moments
    m *= beta1
    v *= beta2
    m[rows] += (1 - beta1) * g
    v[rows] += (1 - beta2) * g * g
    count += 1
    c = count[:, None].astype(float)
    table -= lr * (m / (1 - beta1 ** c)) / (np.sqrt(v / (1 - beta2 ** c)) + eps)


@pytest.fixture(scope="module")
def deepfm_batch():
    world = make_world(0, n_numeric=0, n_categorical=6, vocab_range=(10, 60), pair_max_vocab=60,
                       triple_max_vocab=60, n_triples=2)
    d = world.sample(64, np.random.default_rng(0))
    model = build_model("deepfm", world.layout, seed=0, dtype=np.float64, embed_dim=4, hidden=(8,))
    _, dlogits = bce_with_logits(model.forward(d.idx, d.val, train=True, rng=np.random.default_rng(0)), d.y)
    grads = model.backward(dlogits)
    return model.embedding_grad_parts(), grads


GRADED = {
    "fm_pair": (lambda f, b: graders.grade_fm_pair(f, b),
                (lesson01.fm_pair_forward, lesson01.fm_pair_backward),
                [(lesson01.fm_pair_forward, fm_backward_forgets_self), (fm_forward_all_pairs, lesson01.fm_pair_backward)],
                (stub, stub)),
    "dense": (graders.grade_dense_backward, (lesson02.dense_backward,),
              [(dense_db_mean,), (dense_dW_transposed,)], (stub,)),
    "add_sparse": (graders.grade_add_sparse, (lesson03.add_sparse,),
                   [(add_sparse_no_merge,), (add_sparse_last_wins,)], (stub,)),
    "lazy_adam": (graders.grade_lazy_adam, (lesson04.lazy_adam_update,),
                  [(adam_global_step,), (adam_dense_decay,)], (stub,)),
}


@pytest.mark.parametrize("name", GRADED)
def test_grader_passes_solution(name, capsys):
    grade, solution, _, _ = GRADED[name]
    assert grade(*solution) is True
    assert "PASS" in capsys.readouterr().out


@pytest.mark.parametrize("name", GRADED)
def test_grader_rejects_wrong_versions(name, capsys):
    grade, _, wrongs, _ = GRADED[name]
    for wrong in wrongs:
        assert grade(*wrong) is False, wrong
        assert "FAIL" in capsys.readouterr().out


@pytest.mark.parametrize("name", GRADED)
def test_grader_reports_stub_without_raising(name, capsys):
    grade, _, _, stubs = GRADED[name]
    assert grade(*stubs) is None
    assert "not implemented yet" in capsys.readouterr().out


def test_add_sparse_grader_on_a_real_deepfm_batch(deepfm_batch, capsys):
    assert graders.grade_add_sparse(lesson03.add_sparse, deepfm_batch) is True
    assert "grads['V']" in capsys.readouterr().out
    assert graders.grade_add_sparse(add_sparse_no_merge, deepfm_batch) is False


def test_crashing_answer_is_a_fail_not_a_traceback(capsys):
    def crash(dout, cache):
        return cache[5]
    assert graders.grade_dense_backward(crash) is False
    assert "raised IndexError" in capsys.readouterr().out
