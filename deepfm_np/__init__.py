"""deepfm_np: DeepFM (Guo et al., IJCAI 2017) and its baselines, by hand in NumPy + Numba."""
__version__ = "0.1.0"

from .fields import FieldLayout, OOV  # noqa: F401
