"""Carry a trained model out of deepfm_np: an ONNX graph with its preprocessing, or a PyTorch module.

Each exporter is an optional extra and is imported only when called, so the core library never needs
onnx or torch:

    from deepfm_np.export import to_onnx, to_torch
"""
from __future__ import annotations


def to_onnx(saved, *args, **kwargs):
    """ONNX graph of a saved model (extra `onnx`); see `export/onnx_graph.py`."""
    from .onnx_graph import to_onnx as _to_onnx
    return _to_onnx(saved, *args, **kwargs)


def to_torch(saved, *args, **kwargs):
    """`torch.nn.Module` with the saved model's weights (extra `torch`); see `export/torch_module.py`."""
    from .torch_module import to_torch as _to_torch
    return _to_torch(saved, *args, **kwargs)
