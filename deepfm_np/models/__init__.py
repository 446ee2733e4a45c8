"""Models of the paper's Table 2, each composing the shared layers."""
from .base import Model  # noqa: F401
from .deepfm import DeepFM  # noqa: F401
from .fm import FM  # noqa: F401
from .lr import LR  # noqa: F401
from .registry import SPECS, build_model, model_names  # noqa: F401
