"""Fully connected layer: out = x W + b.

    x (B, D_in), W (D_in, D_out), b (D_out,) -> out (B, D_out)

Backward (chain rule on a matrix product):

    dx = dout W^T        (B, D_in)
    dW = x^T dout        (D_in, D_out)
    db = sum_b dout      (D_out,)
"""
from __future__ import annotations



def dense_forward(x, W, b):
    """x (B, D_in), W (D_in, D_out), b (D_out,) -> out (B, D_out), cache."""
    out = x @ W
    out += b
    return out, (x, W)


def dense_backward(dout, cache, need_dx=True, db=None):
    """dout (B, D_out) -> dx (B, D_in) or None, dW (D_in, D_out), db (D_out,).

    need_dx=False skips dx (a matrix product) when nothing upstream needs it.
    db: the bias gradient, when a fused kernel already summed dout (kernels/relu_dropout.py).
    """
    x, W = cache
    dW = x.T @ dout
    if db is None:
        db = dout.sum(axis=0)
    if not need_dx:
        dx = None
    elif W.shape[1] == 1:                      # one output unit: an outer product, cheaper than a GEMM call
        dx = dout * W[:, 0]                    # (B, 1) * (D_in,) -> (B, D_in)
    else:
        dx = dout @ W.T
    return dx, dW, db
