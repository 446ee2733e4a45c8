"""scikit-learn interface (extra `sklearn`): `from deepfm_np.sklearn import DeepFMClassifier`.

Imports scikit-learn, so the core library never does; see estimator.py.
"""
from .estimator import DeepFMClassifier

__all__ = ["DeepFMClassifier"]
