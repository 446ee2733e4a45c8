"""Argument checks every command runs BEFORE it reads data: user-facing names, one line each.

    check_args(args, positive=("epochs", "batch_size"), nonnegative=("patience",))
    check_outputs(args, files=("out", "json_path"), folders=("cache",))
    check_memory(n_params, "--hash-buckets 10^9 x 26 fields")

A mistake costs the user nothing this way: `--epochs 0` is refused in milliseconds, not after the
training file was read; an output that cannot be written is refused before the hours of training
that would have been lost at the end. Messages name the option as typed (`--batch-size`), never the
Python attribute (`batch_size`).
"""
from __future__ import annotations

import math
import os

from . import CommandError

# attribute -> option as typed, where it is not the obvious one
_FLAGS = {"json_path": "--json"}


def flag(attr: str) -> str:
    return _FLAGS.get(attr, "--" + attr.replace("_", "-"))


def check_args(args, *, positive=(), nonnegative=(), fraction=(), probability=(), finite_positive=()) -> None:
    """Refuse values out of range; names absent from `args` or None (option not given) are skipped.

    positive        : int >= 1            nonnegative : int >= 0
    fraction        : 0 < x < 1           probability : 0 < x <= 1
    finite_positive : finite float > 0
    """
    def get(name):                                   # only numbers are checked ("--threads auto" is not one)
        v = getattr(args, name, None)
        return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None

    for name in positive:
        v = get(name)
        if v is not None and v < 1:
            raise CommandError(f"{flag(name)} must be at least 1, got {v}")
    for name in nonnegative:
        v = get(name)
        if v is not None and v < 0:
            raise CommandError(f"{flag(name)} must be 0 or more, got {v}")
    for name in fraction:
        v = get(name)
        if v is not None and not 0 < v < 1:
            raise CommandError(f"{flag(name)} must be between 0 and 1 (exclusive), got {v:g}")
    for name in probability:
        v = get(name)
        if v is not None and not 0 < v <= 1:
            raise CommandError(f"{flag(name)} must be in (0, 1], got {v:g}")
    for name in finite_positive:
        v = get(name)
        if v is not None and not (math.isfinite(v) and v > 0):
            raise CommandError(f"{flag(name)} must be a finite number above 0, got {v:g}")


def check_outputs(args, *, files=(), folders=(), inputs=()) -> None:
    """Every output path can be written, none is an input; before any data is read.

    files/folders/inputs: attribute names on args (None values are skipped).
    """
    from ..data.atomic import check_output_path
    ins = [(flag(a), getattr(args, a, None)) for a in inputs]
    for a in files:
        if getattr(args, a, None) is not None:
            check_output_path(getattr(args, a), flag(a), not_same_as=ins)
    for a in folders:
        if getattr(args, a, None) is not None:
            check_output_path(getattr(args, a), flag(a), directory=True)
    outs = [(flag(a), getattr(args, a)) for a in files if getattr(args, a, None) is not None]
    for i, (fa, pa) in enumerate(outs):
        for fb, pb in outs[i + 1:]:
            if os.path.abspath(pa) == os.path.abspath(pb):
                raise CommandError(f"{fa} and {fb} are the same file {pa}; give two names")


def physical_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 64 * 2 ** 30


def check_memory(n_params: int, what: str, *, itemsize: int = 4, copies: int = 4) -> None:
    """Refuse a model that cannot fit in memory, before allocating it (instead of a MemoryError).

    copies: the parameters, their gradients and the optimizer's two Adam moments ~ 4 copies in training.
    """
    need = n_params * itemsize * copies
    have = physical_memory()
    if need > have:
        raise CommandError(f"{what}: about {n_params:,} parameters, {need / 2 ** 30:,.1f} GiB to train, more "
                           f"than this machine's {have / 2 ** 30:,.1f} GiB of memory; use smaller values")


def min_params(model: str, n_rows: int, embed_dim: int, hidden) -> int:
    """A lower bound on a model's parameters: R*K embedding rows (R for LR) + the hidden layers' weights."""
    k = 1 if model == "lr" else embed_dim
    hidden = [] if model in ("lr", "fm") else list(hidden)
    return n_rows * k + sum(a * b for a, b in zip(hidden, hidden[1:])) + sum(hidden)
