"""A deepfm_np model as a TorchRec module: one table per field in an EmbeddingBagCollection + the shared Head.

    net = TorchRecCTR(saved.model)              # unsharded (meta device); DistributedModelParallel shards net.ebc
    kjt = batch_to_kjt(idx, val, net.layout)    # deepfm_np's (B, S) arrays -> a KeyedJaggedTensor
    logits = net(kjt)                           # (B,)

Field f's rows of every deepfm_np table (export/torch_module.py's bags) side by side in ONE TorchRec table:

    table "f{f}" (size[f], D):  columns [ V rows offset[f] .. offset[f]+size[f]-1 (K) | w (1) | zeros ]
    feature "f{f}":             field f's local ids idx - offset[f] with weights val, width[f] per row

(FM & DNN: [V_fm | V_dnn | w]; LR: [w]; the order is export.torch_module.TABLES.) D is rounded up to a
multiple of 4 because FBGEMM's fused kernels need it (its assertion names "local_cols divisible by 4");
the padding columns are zero, the head never reads them, so their gradient is zero and they stay zero.
One table per field is also what the planner places: fields go to ranks whole (table-wise), or are cut
by rows or columns for large ones.

The EBC is weighted (is_weighted=True) and sum-pools, so a field's output is sum_s T[id_s] * val_s:
deepfm_np's scaling and multi-valued mean pooling, as in to_torch. The head (w0, FM pairs, MLP) is
to_torch's Head object, so the TorchRec model and the PyTorch export compute one function. Tables are
float32 (FBGEMM's CPU kernels); a float64 model file is trained in float32 and written back as float64.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torchrec import EmbeddingBagCollection, EmbeddingBagConfig, KeyedJaggedTensor
from torchrec.modules.embedding_configs import PoolingType

from ..export.torch_module import Head, field_tables, join_field_tables

ALIGN = 4          # FBGEMM: a table's (local) column count must be a multiple of 4


def table_name(f: int) -> str:
    return f"f{f}"


class TorchRecCTR(nn.Module):
    """deepfm_np model on a TorchRec EmbeddingBagCollection. forward(kjt) -> logits (B,)."""

    def __init__(self, model, device=None):
        super().__init__()
        self.layout = model.layout
        self.np_dtype = model.dtype
        self.tables = field_tables(model)                   # {table: [(size_f, dim) per field]} numpy
        self.columns, c = {}, 0                             # deepfm_np table -> its columns in a field's table
        for t, parts in self.tables.items():
            self.columns[t] = (c, c + parts[0].shape[1])
            c += parts[0].shape[1]
        self.dim = -(-c // ALIGN) * ALIGN
        configs = [EmbeddingBagConfig(name=table_name(f), num_embeddings=n, embedding_dim=self.dim,
                                      feature_names=[table_name(f)], pooling=PoolingType.SUM)
                   for f, n in enumerate(self.layout.sizes)]
        self.ebc = EmbeddingBagCollection(tables=configs, is_weighted=True, device=device or torch.device("meta"))
        self.head = Head(_float32_view(model))

    def initial_weights(self) -> dict:
        """{TorchRec table name: float32 (size_f, D) array} of the deepfm_np model the net was built from."""
        out = {}
        for f, n in enumerate(self.layout.sizes):
            a = np.zeros((n, self.dim), dtype=np.float32)
            for t, (lo, hi) in self.columns.items():
                a[:, lo:hi] = self.tables[t][f]
            out[table_name(f)] = a
        return out

    def forward(self, kjt):
        kt = self.ebc(kjt).to_dict()                        # {field: (B, D)}
        P = torch.stack([kt[table_name(f)] for f in range(self.layout.n_fields)], dim=1)    # (B, F, D)
        return self.head({t: P[:, :, lo:hi] for t, (lo, hi) in self.columns.items()})

    def to_numpy(self, weights: dict, model) -> dict:
        """{TorchRec table name: full (size_f, D) array} + this head -> deepfm_np params of `model`."""
        per_field = {t: [np.asarray(weights[table_name(f)])[:, lo:hi] for f in range(self.layout.n_fields)]
                     for t, (lo, hi) in self.columns.items()}
        out = self.head.numpy_params(model.dtype)
        out.update(join_field_tables(model, per_field))
        return out


def _float32_view(model):
    """The model itself when float32; else a shallow stand-in whose params are float32 copies."""
    if model.dtype == np.float32:
        return model
    import copy
    m = copy.copy(model)
    m.params = {k: v.astype(np.float32) for k, v in model.params.items()}
    m.dtype = np.dtype(np.float32)
    return m


def batch_to_kjt(idx, val, layout) -> KeyedJaggedTensor:
    """idx (B, S) int64 global rows, val (B, S) -> KJT with one feature per field (local ids, weights val).

    KJT layout is feature-major: for field f, B rows of width[f] values each (padding slots kept, val 0).
    """
    idx = np.asarray(idx, dtype=np.int64)
    val = np.asarray(val, dtype=np.float32)
    B = idx.shape[0]
    starts = np.concatenate([[0], np.cumsum(layout.widths)[:-1]]).astype(int)
    values, weights, lengths = [], [], []
    for f, (s, w) in enumerate(zip(starts.tolist(), layout.widths)):
        values.append((idx[:, s:s + w] - layout.offsets[f]).reshape(-1))
        weights.append(val[:, s:s + w].reshape(-1))
        lengths.append(np.full(B, w, dtype=np.int32))
    return KeyedJaggedTensor(keys=[table_name(f) for f in range(layout.n_fields)],
                             values=torch.from_numpy(np.concatenate(values)),
                             weights=torch.from_numpy(np.concatenate(weights)),
                             lengths=torch.from_numpy(np.concatenate(lengths)))
