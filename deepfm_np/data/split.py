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

Stratified (the default): on a file with few clicks a hash can hold out
noticeably fewer positives than the fraction (26 of ~2,700 on a 1% file), and
early stopping then watches noise. So each class is split on its own, by
systematic sampling along the file: the k-th row of class c (k = 0, 1, ...)
goes to "valid" when

    floor((k + 1) * fraction + o_c) > floor(k * fraction + o_c),   o_c = u(seed, c) in [0, 1)

which holds out round(N_c * fraction) rows of each class (+-1), spread evenly
over the file (a time-ordered log is sampled across its whole span), the same
in every pass and for every chunking (the counts k carry across chunks).
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

    def __init__(self, reader, fraction: float = 0.1, seed: int = 0, part: str = "train", stratified: bool = True):
        if part not in ("train", "valid"):
            raise ValueError(f"part must be 'train' or 'valid', got {part!r}")
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"holdout fraction must be in (0, 1), got {fraction}")
        self.reader, self.fraction, self.seed, self.part = reader, float(fraction), int(seed), part
        self.stratified = bool(stratified)
        self.columns = reader.columns
        self.path = reader.path
        self.format = getattr(reader, "format", None)
        self.stats = ReadStats()

    def chunks(self):
        self.stats = ReadStats()
        seen = {0: 0, 1: 0}                                      # rows of each class before this chunk
        for chunk in self.reader.chunks():
            held = self.held_out(chunk.y, chunk.lines, seen)
            rows = np.flatnonzero(held if self.part == "valid" else ~held)
            self.stats.rows += rows.shape[0]
            if rows.shape[0]:
                yield take_rows(chunk, rows)
        self.finish_stats()

    def held_out(self, y: np.ndarray, lines: np.ndarray, seen: dict | None = None) -> np.ndarray:
        """(n,) bool: which of these consecutive rows (labels y, line numbers lines) are held out.

        seen: {class: rows of that class before these} (updated), so that calling this chunk after
        chunk gives what one call on the whole file gives; None for one call on the whole file.
        """
        seen = {0: 0, 1: 0} if seen is None else seen
        if not self.stratified:
            return holdout_mask(lines, self.fraction, self.seed)
        z = splitmix64_numpy(np.array([(self.seed & 0xFFFFFFFF) * 2, (self.seed & 0xFFFFFFFF) * 2 + 1], dtype=np.uint64))
        offset = dict(enumerate((z >> _U(11)).astype(np.float64) / float(1 << 53)))   # o_c per class
        held = np.zeros(y.shape[0], dtype=bool)
        for c in (0, 1):
            where = np.flatnonzero(y == c)
            k = seen[c] + np.arange(where.shape[0], dtype=np.float64)
            f, o = self.fraction, offset[c]
            held[where] = np.floor((k + 1) * f + o) > np.floor(k * f + o)
            seen[c] += where.shape[0]
        return held

    def finish_stats(self) -> None:
        """After a pass over the file: the file's counts go to the train part; refuse an empty part."""
        inner = self.reader.stats
        if self.part == "train":       # the file's bad rows and NaNs are counted once, with the train part
            self.stats.skipped, self.stats.nonfinite = inner.skipped, inner.nonfinite
            self.stats.first_skipped = list(inner.first_skipped)
        if self.stats.rows == 0:
            raise DataError(f"the {self.part} part of a {self.fraction:.0%} holdout is empty "
                            f"({inner.rows} rows in the file)", self.path)
