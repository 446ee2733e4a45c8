"""SplitMix64 (Steele, Lea and Flood 2014): the one source of hashed random bits in the package.

Two users need random bits that are a pure function of a counter, not of a generator's state:
the dropout masks (bit n of a mask depends only on (seed, n), so a kernel may evaluate units in any
order and a NumPy twin gets the same bits) and the streaming holdout split (a row's fate depends
only on its line number, so it is the same in every pass and for every chunking of the file).

The generator's n-th output (n = 0, 1, ...) from state s is

    splitmix64(s + n G),   G = 0x9E3779B97F4A7C15 (2^64 / golden ratio)
    splitmix64(z) = mix(z + G)
    mix(z): z ^= z >> 30; z *= 0xBF58476D1CE4E5B9; z ^= z >> 27; z *= 0x94D049BB133111EB; z ^= z >> 31

all in uint64 arithmetic (mod 2^64). The formula is written ONCE, in `_splitmix64`: NumPy evaluates
it on uint64 arrays (splitmix64_numpy) and Numba compiles the same function for scalars inside the
kernels (splitmix64), so the two cannot drift apart; tests/test_fused.py compares them.

The dropout mask built on it:

    keep_n = (splitmix64(seed + n G) >> 32) < round(keep * 2^32)      unit n = b*H + h of a (B, H) layer

`seed` is ONE draw from the run's np.random.Generator per layer and step (dropout_seed), so a run's
seed still fixes every mask, and a gradient check replays a mask by passing a fresh generator with
the same seed.
"""
from __future__ import annotations

import numpy as np
from numba import njit

GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _splitmix64(z):
    """The first output of SplitMix64 from state z (a uint64 scalar or array)."""
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


splitmix64 = njit(cache=True, inline="always")(_splitmix64)     # uint64 scalar -> uint64, for kernels


def splitmix64_numpy(z) -> np.ndarray:
    """(n,) integer array -> (n,) uint64: `_splitmix64` element by element."""
    with np.errstate(over="ignore"):                               # uint64 arithmetic wraps mod 2^64
        return _splitmix64(np.asarray(z).astype(np.uint64))


def dropout_seed(rng: np.random.Generator) -> int:
    """One 63-bit seed for one layer's mask in one step, drawn from the run's generator."""
    if rng is None:
        raise ValueError("dropout in training mode needs an rng (np.random.Generator)")
    return int(rng.integers(0, 2**63 - 1, dtype=np.int64))


def keep_threshold(keep_prob: float) -> int:
    """round(keep * 2^32): unit n is kept when the top 32 bits of its hash are below this."""
    if not 0.0 < keep_prob <= 1.0:
        raise ValueError(f"keep_prob must be in (0, 1], got {keep_prob}")
    return int(round(float(keep_prob) * 2.0**32))


def keep_mask_numpy(seed: int, n: int, keep_prob: float) -> np.ndarray:
    """The first n mask bits (n,) bool of `seed`: the readable definition of every dropout mask."""
    with np.errstate(over="ignore"):
        state = np.uint64(seed) + np.arange(n, dtype=np.uint64) * GOLDEN
    return (splitmix64_numpy(state) >> np.uint64(32)) < np.uint64(keep_threshold(keep_prob))


@njit(cache=True, inline="always")
def keep_unit(seed, n, thresh):
    """keep_n for counter n (uint64 seed, int n, uint64 thresh), inside a kernel."""
    return (splitmix64(seed + np.uint64(n) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(32)) < thresh
