"""Fast code: Numba kernels, each beside the plain NumPy twin the tests compare it to.

    inputs.py        the wrappers' input checks (check_array, check_ids)
    rows.py          gather, scatter-add, the sparse optimizers' row updates, fused dense Adam
    relu_dropout.py  the MLP's fused (bias +) relu + dropout, forward and backward
    splitmix.py      SplitMix64, the counter-based bits of every dropout mask and of the holdout split
    fm_step.py       a whole FM / LR step in two passes (its twin: the readable layers + optim.py)
    prefetch.py      prefetch(a, i, j): a cache hint for the shuffled records and rows the FM step reads
    noalias.py       NoAliasCompiler: Numba's pipeline with its noalias flag, for kernels whose written
                     arrays never overlap another argument (models/step.py checks that before fusing)

Leaves of the import graph: nothing here imports layers, models or training (tests/test_imports.py).
DeepFM's fused front end is not here but beside its model (models/deepfm_front.py): its readable
twin is a composition of layers.
"""
