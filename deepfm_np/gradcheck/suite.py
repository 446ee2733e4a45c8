"""Every gradient check of the project in one place: `python -m deepfm_np gradcheck`.

Builds small float64 problems (a layout with categorical, numeric and
multi-valued fields; a batch whose ids repeat) and checks each layer's
backward and each registered model's full gradient against centered finite
differences. The tests call the same functions, so the command and the test
suite prove the same thing.
"""
from __future__ import annotations

import numpy as np

from .. import layers as L
from ..fields import FieldLayout
from .core import CheckResult, check_layer, check_model, dense_grad, numerical_grad, rel_error
from ..losses import bce_with_logits


def check_layout(multi=True) -> FieldLayout:
    """Three categorical fields, one numeric field and (optionally) one multi-valued field of width 3."""
    names, sizes = ["c1", "c2", "c3", "num"], [6, 4, 3, 2]
    kinds, widths = ["categorical"] * 3 + ["numeric"], [1, 1, 1, 1]
    if multi:
        names.append("tags"); sizes.append(5); kinds.append("multi"); widths.append(3)
    return FieldLayout(tuple(names), tuple(sizes), tuple(kinds), tuple(widths))


def check_batch(layout: FieldLayout, B=6, seed=0):
    """A float64 batch with repeated ids, numeric values != 1 and mean-pooled multi-valued slots."""
    rng = np.random.default_rng(seed)
    idx = np.empty((B, layout.n_slots), dtype=np.int64)
    val = np.ones((B, layout.n_slots), dtype=np.float64)
    s = 0
    for f, (kind, size, width) in enumerate(zip(layout.kinds, layout.sizes, layout.widths)):
        if kind == "categorical":
            idx[:, s] = layout.row(f, rng.integers(0, min(size, 3), B))   # few values: ids repeat
        elif kind == "numeric":
            present = np.arange(B) % 3 != 0                               # every third row missing
            idx[:, s] = layout.row(f, present.astype(np.int64))
            val[:, s] = np.where(present, rng.uniform(-1.5, 2.5, B), 1.0)
        else:                                                             # multi: n values, mean-pooled
            for b in range(B):
                n = b % (width + 1)                                       # 0..width values (0 = empty list)
                ids = rng.choice(np.arange(1, size), size=n, replace=False) if n else []
                idx[b, s:s + width] = layout.row(f, 0)                    # padding: OOV row with val 0
                val[b, s:s + width] = 0.0
                idx[b, s:s + n] = layout.row(f, ids)
                val[b, s:s + n] = 1.0 / n if n else 0.0
        s += width
    y = (np.arange(B) % 2).astype(np.float64)
    return idx, val, y


def layer_checks(seed=0) -> list[CheckResult]:
    rng = np.random.default_rng(seed)
    B, F, K, S = 5, 4, 3, 6
    R = 7
    out = []
    V = rng.standard_normal((R, K))
    w, w0 = rng.standard_normal(R), rng.standard_normal(1)
    idx = rng.integers(0, R, (B, S))
    idx[:, 1] = idx[:, 0]                                   # repeated ids inside a row
    val = rng.uniform(-2, 2, (B, S))

    out += check_layer("embedding", lambda V: L.embedding_forward(V, idx, val),
                       lambda d, c: {"V": L.embedding_backward(d, c)}, {"V": V}, ["V"], seed)
    out += check_layer("first_order",
                       lambda w, w0: L.first_order_forward(w, w0, idx, val),
                       lambda d, c: dict(zip(("w", "w0"), L.first_order_backward(d, c))),
                       {"w": w, "w0": w0}, ["w", "w0"], seed)
    out += check_layer("fm", L.fm_forward, lambda d, c: {"E": L.fm_backward(d, c)},
                       {"E": rng.standard_normal((B, F, K))}, ["E"], seed)
    slot_field = np.array([0, 1, 1, 1, 2, 3])
    out += check_layer("field_pool", lambda E: L.field_pool_forward(E, slot_field, F),
                       lambda d, c: {"E": L.field_pool_backward(d, c)},
                       {"E": rng.standard_normal((B, S, K))}, ["E"], seed)
    out += check_layer("dense", L.dense_forward, lambda d, c: dict(zip("xWb", L.dense_backward(d, c))),
                       {"x": rng.standard_normal((B, 6)), "W": rng.standard_normal((6, 4)),
                        "b": rng.standard_normal(4)}, ["x", "W", "b"], seed)
    z = rng.standard_normal((B, 6))
    z[np.abs(z) < 1e-3] = 0.5                               # keep away from relu's kink
    out += check_layer("relu", L.relu_forward, lambda d, c: {"z": L.relu_backward(d, c)}, {"z": z}, ["z"], seed)
    out += check_layer("tanh", L.tanh_forward, lambda d, c: {"z": L.tanh_backward(d, c)},
                       {"z": rng.standard_normal((B, 6))}, ["z"], seed)
    out += check_layer("dropout",
                       lambda x: L.dropout_forward(x, 0.6, True, np.random.default_rng(seed)),
                       lambda d, c: {"x": L.dropout_backward(d, c)},
                       {"x": rng.standard_normal((B, 6))}, ["x"], seed)
    mlp = L.MLP("mlp", 6, (5, 4), "relu", keep_prob=0.7)
    mp = {}
    mlp.init_params(mp, rng, np.float64)
    generic_point(mp, rng)
    x = rng.standard_normal((B, 6))

    def mlp_fwd(x, **p):
        return mlp.forward(p, x, True, np.random.default_rng(seed))

    def mlp_bwd(d, c):
        dx, g = mlp.backward(d, c)
        return {"x": dx, **g}
    out += check_layer("mlp", mlp_fwd, mlp_bwd, {"x": x, **mp}, ["x", *mlp.names()], seed)

    zl = rng.standard_normal(B) * 3
    yl = (rng.random(B) < 0.5).astype(np.float64)

    def bce_fwd(z):
        return bce_with_logits(z, yl)[0], z

    out += check_layer("bce_with_logits", bce_fwd, lambda d, z: {"z": d * bce_with_logits(z, yl)[1]},
                       {"z": zl}, ["z"], seed)
    return out + product_checks(seed)


def product_checks(seed=0) -> list[CheckResult]:
    """PNN's product layers: backward vs finite differences, and fast form vs the naive pair loop."""
    from ..layers import product as P
    rng = np.random.default_rng(seed)
    out = []
    for name in ("inner_product", "outer_product"):
        fwd, bwd = getattr(P, f"{name}_forward"), getattr(P, f"{name}_backward")
        out += check_layer(name, fwd, lambda d, c, bwd=bwd: {"E": bwd(d, c)},
                           {"E": rng.standard_normal((5, 4, 3))}, ["E"], seed)
        E = rng.standard_normal((16, 9, 5))
        fast, slow = fwd(E)[0], getattr(P, f"{name}_naive")(E)
        err = float(np.max(np.abs(fast - slow) / np.maximum(np.abs(fast) + np.abs(slow), 1e-8)))
        out.append(CheckResult(f"{name} fast == pair loop", err, fast.size))
    return out


def generic_point(params, rng, scale=0.1):
    """Move zero-initialised parameters (biases, first-order weights) off zero, in place.

    At a symmetric starting point a hidden unit whose inputs were all zeroed
    by relu/dropout sits exactly on relu's kink (z = b = 0), where the
    function has no derivative and finite differences disagree with any
    backward. Gradients are checked at a generic point instead.
    """
    for p in params.values():
        if not p.any():
            p += scale * rng.standard_normal(p.shape)


def fm_identity_check(seed=0) -> CheckResult:
    """The O(FK) FM term equals the O(F^2 K) pair loop (max relative difference)."""
    E = np.random.default_rng(seed).standard_normal((16, 9, 5))
    fast, _ = L.fm_forward(E)
    slow = L.fm_pairs_naive(E)
    return CheckResult("fm fast == pair loop", rel_error(fast, slow), E.shape[0])


def model_kwargs():
    """Small float64 models: big enough to exercise every path, small enough to check in seconds."""
    return dict(embed_dim=3, hidden=(8, 6), keep_prob=0.7, init_std=0.3, dtype=np.float64)


def model_checks(names=None, seed=0, max_coords=40) -> list[CheckResult]:
    """Full gradient check of each model, on two layouts: with a multi-valued field (the pooling
    path) and without one (S == F, where DeepFM takes its fused fast path). Rows of the first
    are named "model[multi]/param", of the second "model/param"."""
    from ..models.registry import build_model, model_names
    out = []
    for multi in (False, True):
        layout = check_layout(multi=multi)
        idx, val, y = check_batch(layout, seed=seed)
        for name in names or model_names():
            model = build_model(name, layout, **model_kwargs())
            if multi:
                model.name = f"{name}[multi]"
            generic_point(model.params, np.random.default_rng(seed))
            params = [p for p in model.params if not (p in model.sparse_params and _is_cut(model, p))]
            out += check_model(model, idx, val, y, seed=seed, max_coords=max_coords, names=params)
            if hasattr(model, "embedding_grad_parts"):
                out += embedding_path_checks(model, idx, val, y, seed)
    return out


def _is_cut(model, pname):
    """A table whose gradient is deliberately partial (a stop-gradient ablation): checked by path instead."""
    return pname == "V" and not (getattr(model, "fm_grad", True) and getattr(model, "dnn_grad", True))


def embedding_path_checks(model, idx, val, y, seed=0, max_coords=40) -> list[CheckResult]:
    """Check each part of DeepFM's embedding gradient on its own, and that the parts add up.

    The FM part is the derivative of the loss when only the FM pair term sees a
    perturbed V (the DNN input held fixed); the DNN part the other way round.
    A stop-gradient ablation's grads["V"] must equal the part it keeps.
    """
    B = idx.shape[0]
    V = model.params["V"]
    rngf = lambda: np.random.default_rng(seed)             # noqa: E731  replay dropout masks
    logits = model.forward(idx, val, train=True, rng=rngf())
    _, d = bce_with_logits(logits, y)
    grads = model.backward(d * B)
    parts = model.embedding_grad_parts()

    E_fixed, _ = model._embed("V", idx, val)
    y1, _ = L.first_order_forward(model.params["w"], model.params["w0"], idx, val)

    def loss_with(path):
        def f():
            E, _ = model._embed("V", idx, val)
            E_fm, E_dnn = (E, E_fixed) if path == "fm" else (E_fixed, E)
            y3, _ = model.mlp.forward(model.params, E_dnn.reshape(B, -1), True, rngf())
            return bce_with_logits(y1 + L.fm_forward(E_fm)[0] + y3, y)[0] * B
        return f

    rows = np.unique(idx)
    coords = np.concatenate([np.arange(r * V.shape[1], (r + 1) * V.shape[1]) for r in rows])[:max_coords]
    out = []
    dense_parts = {}
    for path, g in parts.items():
        dense_parts[path] = dense_grad(g, V.shape)
        num = numerical_grad(loss_with(path), V, coords)
        out.append(CheckResult(f"{model.name}/V ({path} path)", rel_error(dense_parts[path].reshape(-1)[coords], num),
                               len(coords)))
    kept = [p for p, on in (("fm", model.fm_grad), ("dnn", model.dnn_grad)) if on]
    total = sum(dense_parts[p] for p in kept)
    out.append(CheckResult(f"{model.name}/V == sum of kept paths ({'+'.join(kept)})",
                           rel_error(dense_grad(grads["V"], V.shape), total), V.size))
    return out


def all_checks(names=None, seed=0) -> list[CheckResult]:
    """What `python -m deepfm_np gradcheck` runs: every layer, the FM identity, the models `names` (all)."""
    return layer_checks(seed) + [fm_identity_check(seed)] + model_checks(names, seed)
