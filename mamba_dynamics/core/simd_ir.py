"""The fixed-order SIMD building blocks of :mod:`mamba_dynamics.core.simd` as LLVM vector IR (Numba intrinsics):
the fast implementation, chosen by :mod:`~mamba_dynamics.core.simd` where Numba's and llvmlite's intrinsic
interfaces (``numba.extending.intrinsic``, ``numba.core.cgutils``, ``llvmlite.ir``, not public API) are available.
Same contracts and summation orders as the plain-Numba fallback there (tested bit for bit)."""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .simd_width import GEMM_WIDTH

_F64 = ir.DoubleType()
_I32 = ir.IntType(32)
_I64 = ir.IntType(64)
_V4 = ir.VectorType(_F64, 4)


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
    so that a narrow block such as ``d = 10`` columns keeps many independent sums in flight).  A remainder of at
    most one vector after at least one two-vector tile joins the last of them, a tile of three vectors (10 or 12
    columns at four lanes, 17 at eight: one pass over ``k`` instead of two; four rows by three vectors are 12
    accumulators, within AVX2's 16 registers).  Each tile's
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
    rem = builder.sub(cols, builder.mul(cw, ir.Constant(_I64, 2 * W)))
    small = builder.icmp_signed("<=", rem, ir.Constant(_I64, W))
    # a remainder of at most one vector joins the last two-vector tile (three vectors, one pass over k)
    wide = builder.and_(builder.and_(small, builder.icmp_signed(">", rem, ir.Constant(_I64, 0))),
                        builder.icmp_signed(">", cw, ir.Constant(_I64, 0)))
    pairs = builder.select(wide, builder.sub(cw, ir.Constant(_I64, 1)), cw)
    with cgutils.for_range(builder, pairs) as ct:
        tile(builder.mul(ct.index, ir.Constant(_I64, 2 * W)), [(0, None), (W, None)])
    j = builder.mul(pairs, ir.Constant(_I64, 2 * W))
    with builder.if_else(wide) as (three, rest):
        with three:
            tile(j, [(0, None), (W, None), (2 * W, _lane_mask(builder, rem, W))])
        with rest:
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
