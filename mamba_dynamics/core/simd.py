"""Fixed-order SIMD building blocks for the Numba kernels: dot products, transposed matrix-vector products, small
matrix products and a vectorisable ``exp``, all float64, with the same bits on every machine.

Why they exist.  With fastmath off, LLVM vectorises no floating-point *reduction* (it would have to reassociate
the sum), and Numba turns LLVM's SLP vectoriser off (numba#8705, a miscompilation), so a 31-term dot product
in a Numba loop runs as scalar code however its partial sums are written.  The intrinsics below emit LLVM vector
IR (``<4 x double>``) directly: each lane is IEEE arithmetic, multiplications and additions are never fused, and
the assignment of terms to lanes and the order of the final reduction are fixed here, so the result is one
well-defined float64 expression, the same under SSE2, AVX2 or AVX-512 (docs/performance_history.md, "Fixed-order SIMD").

Two implementations, one contract.  The intrinsics (:mod:`~mamba_dynamics.core.simd_ir`) rely on Numba's and
llvmlite's intrinsic interfaces, which are not public API; where those do not import, or with the environment
variable ``MAMBA_DYNAMICS_SIMD=plain``, the kernels run a plain-Numba fallback defined here (``_dot_plain``,
``_gemm_plain``, ...: the same terms in the same order, over ``numpy.lib.stride_tricks.as_strided`` views of the
arrays' memory; slower, the same bits, tested against the intrinsics one by one and through model steps in a
forced process).  :data:`IMPLEMENTATION` says which runs; :func:`simd_summary` names it in the benchmarks'
headers.  Forcing the fallback on a machine that has cached kernels needs a fresh ``NUMBA_CACHE_DIR`` (a cached
kernel keeps the implementation it was compiled with).

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
from numba import njit
from numpy.lib.stride_tricks import as_strided

from .simd_width import GEMM_WIDTH


def _intrinsics_wanted() -> bool:
    """Whether to use the LLVM-IR intrinsics (:mod:`~mamba_dynamics.core.simd_ir`): unless the environment
    variable ``MAMBA_DYNAMICS_SIMD=plain`` asks for the plain-Numba fallback."""
    return os.environ.get("MAMBA_DYNAMICS_SIMD", "").lower() != "plain"


try:
    if not _intrinsics_wanted():
        raise ImportError("MAMBA_DYNAMICS_SIMD=plain")
    from . import simd_ir as _ir
except ImportError:  # numba or llvmlite without the interfaces the intrinsics use, or the fallback asked for
    _ir = None
#: which implementation the kernels run: ``"intrinsics"`` (LLVM vector IR) or ``"plain"`` (the Numba fallback)
IMPLEMENTATION = "plain" if _ir is None else "intrinsics"


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
    if IMPLEMENTATION == "plain":
        return f"SIMD: plain-Numba fallback (MAMBA_DYNAMICS_SIMD=plain or no intrinsics; Numba target {cpu}, {isa})"
    return (f"SIMD: {isa} (Numba target {cpu}); gemm tiles of {GEMM_WIDTH} lanes, dot products of 4"
            + (" (forced by MAMBA_DYNAMICS_GEMM_WIDTH)" if os.environ.get("MAMBA_DYNAMICS_GEMM_WIDTH") else ""))


# ---------------------------------------------------------------------------------- the plain-Numba fallback


@njit(cache=True, inline="always")
def _flat(a, extent):  # pragma: no cover - compiled
    """``a``'s memory from its first element as a 1-D array of ``extent`` float64 (offsets in elements, any
    layout: the element at offset ``f`` is the one the intrinsics address as ``a + f``)."""
    return as_strided(a, shape=(extent,), strides=(8,))


@njit(cache=True, inline="always")
def _dot_plain(x, ix, y, iy, n):  # pragma: no cover - compiled
    """:func:`dot` in plain Numba: the same terms in the same lanes and the same final reduction."""
    xf, yf = _flat(x, ix + n), _flat(y, iy + n)
    a0 = a1 = a2 = a3 = b0 = b1 = b2 = b3 = 0.0
    k = 0
    while k + 8 <= n:
        a0 = a0 + xf[ix + k] * yf[iy + k]
        a1 = a1 + xf[ix + k + 1] * yf[iy + k + 1]
        a2 = a2 + xf[ix + k + 2] * yf[iy + k + 2]
        a3 = a3 + xf[ix + k + 3] * yf[iy + k + 3]
        b0 = b0 + xf[ix + k + 4] * yf[iy + k + 4]
        b1 = b1 + xf[ix + k + 5] * yf[iy + k + 5]
        b2 = b2 + xf[ix + k + 6] * yf[iy + k + 6]
        b3 = b3 + xf[ix + k + 7] * yf[iy + k + 7]
        k += 8
    if k + 4 <= n:
        a0 = a0 + xf[ix + k] * yf[iy + k]
        a1 = a1 + xf[ix + k + 1] * yf[iy + k + 1]
        a2 = a2 + xf[ix + k + 2] * yf[iy + k + 2]
        a3 = a3 + xf[ix + k + 3] * yf[iy + k + 3]
        k += 4
    r = ((a0 + b0) + (a1 + b1)) + ((a2 + b2) + (a3 + b3))
    while k < n:
        r = r + xf[ix + k] * yf[iy + k]
        k += 1
    return r


@njit(cache=True, inline="always")
def _dot2_plain(x, ix, y, iy, z, iz, n):  # pragma: no cover - compiled
    """:func:`dot2` in plain Numba (two :func:`dot` sums)."""
    return _dot_plain(x, ix, y, iy, n), _dot_plain(x, ix, z, iz, n)


@njit(cache=True, inline="always")
def _gemv_t_plain(x, ix, rows, n, c, ic, y, iy):  # pragma: no cover - compiled
    """:func:`gemv_t` in plain Numba: each element of ``y`` summed over ``j`` in order from its old value."""
    xf, cf, yf = _flat(x, ix + rows * n), _flat(c, ic + rows), _flat(y, iy + n)
    for j in range(rows):
        cj = cf[ic + j]
        for k in range(n):
            yf[iy + k] = yf[iy + k] + cj * xf[ix + j * n + k]


@njit(cache=True, inline="always")
def _gemv_t2_plain(x, ix, rows, n, c, ic, d, id_, y, iy, z, iz):  # pragma: no cover - compiled
    """:func:`gemv_t2` in plain Numba."""
    _gemv_t_plain(x, ix, rows, n, c, ic, y, iy)
    _gemv_t_plain(x, ix, rows, n, d, id_, z, iz)


@njit(cache=True)
def _gemm_plain(a, ia, sar, sak, b, ib, ldb, c, ic, ldc, rows, inner, cols, accumulate):  # pragma: no cover
    """:func:`gemm` in plain Numba: each element of ``C`` summed over ``k`` in order (from its old value or
    zero), the plain triple loop of :func:`gemm_reference`."""
    if rows <= 0 or cols <= 0:
        return
    af = _flat(a, ia + (rows - 1) * sar + max(inner - 1, 0) * sak + 1)
    bf = _flat(b, ib + max(inner - 1, 0) * ldb + cols)
    cf = _flat(c, ic + (rows - 1) * ldc + cols)
    for i in range(rows):
        for j in range(cols):
            acc = cf[ic + i * ldc + j] if accumulate else 0.0
            for k in range(inner):
                acc = acc + af[ia + i * sar + k * sak] * bf[ib + k * ldb + j]
            cf[ic + i * ldc + j] = acc


@njit(cache=True, inline="always")
def _f64_from_bits_plain(i):  # pragma: no cover - compiled
    """:func:`f64_from_bits` in plain Numba, by ``ldexp`` (exact for every finite value)."""
    e = (i >> 52) & 0x7FF
    m = i & 0xFFFFFFFFFFFFF
    if e == 0x7FF:
        v = np.inf if m == 0 else np.nan
    elif e == 0:
        v = math.ldexp(float(m), -1074)
    else:
        v = math.ldexp(float(m + 0x10000000000000), e - 1075)
    return -v if (i >> 63) & 1 else v


if _ir is None:
    dot, dot2, gemv_t, gemv_t2 = _dot_plain, _dot2_plain, _gemv_t_plain, _gemv_t2_plain
    gemm, f64_from_bits = _gemm_plain, _f64_from_bits_plain
else:
    dot, dot2, gemv_t, gemv_t2, gemm, f64_from_bits = _ir.dot, _ir.dot2, _ir.gemv_t, _ir.gemv_t2, _ir.gemm, \
        _ir.f64_from_bits

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
           "IMPLEMENTATION", "simd_summary",
           "exp_nonpos", "f64_from_bits", "dot_reference", "gemv_t_reference", "gemm_reference",
           "exp_nonpos_reference", "log1p_unit", "log1p_unit_reference"]
