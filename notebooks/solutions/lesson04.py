"""Lesson 04 exercise: lazy Adam on the touched rows, with a per-row step count."""
import numpy as np


def lazy_adam_update(table, m, v, count, rows, g, lr, beta1, beta2, eps):
    """In place. table, m, v (R, K); count (R,) int64; rows (U,) unique; g (U, K) summed gradients."""
    count[rows] += 1
    c = count[rows][:, None].astype(np.float64)            # each row's own step count
    m[rows] = beta1 * m[rows] + (1 - beta1) * g
    v[rows] = beta2 * v[rows] + (1 - beta2) * g * g
    m_hat = m[rows] / (1 - beta1 ** c)
    v_hat = v[rows] / (1 - beta2 ** c)
    table[rows] -= lr * m_hat / (np.sqrt(v_hat) + eps)
