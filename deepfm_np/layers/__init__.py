"""Layers: forward/backward pairs. Each forward returns (out, cache); each backward takes (dout, cache)."""
from .activations import get_activation, relu_backward, relu_forward, sigmoid, tanh_backward, tanh_forward  # noqa: F401
from .dense import dense_backward, dense_forward  # noqa: F401
from .dropout import dropout_backward, dropout_forward  # noqa: F401
from .embedding import embedding_backward, embedding_forward, first_order_backward, first_order_forward  # noqa: F401
from .fm import field_sums, fm_backward, fm_forward, fm_pairs, fm_pairs_naive  # noqa: F401
from .pooling import field_pool_backward, field_pool_forward  # noqa: F401
from .mlp import MLP  # noqa: F401
