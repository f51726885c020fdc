"""The fixed-order SIMD intrinsics against their plain-Python references, bit for bit, and the vectorisable exp
against libm."""

import math

import numpy as np
import pytest
from numba import njit
from numba.core.errors import TypingError

from mamba_dynamics.core.simd import (bmm, dot, dot2, dot_reference, exp_nonpos, exp_nonpos_reference, gemm,
                                      gemm_reference, gemv_t, gemv_t2, gemv_t_reference, log1p_unit,
                                      log1p_unit_reference, matmul, small_product)


@njit(cache=True)
def _dot(x, ix, y, iy, n):
    return dot(x, ix, y, iy, n)


@njit(cache=True)
def _dot2(x, ix, y, iy, z, iz, n):
    return dot2(x, ix, y, iy, z, iz, n)


@njit(cache=True)
def _gemv_t(x, ix, rows, n, c, ic, y, iy):
    gemv_t(x, ix, rows, n, c, ic, y, iy)


@njit(cache=True)
def _gemv_t2(x, ix, rows, n, c, ic, d, id_, y, iy, z, iz):
    gemv_t2(x, ix, rows, n, c, ic, d, id_, y, iy, z, iz)


@njit(cache=True)
def _gemm(a, ia, sar, sak, b, ib, ldb, c, ic, ldc, rows, inner, cols, accumulate):
    gemm(a, ia, sar, sak, b, ib, ldb, c, ic, ldc, rows, inner, cols, accumulate)


@njit(cache=True, error_model="numpy")
def _exp_loop(x, out):
    for i in range(x.shape[0]):
        out[i] = exp_nonpos(x[i])


def _wide(rng, shape):
    """Values over many binades, both signs: rounding differences between two summation orders would show."""
    return rng.standard_normal(shape) * 10.0 ** rng.integers(-8, 8, shape)


@pytest.mark.parametrize("n", list(range(0, 41)) + [63, 64, 65, 1000])
def test_dot_products_equal_their_reference_bit_for_bit(n):
    rng = np.random.default_rng(n)
    X = _wide(rng, (3, 5, n))  # a 3-D array read at a flat offset, as the kernels do
    y, z = _wide(rng, (2, n)), _wide(rng, n)
    off = (2 * 5 + 3) * n
    ref_y, ref_z = dot_reference(X[2, 3], y[1]), dot_reference(X[2, 3], z)
    assert _dot(X, off, y, n, n) == ref_y
    assert _dot2(X, off, y, n, z, 0, n) == (ref_y, ref_z)
    assert _dot(X, np.int32(off), y, np.uint16(n), np.int8(min(n, 127))) == dot_reference(X[2, 3, :127], y[1, :127])
    if n >= 8:  # the fixed order is not the sequential one (else this module would be pointless)
        assert any(_dot(_wide(np.random.default_rng(s), n), 0, z, 0, n) != sum(
            a * b for a, b in zip(_wide(np.random.default_rng(s), n), z)) for s in range(20))


@pytest.mark.parametrize("rows", [0, 1, 2, 5, 21])
@pytest.mark.parametrize("n", [0, 1, 3, 4, 5, 8, 13, 31])
def test_transposed_products_equal_the_plain_loop_bit_for_bit(rows, n):
    rng = np.random.default_rng(rows * 100 + n)
    X = _wide(rng, (2, rows, n))
    c, d = _wide(rng, rows + 2), _wide(rng, rows)
    y0, z0 = _wide(rng, (3, n)), _wide(rng, n)
    y, z = y0.copy(), z0.copy()
    _gemv_t(X, rows * n, rows, n, c, 2, y, n)
    np.testing.assert_array_equal(y[1], gemv_t_reference(X[1], c[2:], y0[1]))
    np.testing.assert_array_equal(y[[0, 2]], y0[[0, 2]])  # nothing outside the target row is touched
    y = y0.copy()
    _gemv_t2(X, rows * n, rows, n, c, 2, d, 0, y, 2 * n, z, 0)
    np.testing.assert_array_equal(y[2], gemv_t_reference(X[1], c[2:], y0[2]))
    np.testing.assert_array_equal(z, gemv_t_reference(X[1], d, z0))


def test_intrinsics_refuse_other_arrays():
    x32 = np.ones(8, np.float32)
    with pytest.raises(TypingError):
        _dot(x32, 0, x32, 0, 8)
    strided = np.ones(16)[::2]
    with pytest.raises(TypingError):
        _dot(strided, 0, strided, 0, 8)
    m32 = np.ones((2, 2), np.float32)
    with pytest.raises(TypingError):  # gemm takes views of any layout, float64 only, and a boolean flag
        _gemm(m32, 0, 2, 1, m32, 0, 2, m32, 0, 2, 2, 2, 2, False)
    with pytest.raises(TypingError):
        _gemm(np.ones((2, 2)), 0, 2, 1, np.ones((2, 2)), 0, 2, np.ones((2, 2)), 0, 2, 2, 2, 2, 1)


def _ulps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.view(np.int64) - b.view(np.int64))


def test_exp_nonpos_is_within_one_ulp_of_libm():
    rng = np.random.default_rng(0)
    x = np.concatenate([-rng.random(100_000) * 750.0, -rng.random(50_000) * 2.0, -rng.random(20_000) * 1e-8,
                        -np.abs(rng.standard_normal(50_000)) * 20.0,
                        np.linspace(-745.3, -700.0, 20_000)])  # the subnormal results and the underflow edge
    out = np.empty_like(x)
    _exp_loop(x, out)
    ref = np.array([exp_nonpos_reference(v) for v in x])
    ulps = _ulps(out, ref)
    assert ulps.max() <= 1
    assert np.mean(ulps == 0) > 0.85


def test_exp_nonpos_special_values():
    x = np.array([0.0, -0.0, -np.inf, np.nan, -5e-324, -1e300, -745.2, -745.1, -708.4, -1e-300])
    out = np.empty_like(x)
    _exp_loop(x, out)
    assert out[0] == 1.0 and out[1] == 1.0 and out[2] == 0.0 and np.isnan(out[3])
    assert out[4] == 1.0 and out[5] == 0.0 and out[6] == 0.0 and out[9] == 1.0
    assert out[7] == math.exp(-745.1) == 5e-324  # the smallest subnormal
    assert abs(out[8] - math.exp(-708.4)) <= 5e-324


@njit(cache=True, error_model="numpy")
def _log1p_loop(x, out):
    for i in range(x.size):
        out[i] = log1p_unit(x[i])


def test_log1p_unit_is_within_three_ulp_of_libm():
    """Over [0, 1] (uniform, and log-spaced down to 1e-300: no cancellation for small arguments) and at its ends."""
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.random(200_000), np.geomspace(1e-300, 1.0, 100_000), [0.0, 1.0, 5e-324, 1e-17]])
    out = np.empty_like(x)
    _log1p_loop(x, out)
    ref = np.array([log1p_unit_reference(v) for v in x])
    assert _ulps(out, ref).max() <= 3 and np.mean(_ulps(out, ref) <= 1) > 0.9
    assert out[-4] == 0.0 and out[-1] == 1e-17


@pytest.mark.parametrize("rows", [0, 1, 2, 3, 4, 5, 7, 12])
@pytest.mark.parametrize("inner", [0, 1, 10, 40])
def test_gemm_equals_the_plain_loop_bit_for_bit(rows, inner):
    """Every column count up to three tiles (whole tiles, a whole vector and a masked one, a masked one alone), ``A``
    read row-major and transposed, ``C`` a block of a larger array: the same bits as the plain loop over ``k``,
    and nothing outside the block written (the masked lanes)."""
    rng = np.random.default_rng(rows * 100 + inner)
    for cols in range(0, 35):
        A = _wide(rng, (rows, inner))
        B = _wide(rng, (inner + 1, cols + 3))[1:, 2:cols + 2]  # a view: row stride cols + 3, offset
        Bc = np.ascontiguousarray(B)
        big = _wide(rng, (rows + 2, cols + 5))
        for accumulate in (True, False):
            out = big.copy()
            _gemm(A, 0, inner, 1, Bc, 0, cols, out, (cols + 5) + 1, cols + 5, rows, inner, cols, accumulate)
            start = big[1:rows + 1, 1:cols + 1] if accumulate else np.zeros((rows, cols))
            np.testing.assert_array_equal(out[1:rows + 1, 1:cols + 1], gemm_reference(A, Bc, start))
            out[1:rows + 1, 1:cols + 1] = big[1:rows + 1, 1:cols + 1]
            np.testing.assert_array_equal(out, big)  # nothing else touched
            AT = np.ascontiguousarray(A.T)  # A as the transpose of a stored block: strides (1, rows)
            out2 = big.copy()
            _gemm(AT, 0, 1, rows, Bc, 0, cols, out2, (cols + 5) + 1, cols + 5, rows, inner, cols, accumulate)
            np.testing.assert_array_equal(out2[1:rows + 1, 1:cols + 1], gemm_reference(A, Bc, start))
            out2[1:rows + 1, 1:cols + 1] = big[1:rows + 1, 1:cols + 1]
            np.testing.assert_array_equal(out2, big)  # nothing else touched, A read transposed too


def test_bmm_and_matmul_equal_the_reference_on_views():
    """Batched products of strided views (packed projections, transposes: the copy path) equal the plain loop bit
    for bit, with and without accumulation; ``matmul`` sends large products to BLAS (equal to rounding)."""
    rng = np.random.default_rng(7)
    Z = _wide(rng, (6, 12, 21))
    X = _wide(rng, (6, 12, 10))
    cases = [(Z[:, :, 11:], X.transpose(0, 2, 1)), (X, Z[:, 2:, 1:11]), (Z[:, :, :10].transpose(0, 2, 1), X[:, :, :7])]
    for A, B in cases:
        C0 = _wide(rng, (A.shape[0], A.shape[1], B.shape[2]))
        for accumulate in (False, True):
            C = C0.copy()
            bmm(A, B, C, accumulate)
            for s in range(len(A)):
                np.testing.assert_array_equal(C[s], gemm_reference(A[s], B[s], C0[s] if accumulate else 0 * C0[s]))
            C2 = C0.copy()
            assert small_product(A, B, C2)
            matmul(A, B, C2, accumulate)
            np.testing.assert_array_equal(C2, C)
    A, B = rng.standard_normal((300, 200)), rng.standard_normal((200, 300))
    out = np.empty((300, 300))
    assert not small_product(A, B, out)
    np.testing.assert_allclose(matmul(A, B, out), A @ B, rtol=1e-12, atol=1e-12)


def test_gemm_gives_the_same_bits_with_four_lanes(tmp_path):
    """The vector width is a speed choice only (lanes are independent): compiled with 4 lanes (the width without
    AVX-512) ``gemm`` gives the plain loop's bits too (a fresh process, so that nothing compiled with 8 is reused)."""
    import subprocess
    import sys

    code = """
import numpy as np
from numba import njit
from mamba_dynamics.core import simd
simd.GEMM_WIDTH = 4

@njit
def g(a, ia, sar, sak, b, ib, ldb, c, ic, ldc, rows, inner, cols, acc):
    simd.gemm(a, ia, sar, sak, b, ib, ldb, c, ic, ldc, rows, inner, cols, acc)

rng = np.random.default_rng(0)
for rows, inner, cols in [(12, 10, 40), (7, 3, 10), (5, 40, 13), (1, 1, 1), (3, 2, 7), (4, 5, 12), (6, 7, 20),
                          (9, 4, 17)]:
    A, B, C = rng.standard_normal((rows, inner)), rng.standard_normal((inner, cols)), rng.standard_normal((rows, cols))
    out = C.copy()
    g(A, 0, inner, 1, B, 0, cols, out, 0, cols, rows, inner, cols, True)
    assert np.array_equal(out, simd.gemm_reference(A, B, C)), (rows, inner, cols)
print("ok")
"""
    env = dict(__import__("os").environ, NUMBA_CACHE_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


# ------------------------------------------------------------------ the plain-Numba fallback (issue 42)


def test_the_fallback_gives_the_intrinsics_bits():
    """Each plain-Numba block (``core.simd``'s fallback) against its LLVM-IR intrinsic (``core.simd_ir``), bit
    for bit: dot products of every length 0-39 at offsets, a transposed product, strided ``gemm`` blocks from
    zero and accumulated, and bit casts of normal, subnormal, infinite and signed-zero values."""
    from numba import njit

    from mamba_dynamics.core import simd, simd_ir

    @njit
    def dots(x, ix, y, iy, z, iz, n):
        return simd._dot_plain(x, ix, y, iy, n), simd_ir.dot(x, ix, y, iy, n), simd._dot2_plain(
            x, ix, y, iy, z, iz, n), simd_ir.dot2(x, ix, y, iy, z, iz, n)

    @njit
    def gemvs(x, ix, rows, n, c, ic, d, id_, y1, y2, z1, z2, iy):
        simd._gemv_t2_plain(x, ix, rows, n, c, ic, d, id_, y1, iy, z1, iy)
        simd_ir.gemv_t2(x, ix, rows, n, c, ic, d, id_, y2, iy, z2, iy)

    @njit
    def gemms(a, ia, sar, sak, b, ib, ldb, c1, c2, ic, ldc, rows, inner, cols, acc):
        simd._gemm_plain(a, ia, sar, sak, b, ib, ldb, c1, ic, ldc, rows, inner, cols, acc)
        simd_ir.gemm(a, ia, sar, sak, b, ib, ldb, c2, ic, ldc, rows, inner, cols, acc)

    @njit
    def bits(i):
        return simd._f64_from_bits_plain(i), simd_ir.f64_from_bits(i)

    rng = np.random.default_rng(0)
    for n in range(40):
        x, y, z = (rng.standard_normal(50) for _ in range(3))
        p, q, p2, q2 = dots(x, 3, y, 5, z, 1, n)
        assert p == q and p2 == q2
    X, c, d = rng.standard_normal((7, 13)), rng.standard_normal(9), rng.standard_normal(9)
    y1, z1 = rng.standard_normal(20), rng.standard_normal(20)
    y2, z2 = y1.copy(), z1.copy()
    gemvs(X, 0, 7, 13, c, 1, d, 2, y1, y2, z1, z2, 2)
    assert np.array_equal(y1, y2) and np.array_equal(z1, z2)
    A = rng.standard_normal((3, 9, 11))[:, 1:, ::2]  # a strided view
    sa = [s // 8 for s in A.strides]
    B, C1 = rng.standard_normal((6, 17)), rng.standard_normal((40, 19))
    C2 = C1.copy()
    for acc in (True, False):
        gemms(A, sa[0], sa[1], sa[2], B, 0, 17, C1, C2, 3, 19, 8, 6, 17, acc)
        gemms(A, 0, sa[2], sa[1], B, 2, 17, C1, C2, 21, 19, 5, 6, 15, acc)  # A^T
        assert np.array_equal(C1, C2)
    for v in (1.0, -2.5, 5e-324, 1e-310, 2.0 ** -1022, 1.7e308, np.inf, -np.inf, 0.0, -0.0, np.pi):
        i = np.array([v]).view(np.int64)[0]
        a, b = bits(i)
        assert np.array([a]).view(np.int64)[0] == np.array([b]).view(np.int64)[0], v


_FORCED = """
import numpy as np
from numba import njit
from mamba_dynamics.core import simd
rng = np.random.default_rng(0)
A, B = rng.standard_normal((50, 12, 12)), rng.standard_normal((50, 12, 12))
C = np.empty((50, 12, 12))
simd.bmm(A, B.transpose(0, 2, 1), C, False)  # a transposed B (copied), then gemm
@njit
def exps(x):
    out = np.empty_like(x)
    for i in range(x.size):
        out[i] = simd.exp_nonpos(x[i])
    return out
from mamba_dynamics.single_index import quadforms as qf  # the Hermite forms' banded gemm calls
X = rng.standard_normal((3, 11, 6))
XT = np.empty((3, 7, 11))
qf.columns(X, XT)
V = np.empty((3, 2, 11))
qf.quad_values(np.triu(rng.standard_normal((3, 2, 7, 7))), XT, rng.standard_normal((3, 11)),
               rng.standard_normal((3, 2)), 0.5, V)
Mt = np.zeros((3, 2, 7, 7))
qf.moments(X, XT, rng.standard_normal((3, 2, 11)), Mt)
np.savez(OUT_PATH, impl=np.array(simd.IMPLEMENTATION), bmm=C, exp=exps(-np.abs(rng.standard_normal(1000)) * 300),
         small=simd.matmul(rng.standard_normal((7, 5)), rng.standard_normal((5, 9)), np.empty((7, 9))),
         qvalues=V, moments=Mt)
"""


def test_a_process_forced_onto_the_fallback_gives_the_same_steps(tmp_path):
    """``MAMBA_DYNAMICS_SIMD=plain`` (with a fresh Numba cache) selects the fallback by itself, and what runs
    there (batched products with a transposed operand, a small product, the vectorised ``exp`` with its bit
    casts, the single-index quadratic forms' values and moments) is bit for bit what the intrinsics give in this
    process."""
    import os
    import subprocess
    import sys

    script = _FORCED.replace("OUT_PATH", repr(str(tmp_path / "plain.npz")))
    env = dict(os.environ, MAMBA_DYNAMICS_SIMD="plain", NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    res = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    here = tmp_path / "here.npz"
    exec(compile(_FORCED.replace("OUT_PATH", repr(str(here))), "forced", "exec"), {})
    with np.load(tmp_path / "plain.npz") as a, np.load(here) as b:
        assert str(a["impl"]) == "plain" and str(b["impl"]) == "intrinsics"
        for k in a.files:
            if k != "impl":
                assert np.array_equal(a[k], b[k]), k
