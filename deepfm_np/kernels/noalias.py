"""NoAliasCompiler: a Numba compiler pipeline that tells LLVM a kernel's array arguments never overlap.

    @njit(cache=True, error_model="numpy", pipeline_class=NoAliasCompiler)
    def kernel(table, grads, ...): ...

Why: LLVM must assume that any two pointers it is handed may point into the same memory. In a loop that
reads the table V and writes the gradient rows gV, a store to gV[u, k] might then change V[r, k] (or
the scratch rows the loop reads next), so every value is reloaded after every store and the loops
over k stay scalar: a vector of 8 float64 per instruction is only correct when the 8 stores cannot
land on the 8 loads. Numba's own `noalias` compiler flag marks every pointer argument of the compiled
function `noalias` (and `captures(none)`): LLVM may then assume the memory one argument writes is
reached through that argument only. Numba has no decorator option for it, but the documented way to
customise a compilation, a pipeline class (`njit(pipeline_class=...)`), may set it: this one is the
standard nopython pipeline with that flag on.

The promise it makes, which the caller must keep: every array a kernel WRITES shares no memory with any
other array argument (arrays that are only read may overlap each other). The kernels of fm_step.py that
use it are called by models/step.py only, with tables and optimizer state arrays (each its own
allocation), the step's own scratch (slot map, uniq, gradient rows, allocated by the step) and the data
set's idx, val, y (read only). Were the promise broken the results would be undefined, so no public
function takes arbitrary arrays into such a kernel.

Caching: `cache=True` works as usual: the flag is baked into the cached machine code. Numba keys a
kernel's cache by the kernel's own file, so after editing THIS file touch the files of its users (or
clear their __pycache__). tests/test_fm_step.py checks that the flag reaches LLVM's IR.
"""
from __future__ import annotations

from numba.core.compiler import CompilerBase, DefaultPassBuilder


class NoAliasCompiler(CompilerBase):
    """The nopython pipeline with Numba's `noalias` flag: array arguments are marked noalias for LLVM."""

    def define_pipelines(self):
        self.state.flags.noalias = True          # read when the function is lowered to LLVM IR
        return [DefaultPassBuilder.define_nopython_pipeline(self.state)]
