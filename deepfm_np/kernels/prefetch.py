"""prefetch(a, i, j): ask the CPU to start loading the cache line of a[i, j] now, without waiting for it.

Why: a shuffled epoch reads its records in random order. A record's ids and values (S int64 + S float32,
~470 bytes for S = 39) are far apart in a 75 MB data set, so the first read of each record misses every
cache and the core waits ~100 ns for memory; so do the table rows of a row update. A load the program
needs stalls it; a prefetch (LLVM's llvm.prefetch, x86 PREFETCHT0) does not: the kernel issues it for a
record a few iterations ahead and, by the time it gets there, the bytes are in L1.

It is only a hint: no value changes, no exception, and an address outside the array is harmless for the
hardware (no fault is raised), but the callers only prefetch elements they will read. The kernels that
use it are compared to their readable twins by the tests like any other kernel; the speed it buys is
measured by benchmarks/fm_speed.py.

Usable only inside @njit code (it is a Numba intrinsic: it compiles to one instruction).
    a: a 2-D array (any dtype, C or any layout); i, j: integers, the element a[i, j].
"""
from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

# The intrinsic's name carries its pointer type: "p0i8" (an i8*) is its name in the LLVM of numba 0.58;
# the LLVMs with opaque pointers rename it to "llvm.prefetch.p0" on reading (checked: PREFETCHT0 is emitted).
_NAME = "llvm.prefetch.p0i8"


@intrinsic
def prefetch(typingctx, a, i, j):
    """Prefetch the cache line holding a[i, j] into all cache levels, for reading (no bounds check)."""
    if not (isinstance(a, types.Array) and a.ndim == 2 and isinstance(i, types.Integer)
            and isinstance(j, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        aty = sig.args[0]
        arr = context.make_array(aty)(context, builder, args[0])
        ii = context.cast(builder, args[1], sig.args[1], types.intp)
        jj = context.cast(builder, args[2], sig.args[2], types.intp)
        ptr = cgutils.get_item_pointer2(context, builder, data=arr.data,
                                        shape=cgutils.unpack_tuple(builder, arr.shape),
                                        strides=cgutils.unpack_tuple(builder, arr.strides),
                                        layout=aty.layout, inds=[ii, jj], boundscheck=False)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
                                            _NAME)
        # (address, rw = 0 read, locality = 3 keep in all levels, cache type = 1 data)
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(a, i, j), codegen
