"""Fast code: Numba kernels, each beside the plain NumPy twin the tests compare it to.

Leaves of the import graph: nothing here imports layers, models or training.
"""
