"""Elementwise activations, each a forward/backward pair.

    relu(z)    = max(z, 0)        relu'(z)    = [z > 0]
    tanh(z)                       tanh'(z)    = 1 - tanh(z)^2
    sigmoid(z) = 1 / (1 + e^-z)   (computed without overflow for |z| up to 1e308)
"""
from __future__ import annotations

import numpy as np


def relu_forward(z):
    """z (...) -> a (...), cache."""
    a = np.maximum(z, 0)
    return a, a


def relu_backward(da, cache):
    """Pass the gradient where the unit was active (a > 0 iff z > 0)."""
    a = cache
    return da * (a > 0)


def tanh_forward(z):
    a = np.tanh(z)
    return a, a


def tanh_backward(da, cache):
    a = cache
    return da * (1 - a * a)


ACTIVATIONS = {"relu": (relu_forward, relu_backward), "tanh": (tanh_forward, tanh_backward)}


def get_activation(name):
    """(forward, backward) for 'relu' or 'tanh'; a clear error otherwise."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}") from None


def sigmoid(z):
    """Numerically stable logistic function: never evaluates exp of a positive number."""
    z = np.asarray(z)
    e = np.exp(-np.abs(z))                                     # in (0, 1], no overflow
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))
