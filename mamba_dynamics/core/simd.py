"""Fixed-order SIMD building blocks for the Numba kernels: dot products, transposed matrix-vector products, small
matrix products and a vectorisable ``exp``, all float64, with the same bits on every machine.

Why they exist.  With fastmath off, LLVM vectorises no floating-point *reduction* (it would have to reassociate
the sum), and Numba turns LLVM's SLP vectoriser off (numba#8705, a miscompilation), so a 31-term dot product
in a Numba loop runs as scalar code however its partial sums are written.  The intrinsics below emit LLVM vector
IR (``<4 x double>``) directly: each lane is IEEE arithmetic, multiplications and additions are never fused, and
the assignment of terms to lanes and the order of the final reduction are fixed here, so the result is one
well-defined float64 expression, the same under SSE2, AVX2 or AVX-512 (docs/performance_history.md, "Fixed-order SIMD").

Glossary (flat offsets into C-contiguous float64 arrays of any rank, the caller's responsibility to keep in
range; nothing is bounds-checked):

* :func:`dot` ``(x, ix, y, iy, n)`` -> ``sum_k x[ix+k] y[iy+k]``, ``k < n``;
* :func:`dot2` ``(x, ix, y, iy, z, iz, n)`` -> the two dot products of ``x`` with ``y`` and with ``z``, one
  pass over ``x``;
* :func:`gemv_t` ``(x, ix, rows, n, c, ic, y, iy)``: ``y[iy+k] += sum_j c[ic+j] x[ix + j n + k]`` (``j < rows``,
  ``k < n``), i.e. ``y += X^T c`` for the row-major ``(rows, n)`` block ``X`` of ``x``;
* :func:`gemv_t2` ``(x, ix, rows, n, c, ic, d, id, y, iy, z, iz)``: ``y += X^T c`` and ``z += X^T d`` in one pass;
* :func:`gemm` ``(a, ia, sar, sak, b, ib, ldb, c, ic, ldc, rows, inner, cols, accumulate)``: ``C (+)= A B`` for
  blocks of views of any layout (offsets and strides in elements; ``A`` any strides, ``B`` and ``C`` unit
  column stride): register tiles of four rows by two vectors of :data:`GEMM_WIDTH` lanes, the last columns in
  masked lanes (nothing past the block is read or written);
* :func:`bmm` ``(A, B, C, accumulate)``: ``C[s] (+)= A[s] B[s]`` for a batch of ``(M, K) x (K, P)`` views, one
  :func:`gemm` each (a transposed ``B`` copied first); :func:`matmul` sends a small product there and a large
  one to BLAS (:func:`small_product`);
* :func:`exp_nonpos` ``(x)``: ``exp(x)`` for ``x <= 0`` (or NaN) in plain arithmetic, so that a loop calling it
  vectorises (libm's scalar ``exp`` does not); within 1 ulp of libm.

Summation orders (what the ``*_reference`` functions spell out in plain Python, and the tests check bit for bit):

* dot products: lane ``q`` of accumulator ``h`` sums the terms ``k = 8i + 4h + q`` in order of ``i``; a remaining
  chunk of four goes to accumulator 0; then ``v = acc0 + acc1`` and ``((v0 + v1) + (v2 + v3))``; then the last
  ``n mod 4`` terms one by one;
* ``gemv_t``: every output element sums over ``j`` in order, starting from its old value (the same bits as the
  plain double loop ``for j: for k: y[k] += c[j] * X[j, k]``);
* ``gemm``: likewise every element of ``C`` over ``k`` in order, from its old value or from zero, whatever the
  tile or vector width (lanes are independent): the plain triple loop's bits (:func:`gemm_reference`).
"""

from __future__ import annotations

import math
import os

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

_F64 = ir.DoubleType()
_I32 = ir.IntType(32)
_I64 = ir.IntType(64)
_V4 = ir.VectorType(_F64, 4)

def _host_width() -> int:
    """8 lanes where the core has AVX-512 (its 32 vector registers hold a tile of eight 8-lane sums), else 4; the
    environment variable ``MAMBA_DYNAMICS_GEMM_WIDTH`` (4 or 8) overrides it (to time an AVX2 core's tiles on an
    AVX-512 one, with ``NUMBA_CPU_NAME=haswell`` and a fresh ``NUMBA_CACHE_DIR``: the cached kernels keep the
    width they were compiled with; the results are the same bits at either width)."""
    forced = os.environ.get("MAMBA_DYNAMICS_GEMM_WIDTH", "")
    if forced in ("4", "8"):
        return int(forced)
    try:
        from llvmlite import binding

        return 8 if binding.get_host_cpu_features().get("avx512f", False) else 4
    except Exception:  # pragma: no cover - no feature query on this platform
        return 4


#: lanes per vector of :func:`gemm`'s tiles (8 with AVX-512, else 4): a speed choice only, each element's sum is
#: the same
GEMM_WIDTH = _host_width()


def simd_summary() -> str:
    """One line naming the vector instructions the kernels are compiled for (Numba's target CPU and whether it has
    AVX-512 or AVX2) and the lanes of :func:`gemm`'s tiles and of the dot products (the benchmarks' headers)."""
    try:
        from numba.core import config as numba_config
        from llvmlite import binding

        cpu = numba_config.CPU_NAME or binding.get_host_cpu_name()
        feats = binding.get_host_cpu_features()
        isa = "AVX-512" if feats.get("avx512f", False) and not numba_config.CPU_NAME else \
            ("AVX2" if feats.get("avx2", False) else "SSE2")
    except Exception:  # pragma: no cover - no feature query on this platform
        cpu, isa = "unknown", "unknown"
    return (f"SIMD: {isa} (Numba target {cpu}); gemm tiles of {GEMM_WIDTH} lanes, dot products of 4"
            + (" (forced by MAMBA_DYNAMICS_GEMM_WIDTH)" if os.environ.get("MAMBA_DYNAMICS_GEMM_WIDTH") else ""))


def _typed(arrays, ints, layouts="C") -> bool:
    return all(isinstance(a, types.Array) and a.dtype == types.float64 and a.layout in layouts for a in arrays) \
        and all(isinstance(i, types.Integer) for i in ints)


def _i64(context, builder, tys, args, i):
    """Argument ``i`` (an integer of any width) as an i64."""
    return context.cast(builder, args[i], tys[i], types.int64)


def _at(context, builder, tys, args, i):
    """Pointer to element ``args[i + 1]`` of the flattened array ``args[i]``."""
    data = context.make_array(tys[i])(context, builder, value=args[i]).data
    return builder.gep(data, [_i64(context, builder, tys, args, i + 1)])


def _vload(builder, base, k, w=4):
    """``w`` float64 from ``base[k]``: a ``<w x double>`` vector, or the scalar for ``w = 1``."""
    if w == 1:
        return builder.load(builder.gep(base, [k]))
    return builder.load(builder.bitcast(builder.gep(base, [k]), ir.VectorType(_F64, w).as_pointer()), align=8)


def _vstore(builder, value, base, k, w=4):
    if w == 1:
        builder.store(value, builder.gep(base, [k]))
        return
    builder.store(value, builder.bitcast(builder.gep(base, [k]), ir.VectorType(_F64, w).as_pointer()), align=8)


def _splat(builder, s, w=4):
    """The scalar ``s`` in every lane of a ``<w x double>`` (itself for ``w = 1``)."""
    if w == 1:
        return s
    v = ir.Constant(ir.VectorType(_F64, w), ir.Undefined)
    for q in range(w):
        v = builder.insert_element(v, s, ir.Constant(_I32, q))
    return v


def _fma_free(builder, acc, a, b):
    """``acc + a * b`` as two IEEE operations (no contraction flag, so never fused)."""
    return builder.fadd(acc, builder.fmul(a, b))


def _dots_ir(builder, x, ys, n):
    """IR of ``[sum_k x[k] y[k] for y in ys]`` in the module's fixed order; ``x``, ``ys`` pointers, ``n`` i64."""
    zero = ir.Constant(_V4, [0.0] * 4)
    accs = [[cgutils.alloca_once_value(builder, zero) for _ in range(2)] for _ in ys]
    n8 = builder.sdiv(n, ir.Constant(_I64, 8))
    with cgutils.for_range(builder, n8) as loop:
        k = builder.mul(loop.index, ir.Constant(_I64, 8))
        for h in range(2):
            kh = builder.add(k, ir.Constant(_I64, 4 * h))
            xv = _vload(builder, x, kh)
            for y, acc in zip(ys, accs):
                builder.store(_fma_free(builder, builder.load(acc[h]), xv, _vload(builder, y, kh)), acc[h])
    k4 = builder.mul(n8, ir.Constant(_I64, 8))
    has4 = builder.icmp_signed("<=", builder.add(k4, ir.Constant(_I64, 4)), n)
    with builder.if_then(has4):
        xv = _vload(builder, x, k4)
        for y, acc in zip(ys, accs):
            builder.store(_fma_free(builder, builder.load(acc[0]), xv, _vload(builder, y, k4)), acc[0])
    start = builder.select(has4, builder.add(k4, ir.Constant(_I64, 4)), k4)
    outs = []
    for acc in accs:
        v = builder.fadd(builder.load(acc[0]), builder.load(acc[1]))
        e = [builder.extract_element(v, ir.Constant(_I32, q)) for q in range(4)]
        tree = builder.fadd(builder.fadd(e[0], e[1]), builder.fadd(e[2], e[3]))
        outs.append(cgutils.alloca_once_value(builder, tree))
    with cgutils.for_range_slice(builder, start, n, ir.Constant(_I64, 1)) as (k, _):
        xk = builder.load(builder.gep(x, [k]))
        for y, out in zip(ys, outs):
            builder.store(_fma_free(builder, builder.load(out), xk, builder.load(builder.gep(y, [k]))), out)
    return [builder.load(o) for o in outs]


def _gemv_t_ir(builder, x, rows, n, cs, ys):
    """IR of ``y[k] += sum_j c[j] x[j n + k]`` for each pair ``(c, y)``: four columns per vector, the accumulators
    held in registers across the rows; the last ``n mod 4`` columns one by one."""
    n4 = builder.sdiv(n, ir.Constant(_I64, 4))
    with cgutils.for_range(builder, n4) as col:
        k = builder.mul(col.index, ir.Constant(_I64, 4))
        accs = [cgutils.alloca_once_value(builder, _vload(builder, y, k)) for y in ys]
        with cgutils.for_range(builder, rows) as row:
            j = row.index
            xv = _vload(builder, x, builder.add(builder.mul(j, n), k))
            for c, acc in zip(cs, accs):
                cj = _splat(builder, builder.load(builder.gep(c, [j])))
                builder.store(_fma_free(builder, builder.load(acc), cj, xv), acc)
        for y, acc in zip(ys, accs):
            _vstore(builder, builder.load(acc), y, k)
    with cgutils.for_range_slice(builder, builder.mul(n4, ir.Constant(_I64, 4)), n, ir.Constant(_I64, 1)) as (k, _):
        accs = [cgutils.alloca_once_value(builder, builder.load(builder.gep(y, [k]))) for y in ys]
        with cgutils.for_range(builder, rows) as row:
            j = row.index
            xk = builder.load(builder.gep(x, [builder.add(builder.mul(j, n), k)]))
            for c, acc in zip(cs, accs):
                builder.store(_fma_free(builder, builder.load(acc), builder.load(builder.gep(c, [j])), xk), acc)
        for y, acc in zip(ys, accs):
            builder.store(builder.load(acc), builder.gep(y, [k]))


def _lane_mask(builder, n, w):
    """``<w x i1>``: lane ``q`` set iff ``q < n`` (``n`` an i64)."""
    nv = ir.Constant(ir.VectorType(_I64, w), ir.Undefined)
    for q in range(w):
        nv = builder.insert_element(nv, n, ir.Constant(_I32, q))
    return builder.icmp_signed("<", ir.Constant(ir.VectorType(_I64, w), list(range(w))), nv)


def _masked(builder, name, w, argtys, ret):
    """The LLVM intrinsic ``llvm.masked.<name>.v<w>f64.p0``, declared once per module."""
    full = f"llvm.masked.{name}.v{w}f64.p0"
    fn = builder.module.globals.get(full)
    return fn if fn is not None else ir.Function(builder.module, ir.FunctionType(ret, argtys), name=full)


def _load_lanes(builder, base, k, w, mask):
    """``base[k : k + w]`` as a ``<w x double>``; with a ``mask`` (:func:`_lane_mask`) only the lanes set are read
    (the others zero; nothing past them is touched)."""
    if mask is None:
        return _vload(builder, base, k, w)
    vt = ir.VectorType(_F64, w)
    fn = _masked(builder, "load", w, [vt.as_pointer(), _I32, mask.type, vt], vt)
    ptr = builder.bitcast(builder.gep(base, [k]), vt.as_pointer())
    return builder.call(fn, [ptr, ir.Constant(_I32, 8), mask, ir.Constant(vt, [0.0] * w)])


def _store_lanes(builder, value, base, k, w, mask):
    """The lanes of ``value`` set in ``mask`` (all without one) into ``base[k : k + w]``."""
    if mask is None:
        _vstore(builder, value, base, k, w)
        return
    vt = ir.VectorType(_F64, w)
    fn = _masked(builder, "store", w, [vt, vt.as_pointer(), _I32, mask.type], ir.VoidType())
    builder.call(fn, [value, builder.bitcast(builder.gep(base, [k]), vt.as_pointer()), ir.Constant(_I32, 8), mask])


def _gemm_band_ir(builder, a, sar, sak, b, ldb, c, ldc, i0, rh, inner, cols, accumulate):
    """IR of a band of ``rh`` rows (from row ``i0``) of :func:`gemm`: the columns in tiles of two vectors of
    :data:`GEMM_WIDTH` (``W``); then the ``cols mod 2 W`` columns left in one tile, of one vector whose lanes past
    the last column are masked off, or of a whole vector and a masked one (one loop over ``k`` for all of them,
    so that a narrow block such as ``d = 10`` columns keeps many independent sums in flight).  Each tile's
    accumulators are held in registers over the ``inner`` loop; they start from ``C`` when ``accumulate`` (an
    i1), else from zero."""
    W = GEMM_WIDTH

    def tile(j0, widths):
        crow = [builder.mul(builder.add(i0, ir.Constant(_I64, r)), ldc) for r in range(rh)]
        cols_at = [builder.add(j0, ir.Constant(_I64, o)) for o, _ in widths]
        zero = ir.Constant(ir.VectorType(_F64, W), [0.0] * W)
        accs = [[cgutils.alloca_once_value(builder, builder.select(
            accumulate, _load_lanes(builder, c, builder.add(crow[r], j), W, m), zero))
            for j, (_, m) in zip(cols_at, widths)] for r in range(rh)]
        arow = [builder.mul(builder.add(i0, ir.Constant(_I64, r)), sar) for r in range(rh)]
        with cgutils.for_range(builder, inner) as loop:
            k = loop.index
            bk = builder.mul(k, ldb)
            bv = [_load_lanes(builder, b, builder.add(bk, j), W, m) for j, (_, m) in zip(cols_at, widths)]
            ak = builder.mul(k, sak)
            for r in range(rh):
                ar = _splat(builder, builder.load(builder.gep(a, [builder.add(arow[r], ak)])), W)
                for acc, bw in zip(accs[r], bv):
                    builder.store(_fma_free(builder, builder.load(acc), ar, bw), acc)
        for r in range(rh):
            for j, (_, m), acc in zip(cols_at, widths, accs[r]):
                _store_lanes(builder, builder.load(acc), c, builder.add(crow[r], j), W, m)

    cw = builder.sdiv(cols, ir.Constant(_I64, 2 * W))
    with cgutils.for_range(builder, cw) as ct:
        tile(builder.mul(ct.index, ir.Constant(_I64, 2 * W)), [(0, None), (W, None)])
    j = builder.mul(cw, ir.Constant(_I64, 2 * W))
    rem = builder.sub(cols, j)
    with builder.if_else(builder.icmp_signed(">", rem, ir.Constant(_I64, W))) as (two, one):
        with two:
            tile(j, [(0, None), (W, _lane_mask(builder, builder.sub(rem, ir.Constant(_I64, W)), W))])
        with one:
            with builder.if_then(builder.icmp_signed(">", rem, ir.Constant(_I64, 0))):
                tile(j, [(0, _lane_mask(builder, rem, W))])


def _gemm_ir(builder, a, sar, sak, b, ldb, c, ldc, rows, inner, cols, accumulate):
    """IR of :func:`gemm`: bands of four rows, then one of two if two or three rows are left, then one row."""
    def band(i, rh):
        _gemm_band_ir(builder, a, sar, sak, b, ldb, c, ldc, i, rh, inner, cols, accumulate)

    r4 = builder.sdiv(rows, ir.Constant(_I64, 4))
    with cgutils.for_range(builder, r4) as loop:
        band(builder.mul(loop.index, ir.Constant(_I64, 4)), 4)
    i = builder.mul(r4, ir.Constant(_I64, 4))
    has2 = builder.icmp_signed("<=", builder.add(i, ir.Constant(_I64, 2)), rows)
    with builder.if_then(has2):
        band(i, 2)
    i = builder.select(has2, builder.add(i, ir.Constant(_I64, 2)), i)
    with builder.if_then(builder.icmp_signed("<", i, rows)):
        band(i, 1)


@intrinsic
def dot(typingctx, x, ix, y, iy, n):
    """``sum_k x[ix+k] y[iy+k]`` for ``k < n`` (float64), in the module's fixed order."""
    if not _typed((x, y), (ix, iy, n)):
        return None
    sig = types.float64(x, ix, y, iy, n)

    def codegen(context, builder, signature, args):
        a = signature.args
        return _dots_ir(builder, _at(context, builder, a, args, 0), [_at(context, builder, a, args, 2)],
                        _i64(context, builder, a, args, 4))[0]

    return sig, codegen


@intrinsic
def dot2(typingctx, x, ix, y, iy, z, iz, n):
    """``(sum_k x[ix+k] y[iy+k], sum_k x[ix+k] z[iz+k])`` for ``k < n``: one pass over ``x``, each sum in the
    order of :func:`dot`."""
    if not _typed((x, y, z), (ix, iy, iz, n)):
        return None
    sig = types.UniTuple(types.float64, 2)(x, ix, y, iy, z, iz, n)

    def codegen(context, builder, signature, args):
        a = signature.args
        ptrs = [_at(context, builder, a, args, i) for i in (0, 2, 4)]
        r = _dots_ir(builder, ptrs[0], ptrs[1:], _i64(context, builder, a, args, 6))
        return context.make_tuple(builder, signature.return_type, r)

    return sig, codegen


@intrinsic
def gemv_t(typingctx, x, ix, rows, n, c, ic, y, iy):
    """``y[iy+k] += sum_j c[ic+j] x[ix + j n + k]`` (``j < rows``, ``k < n``): ``y += X^T c``, each element summed
    over ``j`` in order."""
    if not _typed((x, c, y), (ix, rows, n, ic, iy)):
        return None
    sig = types.void(x, ix, rows, n, c, ic, y, iy)

    def codegen(context, builder, signature, args):
        a = signature.args
        _gemv_t_ir(builder, _at(context, builder, a, args, 0), _i64(context, builder, a, args, 2),
                   _i64(context, builder, a, args, 3), [_at(context, builder, a, args, 4)],
                   [_at(context, builder, a, args, 6)])
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def gemv_t2(typingctx, x, ix, rows, n, c, ic, d, id_, y, iy, z, iz):
    """``y += X^T c`` and ``z += X^T d`` (as :func:`gemv_t`, ``d`` read at ``id_``) in one pass over ``X``."""
    if not _typed((x, c, d, y, z), (ix, rows, n, ic, id_, iy, iz)):
        return None
    sig = types.void(x, ix, rows, n, c, ic, d, id_, y, iy, z, iz)

    def codegen(context, builder, signature, args):
        a = signature.args
        at = [_at(context, builder, a, args, i) for i in (0, 4, 6, 8, 10)]
        _gemv_t_ir(builder, at[0], _i64(context, builder, a, args, 2), _i64(context, builder, a, args, 3),
                   at[1:3], at[3:5])
        return context.get_dummy_value()

    return sig, codegen


def _gemm_function(module):
    """The body of :func:`gemm` as one function of ``module`` (``noinline``, ``linkonce_odr``: one copy per
    linked module whatever the number of call sites).  Inlined at every call site, its tiles made a kernel with a
    dozen products take 20 s to compile (LLVM optimising each copy); a call costs a few ns per product."""
    name = f"mamba_dynamics_gemm_w{GEMM_WIDTH}"
    fn = module.globals.get(name)
    if fn is not None:
        return fn
    ptr = _F64.as_pointer()
    fnty = ir.FunctionType(ir.VoidType(), [ptr, _I64, _I64, ptr, _I64, ptr, _I64, _I64, _I64, _I64, ir.IntType(1)])
    fn = ir.Function(module, fnty, name=name)
    fn.linkage = "linkonce_odr"
    fn.attributes.add("noinline")
    for i in (0, 3, 5):
        fn.args[i].add_attribute("noalias")
    body = ir.IRBuilder(fn.append_basic_block("entry"))
    _gemm_ir(body, *fn.args)
    body.ret_void()
    return fn


@intrinsic
def gemm(typingctx, a, ia, sar, sak, b, ib, ldb, c, ic, ldc, rows, inner, cols, accumulate):
    """``c[ic + i ldc + j] (+)= sum_k a[ia + i sar + k sak] b[ib + k ldb + j]`` (``i < rows``, ``k < inner``, ``j <
    cols``): ``C = A B`` (``C += A B`` with ``accumulate``) for a block ``A`` of ``a`` with any strides (``sar``
    between rows, ``sak`` between columns: ``A^T`` is a block too) and row-major blocks ``B``, ``C`` (row strides
    ``ldb``, ``ldc``); offsets and strides in elements from each array's first one (views of any layout).  Each
    element of ``C`` is summed over ``k`` in order, from its old value (or from zero): the same bits as the plain
    triple loop (:func:`gemm_reference`), whatever the tiles.  Tiles of four rows by two vectors are held in
    registers over ``k``.  ``C`` must not overlap ``A`` or ``B`` (the function's pointers are ``noalias``)."""
    if not _typed((a, b, c), (ia, sar, sak, ib, ldb, ic, ldc, rows, inner, cols), "CFA") \
            or not isinstance(accumulate, types.Boolean):
        return None
    sig = types.void(a, ia, sar, sak, b, ib, ldb, c, ic, ldc, rows, inner, cols, accumulate)

    def codegen(context, builder, signature, args):
        s = signature.args

        def i64(i):
            return _i64(context, builder, s, args, i)

        flag = context.cast(builder, args[13], s[13], types.boolean)
        flag = builder.trunc(flag, ir.IntType(1)) if flag.type != ir.IntType(1) else flag
        builder.call(_gemm_function(builder.module), [
            _at(context, builder, s, args, 0), i64(2), i64(3), _at(context, builder, s, args, 4), i64(6),
            _at(context, builder, s, args, 7), i64(9), i64(10), i64(11), i64(12), flag])
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def f64_from_bits(typingctx, i):
    """The float64 whose IEEE bits are the int64 ``i`` (a bit cast, vectorisable)."""
    if not isinstance(i, types.Integer):
        return None
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], _F64)

    return sig, codegen


@njit(cache=True, error_model="numpy")
def bmm(A, B, C, accumulate):
    """Batched small products ``C[s] = A[s] B[s]`` (``C[s] += A[s] B[s]`` with ``accumulate``) for every ``s``:
    ``A`` ``(N, M, K)``, ``B`` ``(N, K, P)``, ``C`` ``(N, M, P)``, float64 views with any strides (a leading stride
    of 0 broadcasts one matrix), except that ``C``'s last one must be 1.  Each product is one :func:`gemm` (the
    same bits as the plain loop over ``k``); a ``B`` whose last stride is not 1 (a transposed view, ``X^T``) is
    first copied, one ``(K, P)`` matrix at a time.  Where NumPy's ``matmul`` calls BLAS once per matrix, which for
    the ``12 x 12`` products of the feature models costs more in the call than in the arithmetic (three times
    more with OpenBLAS's Haswell kernels; docs/performance_history.md, "The feature steps without BLAS")."""
    N, M, K = A.shape
    P = B.shape[2]
    sa0, sa1, sa2 = A.strides[0] // 8, A.strides[1] // 8, A.strides[2] // 8
    sb0, sb1 = B.strides[0] // 8, B.strides[1] // 8
    sc0, sc1 = C.strides[0] // 8, C.strides[1] // 8
    Bs = np.empty((K, P))
    for s in range(N):
        if B.strides[2] == 8:
            gemm(A, s * sa0, sa1, sa2, B, s * sb0, sb1, C, s * sc0, sc1, M, K, P, accumulate)
        else:
            for k in range(K):
                for p in range(P):
                    Bs[k, p] = B[s, k, p]
            gemm(A, s * sa0, sa1, sa2, Bs, 0, P, C, s * sc0, sc1, M, K, P, accumulate)


#: :func:`matmul` runs a product through :func:`bmm` when each matrix of ``B`` fits in this many bytes (in the
#: 48 kB L1 data cache of the machines measured, beside the tiles), else through NumPy's BLAS
SMALL_BYTES = 32 * 1024


def small_product(A: np.ndarray, B: np.ndarray, out: np.ndarray) -> bool:
    """Whether :func:`matmul` runs ``A @ B`` into ``out`` through :func:`bmm` (see there)."""
    return (B.shape[-2] * B.shape[-1] * 8 <= SMALL_BYTES or A.shape[-2] <= 16) and out.strides[-1] == 8


def matmul(A: np.ndarray, B: np.ndarray, out: np.ndarray, accumulate: bool = False) -> np.ndarray:
    """``out = A @ B`` (``out += A @ B`` with ``accumulate``) for float64 ``A`` ``(..., M, K)``, ``B`` ``(..., K,
    P)`` (2-D, or 3-D batches of the same length; any strides) and ``out`` ``(..., M, P)`` (last stride 1); returns
    ``out``.  A small ``B`` (:data:`SMALL_BYTES` per matrix) or a short ``A`` (16 rows or fewer, so that ``B`` is
    read at most four times) goes through :func:`bmm`: fixed order, the same bits on every machine, and faster
    than BLAS at these sizes (a BLAS call per matrix costs more than the arithmetic of a ``12 x 12`` product;
    docs/performance_history.md, "The feature steps without BLAS").  Anything larger through BLAS."""
    if small_product(A, B, out):
        if A.ndim == 2:
            bmm(A[None], B[None], out[None], accumulate)
        else:
            bmm(A, B, out, accumulate)
    elif accumulate:
        out += A @ B
    else:
        np.matmul(A, B, out=out)
    return out


@njit(cache=True, inline="always")
def exp_nonpos(x: float) -> float:
    """``exp(x)`` for ``x <= 0`` (``-inf`` gives 0, NaN gives NaN), in arithmetic alone so that a loop of it
    vectorises: ``n = round(x log2 e)``, ``r = (x - n LN2_HI) - n LN2_LO``, the degree-13 Taylor polynomial of
    ``exp(r)`` by Horner, and ``2^n`` applied as two exact powers of two (``2^(n//2) 2^(n - n//2)``, both normal)
    so that results in the subnormal range round once, as libm's do.  ``ln 2`` is split as in fdlibm (the high
    part has 21 trailing zero bits, so ``n LN2_HI`` is exact); on ``|r| <= ln(2)/2`` the polynomial's truncation
    error is below 1e-17 relative.  Measured within 1 ulp of libm's ``exp`` (90% of results equal) over
    ``[-750, 0]`` (tests/core/test_simd.py).  Not for ``x > 0``."""
    xc = x if x > -746.0 else -746.0  # exp(-746) rounds to 0; NaN also lands here and is restored below
    n = np.floor(xc * 1.4426950408889634 + 0.5)  # log2(e)
    r = (xc - n * 6.93147180369123816490e-01) - n * 1.90821492927058770002e-10  # LN2_HI, LN2_LO
    p = 1.0 / 6227020800.0  # 1/13!, then 1/12! ... 1/0! by Horner
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    ni = np.int64(n)
    h = ni >> 1
    y = (p * f64_from_bits((h + 1023) << 52)) * f64_from_bits((ni - h + 1023) << 52)
    return y if x == x else x


# ---------------------------------------------------------------------------------------------- references


def dot_reference(x: np.ndarray, y: np.ndarray) -> float:
    """Plain-Python :func:`dot` of two 1-D arrays ``(n,)``, term by term in the module's order."""
    n = len(x)
    acc = [[0.0] * 4, [0.0] * 4]
    k = 0
    while k + 8 <= n:
        for h in range(2):
            for q in range(4):
                acc[h][q] = acc[h][q] + float(x[k + 4 * h + q]) * float(y[k + 4 * h + q])
        k += 8
    if k + 4 <= n:
        for q in range(4):
            acc[0][q] = acc[0][q] + float(x[k + q]) * float(y[k + q])
        k += 4
    v = [acc[0][q] + acc[1][q] for q in range(4)]
    r = (v[0] + v[1]) + (v[2] + v[3])
    for k in range(k, n):
        r = r + float(x[k]) * float(y[k])
    return r


def gemv_t_reference(X: np.ndarray, c: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Plain-Python :func:`gemv_t`: ``X`` ``(rows, n)``, ``c`` ``(rows,)``, ``y`` ``(n,)``; returns the new ``y``."""
    out = [float(v) for v in y]
    for k in range(X.shape[1]):
        for j in range(X.shape[0]):
            out[k] = out[k] + float(c[j]) * float(X[j, k])
    return np.array(out)


def gemm_reference(A: np.ndarray, B: np.ndarray, C: np.ndarray) -> np.ndarray:
    """Plain-Python :func:`gemm`: ``A`` ``(rows, inner)`` (any strides), ``B`` ``(inner, cols)``, ``C`` ``(rows,
    cols)``; returns the new ``C``, each element summed over ``k`` in order from its old value."""
    out = np.array(C, dtype=np.float64)
    for i in range(A.shape[0]):
        for j in range(B.shape[1]):
            acc = float(out[i, j])
            for k in range(A.shape[1]):
                acc = acc + float(A[i, k]) * float(B[k, j])
            out[i, j] = acc
    return out


@njit(cache=True, inline="always")
def log1p_unit(e: float) -> float:
    """``log(1 + e)`` for ``0 <= e <= 1`` (the ``log1p(exp(-|t|))`` of softplus and log-sigmoid), in arithmetic
    alone so that a loop of it vectorises: ``log(1 + e) = 2 atanh(s)`` with ``s = e / (2 + e)`` in ``[0, 1/3]``, the
    odd series ``2 s (1 + s^2/3 + s^4/5 + ... + s^32/33)`` by Horner (truncation below 2e-17 relative at ``s =
    1/3``).  Measured within 3 ulp of libm's ``log1p`` over ``[0, 1]`` and down to 1e-300 (tests/core/test_simd.py);
    0 at 0, no cancellation for small ``e``.  Not for ``e`` outside ``[0, 1]``."""
    s = e / (2.0 + e)
    z = s * s
    p = 1.0 / 33.0
    p = p * z + 1.0 / 31.0
    p = p * z + 1.0 / 29.0
    p = p * z + 1.0 / 27.0
    p = p * z + 1.0 / 25.0
    p = p * z + 1.0 / 23.0
    p = p * z + 1.0 / 21.0
    p = p * z + 1.0 / 19.0
    p = p * z + 1.0 / 17.0
    p = p * z + 1.0 / 15.0
    p = p * z + 1.0 / 13.0
    p = p * z + 1.0 / 11.0
    p = p * z + 1.0 / 9.0
    p = p * z + 1.0 / 7.0
    p = p * z + 1.0 / 5.0
    p = p * z + 1.0 / 3.0
    p = p * z + 1.0
    return 2.0 * s * p


def log1p_unit_reference(e: float) -> float:
    """The C library's ``log1p`` (what :func:`log1p_unit` is measured against)."""
    return math.log1p(e)


def exp_nonpos_reference(x: float) -> float:
    """The C library's ``exp`` (what :func:`exp_nonpos` is measured against)."""
    return math.exp(x)


__all__ = ["dot", "dot2", "gemv_t", "gemv_t2", "gemm", "bmm", "matmul", "small_product", "SMALL_BYTES", "GEMM_WIDTH",
           "simd_summary",
           "exp_nonpos", "f64_from_bits", "dot_reference", "gemv_t_reference", "gemm_reference",
           "exp_nonpos_reference", "log1p_unit", "log1p_unit_reference"]
