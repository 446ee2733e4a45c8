"""The distributed plumbing: process group, sharding plan, DistributedModelParallel, tables in and out.

    pg    = init_process_group(rank, world, port, backend="gloo")      # NCCL on GPUs: the only change
    dmp, plan = shard(net, world, lr, optimizer, sharding="table_wise")
    load_tables(dmp, net.initial_weights())    # deepfm_np's trained rows into whichever rank owns them
    full  = gather_tables(dmp)                 # rank 0: {table: (size_f, D) array}, every shard put back

Tables are trained by TorchRec's fused optimizer: the update runs inside the backward pass of the
embedding kernel (FBGEMM), on the rank that owns the rows, so no table gradient is ever materialised.
FBGEMM's CPU kernels offer exact Adagrad, row-wise Adagrad and SGD (Adam is GPU-only there), hence the
choices of `OPTIMIZERS`.
"""
from __future__ import annotations

import os
import socket
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as dist

OPTIMIZERS = ("adagrad", "sgd")
SHARDINGS = ("table_wise", "row_wise")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def init_process_group(rank, world, port, backend="gloo", host="127.0.0.1", timeout_s=120):
    os.environ.update(MASTER_ADDR=host, MASTER_PORT=str(port))
    dist.init_process_group(backend, rank=rank, world_size=world, timeout=timedelta(seconds=timeout_s))


def _optimizer_class(name):
    return {"adagrad": torch.optim.Adagrad, "sgd": torch.optim.SGD}[name]


def _optimizer_kwargs(name, lr):
    return {"lr": lr, "eps": 1e-8} if name == "adagrad" else {"lr": lr}   # eps as deepfm_np's Adagrad


def shard(net, world, lr, optimizer="adagrad", sharding="table_wise"):
    """Plan and shard `net.ebc` over the world; fused `optimizer` on the tables. -> (dmp, plan)."""
    from torchrec.distributed import DistributedModelParallel
    from torchrec.distributed.embeddingbag import EmbeddingBagCollectionSharder
    from torchrec.distributed.planner import EmbeddingShardingPlanner, ParameterConstraints, Topology
    from torchrec.optim.apply_optimizer_in_backward import apply_optimizer_in_backward

    apply_optimizer_in_backward(_optimizer_class(optimizer), net.ebc.parameters(), _optimizer_kwargs(optimizer, lr))
    sharders = [EmbeddingBagCollectionSharder()]
    constraints = {name: ParameterConstraints(sharding_types=[sharding]) for name in net.initial_weights()}
    planner = EmbeddingShardingPlanner(topology=Topology(world_size=world, compute_device="cpu"),
                                       constraints=constraints)
    plan = planner.collective_plan(net, sharders, dist.GroupMember.WORLD)
    dmp = DistributedModelParallel(module=net, device=torch.device("cpu"), plan=plan, sharders=sharders)
    return dmp, plan


def plan_table(plan) -> dict:
    """{table: {"sharding": type, "ranks": [ranks]}} of the EBC's plan (what the command prints)."""
    out = {}
    for module_plan in plan.plan.values():
        for name, ps in module_plan.items():
            out[name] = {"sharding": ps.sharding_type, "kernel": ps.compute_kernel, "ranks": list(ps.ranks or [])}
    return out


def dense_optimizer(dmp, optimizer, lr):
    """The MLP and bias: an ordinary torch optimizer over the parameters the fused one does not own.

    -> (optimizer, {name: parameter})
    """
    from torchrec.optim.keyed import KeyedOptimizerWrapper
    from torchrec.optim.optimizers import in_backward_optimizer_filter
    params = dict(in_backward_optimizer_filter(dmp.named_parameters()))
    cls, kw = _optimizer_class(optimizer), _optimizer_kwargs(optimizer, lr)
    return KeyedOptimizerWrapper(params, lambda ps: cls(ps, **kw)), params


def _tables(dmp):
    """{table: ShardedTensor} of the sharded EBC's weights."""
    prefix = "ebc.embedding_bags."
    return {k[len(prefix):-len(".weight")]: v for k, v in dmp.state_dict().items()
            if k.startswith(prefix) and k.endswith(".weight")}


def local_shards(dmp) -> dict:
    """{table: [(row0, col0, array)]}: this rank's pieces of every table (copies)."""
    return {name: [(int(s.metadata.shard_offsets[0]), int(s.metadata.shard_offsets[1]),
                    s.tensor.detach().cpu().numpy().copy()) for s in st.local_shards()]
            for name, st in _tables(dmp).items()}


@torch.no_grad()
def load_tables(dmp, weights: dict) -> None:
    """Copy full tables {name: (rows, D) array} into this rank's shards (each rank writes what it owns)."""
    for name, st in _tables(dmp).items():
        for s in st.local_shards():
            (r0, c0), (nr, nc) = s.metadata.shard_offsets, s.metadata.shard_sizes
            s.tensor.copy_(torch.from_numpy(np.ascontiguousarray(weights[name][r0:r0 + nr, c0:c0 + nc])))


@torch.no_grad()
def load_local_shards(dmp, pieces: dict) -> None:
    """Inverse of local_shards on the same plan (restoring a checkpoint)."""
    for name, st in _tables(dmp).items():
        for s, (_, _, a) in zip(st.local_shards(), pieces[name]):
            s.tensor.copy_(torch.from_numpy(a))


def gather_tables(dmp, shapes: dict) -> dict | None:
    """Rank 0: {table: full (rows, D) float32 array} assembled from every rank's shards; None elsewhere."""
    mine = local_shards(dmp)
    everyone = [None] * dist.get_world_size() if dist.get_rank() == 0 else None
    dist.gather_object(mine, everyone, dst=0)
    if dist.get_rank() != 0:
        return None
    full = {name: np.full(shape, np.nan, dtype=np.float32) for name, shape in shapes.items()}
    for pieces in everyone:
        for name, parts in pieces.items():
            for r0, c0, a in parts:
                full[name][r0:r0 + a.shape[0], c0:c0 + a.shape[1]] = a
    missing = [n for n, a in full.items() if np.isnan(a).any()]
    if missing:                                     # a plan that left rows unowned: never write such a file
        raise RuntimeError(f"gather: rows of tables {missing} were on no rank")
    return full
