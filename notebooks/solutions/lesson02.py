"""Lesson 02 exercise: the dense layer's backward, out = x W + b."""


def dense_backward(dout, cache):
    """dout (B, D_out), cache (x (B, D_in), W (D_in, D_out)) -> dx (B, D_in), dW (D_in, D_out), db (D_out,)."""
    x, W = cache
    return dout @ W.T, x.T @ dout, dout.sum(axis=0)
