"""Fixed-order SIMD building blocks for the Numba kernels: dot products, transposed matrix-vector products and a
vectorisable ``exp``, all float64, with the same bits on every machine.

Why they exist.  With fastmath off, LLVM vectorises no floating-point *reduction* (it would have to reassociate
the sum), and Numba turns LLVM's SLP vectoriser off (numba#8705, a miscompilation), so a 31-term dot product
in a Numba loop runs as scalar code however its partial sums are written.  The intrinsics below emit LLVM vector
IR (``<4 x double>``) directly: each lane is IEEE arithmetic, multiplications and additions are never fused, and
the assignment of terms to lanes and the order of the final reduction are fixed here, so the result is one
well-defined float64 expression, the same under SSE2, AVX2 or AVX-512 (docs/performance.md, "Fixed-order SIMD").

Glossary (flat offsets into C-contiguous float64 arrays of any rank, the caller's responsibility to keep in
range; nothing is bounds-checked):

* :func:`dot` ``(x, ix, y, iy, n)`` -> ``sum_k x[ix+k] y[iy+k]``, ``k < n``;
* :func:`dot2` ``(x, ix, y, iy, z, iz, n)`` -> the two dot products of ``x`` with ``y`` and with ``z``, one
  pass over ``x``;
* :func:`gemv_t` ``(x, ix, rows, n, c, ic, y, iy)``: ``y[iy+k] += sum_j c[ic+j] x[ix + j n + k]`` (``j < rows``,
  ``k < n``), i.e. ``y += X^T c`` for the row-major ``(rows, n)`` block ``X`` of ``x``;
* :func:`gemv_t2` ``(x, ix, rows, n, c, ic, d, id, y, iy, z, iz)``: ``y += X^T c`` and ``z += X^T d`` in one pass;
* :func:`exp_nonpos` ``(x)``: ``exp(x)`` for ``x <= 0`` (or NaN) in plain arithmetic, so that a loop calling it
  vectorises (libm's scalar ``exp`` does not); within 1 ulp of libm.

Summation orders (what the ``*_reference`` functions spell out in plain Python, and the tests check bit for bit):

* dot products: lane ``q`` of accumulator ``h`` sums the terms ``k = 8i + 4h + q`` in order of ``i``; a remaining
  chunk of four goes to accumulator 0; then ``v = acc0 + acc1`` and ``((v0 + v1) + (v2 + v3))``; then the last
  ``n mod 4`` terms one by one;
* ``gemv_t``: every output element sums over ``j`` in order, starting from its old value (the same bits as the
  plain double loop ``for j: for k: y[k] += c[j] * X[j, k]``).
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

_F64 = ir.DoubleType()
_I32 = ir.IntType(32)
_I64 = ir.IntType(64)
_V4 = ir.VectorType(_F64, 4)


def _is_f64_c_array(a) -> bool:
    return isinstance(a, types.Array) and a.dtype == types.float64 and a.layout == "C"


def _typed(arrays, ints) -> bool:
    return all(_is_f64_c_array(a) for a in arrays) and all(isinstance(i, types.Integer) for i in ints)


def _i64(context, builder, tys, args, i):
    """Argument ``i`` (an integer of any width) as an i64."""
    return context.cast(builder, args[i], tys[i], types.int64)


def _at(context, builder, tys, args, i):
    """Pointer to element ``args[i + 1]`` of the flattened array ``args[i]``."""
    data = context.make_array(tys[i])(context, builder, value=args[i]).data
    return builder.gep(data, [_i64(context, builder, tys, args, i + 1)])


def _vload(builder, base, k):
    return builder.load(builder.bitcast(builder.gep(base, [k]), _V4.as_pointer()), align=8)


def _vstore(builder, value, base, k):
    builder.store(value, builder.bitcast(builder.gep(base, [k]), _V4.as_pointer()), align=8)


def _splat(builder, s):
    v = ir.Constant(_V4, ir.Undefined)
    for q in range(4):
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


@intrinsic
def f64_from_bits(typingctx, i):
    """The float64 whose IEEE bits are the int64 ``i`` (a bit cast, vectorisable)."""
    if not isinstance(i, types.Integer):
        return None
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], _F64)

    return sig, codegen


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


def exp_nonpos_reference(x: float) -> float:
    """The C library's ``exp`` (what :func:`exp_nonpos` is measured against)."""
    return math.exp(x)


__all__ = ["dot", "dot2", "gemv_t", "gemv_t2", "exp_nonpos", "f64_from_bits", "dot_reference", "gemv_t_reference",
           "exp_nonpos_reference"]
