"""A seeded, streaming train/validation split of one file: `HoldoutReader`.

When no validation file is given, a fraction of the training file is held
out for early stopping. The split must be the same in both streaming passes
(counting and encoding) and must not depend on how the file is cut into
chunks, so each row's fate is a pure function of its line number and the
seed - a hash, not a random generator that advances:

    u(line) = splitmix64(line + seed * 2^32) / 2^64        in [0, 1)   (kernels/splitmix.py)
    row goes to "valid" if u(line) < fraction, else to "train"

The encoder is then fitted on the "train" part only, so the validation rows
are as unseen as test rows (no leakage through the vocabularies).
"""
from __future__ import annotations

import numpy as np

from ..errors import DataError
from ..kernels.splitmix import splitmix64_numpy
from .raw import ReadStats, take_rows

_U = np.uint64


def holdout_mask(lines: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """True for the rows (by 1-based line number) that go to the held-out part."""
    z = splitmix64_numpy(np.asarray(lines, dtype=np.uint64) + _U((int(seed) & 0xFFFFFFFF) << 32))
    return (z >> _U(11)).astype(np.float64) / float(1 << 53) < fraction


class HoldoutReader:
    """The "train" or "valid" part of `reader`'s rows; same interface as a reader.

    Both parts read the whole file; the file's skipped bad rows and NaN/inf
    counts appear in the "train" part's stats only, so adding the two parts'
    stats counts each bad row once.
    """

    def __init__(self, reader, fraction: float = 0.1, seed: int = 0, part: str = "train"):
        if part not in ("train", "valid"):
            raise ValueError(f"part must be 'train' or 'valid', got {part!r}")
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"holdout fraction must be in (0, 1), got {fraction}")
        self.reader, self.fraction, self.seed, self.part = reader, float(fraction), int(seed), part
        self.columns = reader.columns
        self.path = reader.path
        self.format = getattr(reader, "format", None)
        self.stats = ReadStats()

    def chunks(self):
        self.stats = ReadStats()
        for chunk in self.reader.chunks():
            held = holdout_mask(chunk.lines, self.fraction, self.seed)
            rows = np.flatnonzero(held if self.part == "valid" else ~held)
            self.stats.rows += rows.shape[0]
            if rows.shape[0]:
                yield take_rows(chunk, rows)
        inner = self.reader.stats
        if self.part == "train":       # the file's bad rows and NaNs are counted once, with the train part
            self.stats.skipped, self.stats.nonfinite = inner.skipped, inner.nonfinite
            self.stats.first_skipped = list(inner.first_skipped)
        if self.stats.rows == 0:
            raise DataError(f"the {self.part} part of a {self.fraction:.0%} holdout is empty "
                            f"({inner.rows} rows in the file)", self.path)
