"""A deepfm_np model as a `torch.nn.Module` on `nn.EmbeddingBag` tables, and the way back (extra `torch`).

    from deepfm_np.export import to_torch
    module = to_torch(saved)                 # saved: a SavedModel (load_model) or a models.base.Model
    logits = module(idx, val)                # idx (B, S) int64 global rows, val (B, S): deepfm_np's inputs
    params = from_torch(module)              # {name: ndarray} in deepfm_np's names and shapes

How deepfm_np's tables become EmbeddingBags. deepfm_np keeps ONE table per parameter (V (R, K), w (R,))
shared by all F fields at per-field offsets (fields.py). Here each field f gets its own bag of the
field's size[f] rows, the rows offset[f] .. offset[f] + size[f] - 1 of the shared table, indexed by the
local id idx - offset[f]. A bag pools the field's slots with mode="sum" and per_sample_weights = val:

    P[b, f] = sum_{s in slots(f)} V[idx[b, s]] * val[b, s]           (B, F, K)

which is exactly deepfm_np's e = V_i x_i followed by layers/pooling.py's sum over a multi-valued field's
slots (the encoder wrote val = 1/n there, so the sum is the mean; padding slots have val = 0). Single-slot
fields are the case of one slot. The first-order table w is a width-1 bag the same way. One bag per
(table, field) is also TorchRec's unit: each becomes one table of an EmbeddingBagCollection (scale/).

The head (bias, FM pairs, MLP, products) reads the pooled (B, F, dim) tensors; `Head` is shared with the
TorchRec model so the two cannot drift apart. Dropout is nn.Dropout (active in train mode only): the
same keep probability, other random masks.

Not carried over: optimizer state (Adam moments, FTRL accumulators) and the preprocessing (the fitted
Encoder stays in the model file; feed the module encoder.transform(...)'s idx and val).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

TABLES = ("V", "w", "V_fm", "V_dnn")       # deepfm_np's per-row tables, in a fixed order


def _unwrap(saved):
    """SavedModel or Model -> Model."""
    return getattr(saved, "model", saved)


def _torch_dtype(model):
    return torch.float64 if model.dtype == np.float64 else torch.float32


def pooled_fm_pairs(E):
    """E (B, F, K) -> sum_{i<j} <e_i, e_j> (B,) by Rendle's identity (layers/fm.py)."""
    S = E.sum(dim=1)
    return 0.5 * (S * S - (E * E).sum(dim=1)).sum(dim=1)


def inner_products(E):
    """E (B, F, K) -> <e_i, e_j> for i < j in np.triu_indices order (B, F(F-1)/2) (layers/product.py)."""
    F = E.shape[1]
    i, j = np.triu_indices(F, k=1)
    G = E @ E.transpose(1, 2)                                   # (B, F, F)
    return G.reshape(E.shape[0], F * F)[:, torch.as_tensor(i * F + j, dtype=torch.long)]


def outer_product(E):
    """E (B, F, K) -> flatten(s s^T), s = sum_i e_i (B, K*K) (the cheap OPNN form)."""
    s = E.sum(dim=1)
    return (s[:, :, None] * s[:, None, :]).reshape(E.shape[0], -1)


class MLP(nn.Module):
    """deepfm_np's layers/mlp.py: Linear -> act -> dropout per hidden layer, then a linear output unit.

    deepfm_np's W_l is (D_in, D_out); nn.Linear keeps its transpose.
    """

    def __init__(self, params, prefix, activation, keep_prob, dtype):
        super().__init__()
        layers = []
        L = sum(1 for k in params if k.startswith(prefix + ".W"))
        for l in range(L):
            W, b = params[f"{prefix}.W{l}"], params[f"{prefix}.b{l}"]
            lin = nn.Linear(W.shape[0], W.shape[1], dtype=dtype)
            with torch.no_grad():
                lin.weight.copy_(torch.as_tensor(W.T.copy()))
                lin.bias.copy_(torch.as_tensor(b))
            layers.append(lin)
            if l < L - 1:
                layers.append(nn.ReLU() if activation == "relu" else nn.Tanh())
                if keep_prob < 1.0:
                    layers.append(nn.Dropout(1.0 - keep_prob))
        self.net = nn.Sequential(*layers)
        self.prefix = prefix

    def forward(self, x):
        return self.net(x)[:, 0]

    def numpy_params(self, dtype):
        lins = [m for m in self.net if isinstance(m, nn.Linear)]
        out = {}
        for l, lin in enumerate(lins):
            out[f"{self.prefix}.W{l}"] = lin.weight.detach().cpu().numpy().T.astype(dtype, copy=True)
            out[f"{self.prefix}.b{l}"] = lin.bias.detach().cpu().numpy().astype(dtype, copy=True)
        return out


class Head(nn.Module):
    """Everything after the lookup: pooled {table: (B, F, dim)} -> logits (B,). One class, every model.

    kind: "lr" | "fm" | "deepfm" | "fnn" | "pnn" | "wide_deep" (from the deepfm_np model's class).
    """

    def __init__(self, model):
        super().__init__()
        from ..models.deepfm import DeepFM
        from ..models.fm import FM
        from ..models.fnn import FNN
        from ..models.lr import LR
        from ..models.pnn import PNN
        from ..models.wide_deep import WideDeep
        kinds = {LR: "lr", FM: "fm", DeepFM: "deepfm", FNN: "fnn", PNN: "pnn", WideDeep: "wide_deep"}
        kind = kinds.get(type(model))
        if kind is None:
            raise ValueError(f"to_torch: no PyTorch twin for model class {type(model).__name__}")
        self.kind, self.name = kind, model.name
        dtype = _torch_dtype(model)
        p, cfg = model.params, model.config
        self.w0 = nn.Parameter(torch.as_tensor(p["w0"].copy())) if "w0" in p else None
        self.mlp = (MLP(p, "mlp", cfg["activation"], cfg["keep_prob"], dtype) if "mlp.W0" in p else None)
        self.fm_grad = bool(cfg.get("fm_grad", True))
        self.dnn_grad = bool(cfg.get("dnn_grad", True))
        self.products = tuple(getattr(model, "products", ()))
        self.wide = getattr(model, "wide", None)

    def forward(self, pooled):
        k = self.kind
        y = None
        if "w" in pooled and k != "fnn":                                 # w0 + sum_i w_i x_i
            y = pooled["w"].sum(dim=(1, 2)) + self.w0[0]
        if k == "lr":
            return y
        if k == "fm":
            return y + pooled_fm_pairs(pooled["V"])
        if k == "deepfm":                                                # shared V, stop-gradient ablations
            E = pooled["V"]
            E_fm = E if self.fm_grad else E.detach()
            E_dnn = E if self.dnn_grad else E.detach()
            return y + pooled_fm_pairs(E_fm) + self.mlp(E_dnn.reshape(E.shape[0], -1))
        if k == "fnn":                                                   # z_i = [w_i x_i, V_i x_i]
            Z = torch.cat([pooled["w"], pooled["V"]], dim=2)
            return self.mlp(Z.reshape(Z.shape[0], -1))
        if k == "pnn":
            E = pooled["V"]
            signals = [E.reshape(E.shape[0], -1)]
            signals += [inner_products(E) if p == "inner" else outer_product(E) for p in self.products]
            return self.mlp(torch.cat(signals, dim=1))
        if self.wide == "fm":                                            # wide_deep
            y = y + pooled_fm_pairs(pooled["V_fm"])
        E = pooled["V_dnn"]
        return y + self.mlp(E.reshape(E.shape[0], -1))

    def numpy_params(self, dtype):
        out = {} if self.mlp is None else self.mlp.numpy_params(dtype)
        if self.w0 is not None:
            out["w0"] = self.w0.detach().cpu().numpy().astype(dtype, copy=True)
        return out


def field_tables(model):
    """{table: (dim, [(size_f, dim) array per field])}: each deepfm_np table cut at the field offsets."""
    lay = model.layout
    out = {}
    for name in TABLES:
        if name not in model.params:
            continue
        T = model.params[name]
        T2 = T.reshape(T.shape[0], -1)                                   # (R,) -> (R, 1)
        out[name] = [T2[o:o + s] for o, s in zip(lay.offsets.tolist(), lay.sizes)]
    return out


def join_field_tables(model, per_field: dict) -> dict:
    """Inverse of field_tables: {table: [(size_f, dim) per field]} -> {table: array shaped like params}."""
    out = {}
    for name, parts in per_field.items():
        target = model.params[name]
        out[name] = np.concatenate([np.asarray(a) for a in parts], axis=0).reshape(target.shape).astype(
            target.dtype, copy=False)
    return out


def field_slots(layout):
    """[(first slot, width)] per field: the columns of idx / val that belong to field f."""
    starts = np.concatenate([[0], np.cumsum(layout.widths)[:-1]]).astype(int)
    return list(zip(starts.tolist(), [int(w) for w in layout.widths]))


class TorchCTR(nn.Module):
    """deepfm_np model on per-field nn.EmbeddingBag tables. forward(idx (B, S) int64, val (B, S)) -> logits (B,)."""

    def __init__(self, model):
        super().__init__()
        self.dtype = _torch_dtype(model)
        self.np_dtype = model.dtype
        lay = model.layout
        self.field_names = list(lay.names)
        self.slots = field_slots(lay)
        self.register_buffer("offsets", torch.as_tensor(lay.offsets.copy()), persistent=False)
        self.bags = nn.ModuleDict()
        for name, parts in field_tables(model).items():
            self.bags[name] = nn.ModuleList(
                nn.EmbeddingBag.from_pretrained(torch.tensor(a), freeze=False,      # a copy, never a view
                                                mode="sum") for a in parts)
        self.head = Head(model)

    def pooled(self, idx, val):
        """idx (B, S), val (B, S) -> {table: (B, F, dim)}."""
        idx = torch.as_tensor(idx, dtype=torch.long)
        val = torch.as_tensor(val, dtype=self.dtype)
        local = [idx[:, s:s + w] - self.offsets[f] for f, (s, w) in enumerate(self.slots)]   # (B, w_f)
        vals = [val[:, s:s + w] for s, w in self.slots]
        return {name: torch.stack([bag(local[f], per_sample_weights=vals[f]) for f, bag in enumerate(bags)],
                                  dim=1) for name, bags in self.bags.items()}

    def forward(self, idx, val):
        return self.head(self.pooled(idx, val))

    @torch.no_grad()
    def predict_proba(self, idx, val):
        """Click probabilities (N,) float64 in evaluation mode."""
        was = self.training
        self.eval()
        try:
            return torch.sigmoid(self(idx, val).double()).numpy()
        finally:
            self.train(was)


def to_torch(saved) -> TorchCTR:
    """A `TorchCTR` module with `saved`'s trained weights (a SavedModel or a Model), same dtype."""
    model = _unwrap(saved)
    return TorchCTR(model)


def from_torch(module: TorchCTR, saved=None) -> dict:
    """The way back: {name: ndarray} in deepfm_np's names, shapes and dtype.

    With `saved` (SavedModel or Model), also copies them into its model.params in place and checks that
    the names and shapes are the model's.
    """
    dtype = module.np_dtype
    per_field = {name: [bag.weight.detach().cpu().numpy() for bag in bags] for name, bags in module.bags.items()}
    out = module.head.numpy_params(dtype)
    if saved is None:
        for name, parts in per_field.items():
            arr = np.concatenate(parts, axis=0).astype(dtype)
            out[name] = arr[:, 0] if (name == "w" and module.head.kind != "fnn") else arr
        return out
    model = _unwrap(saved)
    out.update(join_field_tables(model, per_field))
    load_params(model, out)
    return out


def load_params(model, params: dict) -> None:
    """Copy {name: array} into model.params in place; ValueError if names or shapes differ."""
    if set(params) != set(model.params):
        raise ValueError(f"parameters {sorted(params)} are not the model's {sorted(model.params)}")
    for k, v in params.items():
        if v.shape != model.params[k].shape:
            raise ValueError(f"parameter {k}: shape {v.shape}, the model needs {model.params[k].shape}")
        model.params[k][...] = v
