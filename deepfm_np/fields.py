"""Field layout: how F fields share one embedding table.

Every model in deepfm_np reads a batch as two arrays of the same shape:

    idx (B, S) int64   global row ids into one shared table of R rows
    val (B, S) float   the feature value x_i of that slot

S is the number of *slots*. For ordinary data every field has exactly one slot
(S == F). A multi-valued field (a movie's genres) has several slots whose
values are pooled into one field embedding (see layers/pooling.py).

Per-field offsets turn a field's local id into a global row:

    row = offset[f] + local_id,     local_id in [0, size[f])

Local id 0 of every field is reserved for that field's out-of-vocabulary (OOV)
row: rare values at training time and unseen values at prediction time map
there, and it is trained like any other row.

`val` is 1.0 for a categorical slot. For a numeric field kept as a value it is
the (transformed) number x_i, which scales that field's embedding and
first-order weight, as in the paper: e_i = V_i * x_i.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

OOV = 0  # local id of every field's out-of-vocabulary row

KINDS = ("categorical", "numeric", "multi")


@dataclass(frozen=True)
class FieldLayout:
    """Names, kinds and sizes of F fields laid out in one table of `n_rows` rows.

    names  : F field names
    sizes  : F row counts, each including the OOV row at local id 0
    kinds  : F of "categorical" | "numeric" | "multi"
    widths : F slot counts (1 for categorical/numeric; max values for "multi")
    """

    names: tuple
    sizes: tuple
    kinds: tuple = None
    widths: tuple = None
    offsets: np.ndarray = field(init=False, repr=False, compare=False)
    slot_field: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        names = tuple(str(n) for n in self.names)
        sizes = tuple(int(s) for s in self.sizes)
        F = len(names)
        kinds = tuple(self.kinds) if self.kinds is not None else ("categorical",) * F
        widths = tuple(int(w) for w in self.widths) if self.widths is not None else (1,) * F
        if not (len(sizes) == len(kinds) == len(widths) == F):
            raise ValueError(
                f"FieldLayout: names ({F}), sizes ({len(sizes)}), kinds ({len(kinds)}) and "
                f"widths ({len(widths)}) must have the same length")
        if F == 0:
            raise ValueError("FieldLayout: at least one field is needed")
        if len(set(names)) != F:
            raise ValueError(f"FieldLayout: field names must be unique, got {names}")
        for n, s, k, w in zip(names, sizes, kinds, widths):
            if s < 1:
                raise ValueError(f"FieldLayout: field {n!r} has size {s}; it needs at least the OOV row")
            if k not in KINDS:
                raise ValueError(f"FieldLayout: field {n!r} has kind {k!r}; expected one of {KINDS}")
            if w < 1 or (k != "multi" and w != 1):
                raise ValueError(f"FieldLayout: field {n!r} ({k}) has width {w}")
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "sizes", sizes)
        object.__setattr__(self, "kinds", kinds)
        object.__setattr__(self, "widths", widths)
        offsets = np.zeros(F, dtype=np.int64)
        offsets[1:] = np.cumsum(sizes)[:-1]
        offsets.setflags(write=False)
        object.__setattr__(self, "offsets", offsets)
        slot_field = np.repeat(np.arange(F, dtype=np.int64), widths)
        slot_field.setflags(write=False)
        object.__setattr__(self, "slot_field", slot_field)

    # ---- derived sizes -------------------------------------------------
    @property
    def n_fields(self) -> int:
        """F: number of fields."""
        return len(self.names)

    @property
    def n_slots(self) -> int:
        """S: number of columns of idx/val (== F unless a field is multi-valued)."""
        return int(sum(self.widths))

    @property
    def n_rows(self) -> int:
        """R: rows of the shared table (sum of field sizes)."""
        return int(sum(self.sizes))

    @property
    def has_multi(self) -> bool:
        return any(k == "multi" for k in self.kinds)

    def row(self, field_index: int, local_id) -> np.ndarray:
        """Global row of `local_id` in field `field_index` (vectorised over local_id)."""
        return self.offsets[field_index] + np.asarray(local_id, dtype=np.int64)

    # ---- validation ----------------------------------------------------
    def validate(self, idx: np.ndarray, val: np.ndarray | None = None) -> None:
        """Raise ValueError naming the field and value if any id is outside its field's rows.

        idx (B, S) integer global rows; val (B, S) finite floats (optional).
        """
        idx = np.asarray(idx)
        if idx.ndim != 2 or idx.shape[1] != self.n_slots:
            raise ValueError(f"idx must have shape (B, {self.n_slots}), got {idx.shape}")
        if not np.issubdtype(idx.dtype, np.integer):
            raise ValueError(f"idx must be an integer array, got dtype {idx.dtype}")
        if idx.shape[0]:
            lo = self.offsets[self.slot_field]                          # (S,)
            hi = lo + np.asarray(self.sizes, dtype=np.int64)[self.slot_field]
            bad = (idx < lo) | (idx >= hi)                               # (B, S)
            if bad.any():
                b, s = np.argwhere(bad)[0]
                f = int(self.slot_field[s])
                v = int(idx[b, s])
                raise ValueError(
                    f"row {b}: id {v} in field {self.names[f]!r} (field {f}) is outside its rows "
                    f"[{int(lo[s])}, {int(hi[s])}); local id {v - int(lo[s])} not in [0, {self.sizes[f]})")
        if val is not None:
            val = np.asarray(val)
            if val.shape != idx.shape:
                raise ValueError(f"val must have the shape of idx {idx.shape}, got {val.shape}")
            if not np.isfinite(val).all():
                b, s = np.argwhere(~np.isfinite(val))[0]
                f = int(self.slot_field[s])
                raise ValueError(f"row {b}: value {val[b, s]} in field {self.names[f]!r} is not finite")

    # ---- (de)serialisation --------------------------------------------
    def to_dict(self) -> dict:
        return {"names": list(self.names), "sizes": list(self.sizes),
                "kinds": list(self.kinds), "widths": list(self.widths)}

    @classmethod
    def from_dict(cls, d: dict) -> "FieldLayout":
        return cls(tuple(d["names"]), tuple(d["sizes"]), tuple(d["kinds"]), tuple(d["widths"]))

    @classmethod
    def categorical(cls, sizes, prefix="C") -> "FieldLayout":
        """Shortcut: all-categorical layout with fields named C1..CF."""
        return cls(tuple(f"{prefix}{i + 1}" for i in range(len(sizes))), tuple(sizes))
