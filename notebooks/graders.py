"""Graders of the lessons' implement-it exercises (lessons 01-04).

Each grade_* function takes the learner's function(s), runs the library's own check on them (a
finite-difference gradient check from deepfm_np.gradcheck, or a twin test against the library's
implementation) and prints one line:

    PASS - what was checked           the function is right on every case
    FAIL - what went wrong            with the first failing case
    not implemented yet               the stub still raises NotImplementedError

and returns True, False or None respectively. A stub never makes a notebook run fail: that is how
the committed lessons (stubs in place) run in CI, while tests/test_exercises.py runs every grader
against the worked solutions in notebooks/solutions/ (must PASS) and against a known-wrong version
of each (must FAIL), so a grader cannot silently accept a wrong answer.
"""
from __future__ import annotations

import numpy as np

from deepfm_np.gradcheck.core import THRESHOLD, check_layer
from deepfm_np.kernels import rows as kn
from deepfm_np.layers import dense_forward, fm_pairs_naive
from deepfm_np.sparse import SparseGrad


def _report(title, check):
    try:
        ok, detail = check()
    except NotImplementedError:
        print(f"{title}: not implemented yet - fill in the function above and run this cell again")
        return None
    except Exception as e:                                   # the learner's code crashed: say how, do not raise
        ok, detail = False, f"your function raised {type(e).__name__}: {e}"
    print(f"{title}: {'PASS' if ok else 'FAIL'} - {detail}")
    return bool(ok)


def _gradcheck(name, forward, backward, inputs, wrt):
    for r in check_layer(name, forward, backward, inputs, wrt):
        if not r.passed:
            return False, f"gradient check of {r.name}: relative error {r.max_rel_error:.1e} (needs < {THRESHOLD:.0e})"
    return True, None


# ---- lesson 01: the FM pair term and its backward -----------------------------------------------
def grade_fm_pair(forward, backward):
    """forward(E (B, F, K)) -> (y (B,), cache); backward(dy (B,), cache) -> dE (B, F, K)."""
    def check():
        rng = np.random.default_rng(1)
        for B, F, K in ((4, 5, 3), (1, 2, 1), (3, 12, 6)):
            E = rng.standard_normal((B, F, K))
            y, _ = forward(E.copy())
            y = np.asarray(y)
            if y.shape != (B,):
                return False, f"forward on E of shape {E.shape} returned shape {y.shape}, expected ({B},)"
            want = fm_pairs_naive(E)
            if not np.allclose(y, want, rtol=1e-10, atol=1e-12):
                return False, f"forward differs from the double loop by {np.abs(y - want).max():.2e} (E {E.shape})"
            ok, why = _gradcheck("fm_pair", forward, lambda d, c: {"E": backward(d, c)}, {"E": E}, ["E"])
            if not ok:
                return False, why + f" (E {E.shape})"
        return True, "forward equals the double loop and the backward passes the finite-difference check (3 shapes)"
    return _report("FM pair term", check)


# ---- lesson 02: the dense layer's backward -------------------------------------------------------
def grade_dense_backward(backward):
    """backward(dout (B, D_out), cache=(x, W)) -> (dx, dW, db), with the library's dense_forward."""
    def check():
        rng = np.random.default_rng(2)
        for B, Din, Dout in ((5, 4, 3), (1, 3, 1), (7, 2, 6)):
            inputs = {"x": rng.standard_normal((B, Din)), "W": rng.standard_normal((Din, Dout)),
                      "b": rng.standard_normal(Dout)}
            out = backward(np.ones((B, Dout)), (inputs["x"], inputs["W"]))
            if len(out) != 3:
                return False, "backward must return (dx, dW, db)"
            shapes = tuple(np.shape(g) for g in out)
            if shapes != ((B, Din), (Din, Dout), (Dout,)):
                return False, f"shapes of (dx, dW, db) are {shapes}, expected {((B, Din), (Din, Dout), (Dout,))}"

            def grads(dout, cache):
                dx, dW, db = backward(dout, cache)
                return {"x": dx, "W": dW, "b": db}
            ok, why = _gradcheck("dense", dense_forward, grads, inputs, ["x", "W", "b"])
            if not ok:
                return False, why + f" (x {B}x{Din}, W {Din}x{Dout})"
        return True, "dx, dW and db pass the finite-difference check (3 shapes, including one output unit)"
    return _report("dense backward", check)


# ---- lesson 03: the sum of DeepFM's two dV parts -------------------------------------------------
def _sparse_cases(rng):
    def sg(rows, K):
        rows = np.asarray(rows, dtype=np.int64)
        shape = (rows.size,) if K == 0 else (rows.size, K)
        return SparseGrad(rows, rng.standard_normal(shape))
    for K in (3, 0):                                           # embedding rows and first-order scalars
        yield "overlapping rows", sg([1, 4, 7], K), sg([0, 4, 9, 7], K)
        yield "disjoint rows", sg([2, 3], K), sg([5], K)
        yield "identical rows", sg([6, 8], K), sg([6, 8], K)
        yield "one side empty", sg([], K), sg([3, 1], K)


def grade_add_sparse(add, model_batch=None):
    """add(a: SparseGrad, b: SparseGrad) -> SparseGrad: rows = sorted union, values summed per row.

    Twin test against the library's SparseGrad.__add__ on hand-made cases, and, if model_batch =
    (parts, grads) is given (DeepFM's embedding_grad_parts() and backward() of one batch), the learner's
    sum of the FM and DNN parts must equal the gradient the model hands to the optimizer.
    """
    def check():
        rng = np.random.default_rng(3)
        for label, a, b in _sparse_cases(rng):
            got, want = add(a, b), a + b
            if not isinstance(got, SparseGrad):
                return False, f"return a SparseGrad(rows, values), got {type(got).__name__}"
            if not np.array_equal(np.asarray(got.rows), want.rows):
                return False, f"{label} (values {a.values.ndim}-D): rows {list(got.rows)}, expected {list(want.rows)}"
            if np.shape(got.values) != want.values.shape or not np.allclose(got.values, want.values, rtol=1e-12):
                return False, f"{label} (values {a.values.ndim}-D): values differ from the library's a + b"
        if model_batch is not None:
            parts, grads = model_batch
            got = add(parts["fm"], parts["dnn"])
            if not (np.array_equal(got.rows, grads["V"].rows) and np.allclose(got.values, grads["V"].values,
                                                                               rtol=1e-12, atol=1e-15)):
                return False, "FM part + DNN part of a real batch differs from grads['V']"
        return True, "equals the library's SparseGrad sum on 8 cases" + (
            " and FM part + DNN part == grads['V'] on a real DeepFM batch" if model_batch is not None else "")
    return _report("sum of the two dV parts", check)


# ---- lesson 04: one lazy Adam row update ---------------------------------------------------------
def grade_lazy_adam(update):
    """update(table, m, v, count, rows, g, lr, beta1, beta2, eps): in place, touched rows only.

    Twin test against the library's kernel (kernels.rows.adam_rows) over 6 steps on a table of 10
    rows, some rows first touched late, in float64.
    """
    def check():
        rng = np.random.default_rng(4)
        R, K, lr, b1, b2, eps = 10, 3, 0.01, 0.9, 0.999, 1e-8
        mine = [rng.standard_normal((R, K)), np.zeros((R, K)), np.zeros((R, K)), np.zeros(R, dtype=np.int64)]
        lib = [x.copy() for x in mine]
        for step, rows in enumerate(([1, 3], [3, 5, 8], [1], [9, 3], [0, 1, 2], [7])):
            rows = np.array(rows, dtype=np.int64)
            g = rng.standard_normal((rows.size, K))
            before = mine[0].copy()
            update(*mine, rows, g.copy(), lr, b1, b2, eps)
            kn.adam_rows(*lib, rows, g, lr, b1, b2, eps)
            untouched = np.setdiff1d(np.arange(R), rows)
            if not np.array_equal(mine[0][untouched], before[untouched]):
                return False, f"step {step + 1}: rows not in the batch moved (lazy Adam leaves them alone)"
            for name, a, b in zip(("table", "m", "v", "count"), mine, lib):
                if not np.allclose(a, b, rtol=1e-10, atol=1e-14):
                    where = np.flatnonzero(~np.isclose(a, b, rtol=1e-10, atol=1e-14).reshape(R, -1).all(axis=1))
                    return False, f"step {step + 1}: {name} differs from the library's adam_rows in rows {list(where)}"
        return True, "table, m, v and the per-row counts equal the library's adam_rows over 6 steps"
    return _report("lazy Adam row update", check)
