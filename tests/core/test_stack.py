"""The selective mixer as a sequence map (core.mixer) and the residual stack (core.stack): both Numba forms
(scan and pairs) against the NumPy closed forms, the gate gradient's regrouping, long prompts and saturated gates,
and the stack's backward pass against finite differences with and without RMSNorm and for both readouts."""

import numpy as np
import pytest

from mamba_dynamics.core import mixer
from mamba_dynamics.core.gates import Gate
from mamba_dynamics.core.stack import (CHUNK_ABOVE, CHUNK_BYTES, EPS, FORMS, _residual_rms_kernel, block_form,
                                       rms_norm_reference, sequence_chunks, stack_backward, stack_forward)
from mamba_dynamics.core.workspace import Workspace


def _case(rng, N, T, D, r, scale=1.0):
    X = rng.standard_normal((N, T, D))
    Z = np.concatenate([rng.standard_normal((N, T, 2 * r)), scale * rng.standard_normal((N, T, 1))], axis=2)
    return X, np.ascontiguousarray(Z)


def _run(kind, X, Z, r, gated, first, Gy):
    """``gated``: True / False or a :class:`~mamba_dynamics.core.gates.Gate`."""
    N, T, D = X.shape
    Y, SIG, KEEP = np.empty_like(X), np.empty((N, T)), np.empty((N, T))
    GX, dZ = np.empty_like(X), np.empty((N, T, Z.shape[2]))
    if kind == "scan":
        g = mixer.gate_args(gated)
        mixer.mix_forward(X, Z, r, g, first, Y, SIG, KEEP)
        mixer.mix_adjoint(X, Z, r, Y, Gy, SIG, KEEP, g, True, GX, dZ)
    else:
        S, Yr = np.empty((N, T - first, T)), np.zeros((N, T, D))
        Bp, Cp, Tg = Z[:, :, :r], Z[:, first:, r:2 * r], Z[:, :, 2 * r if gated else 0]
        mixer.mix_forward_pairs(X, Bp, Cp, Tg, gated, first, Yr[:, first:], SIG, KEEP, S)
        Y[...] = Yr
        dZ[:, :first, r:2 * r] = 0.0
        mixer.mix_adjoint_pairs(X, Bp, Cp, Gy[:, first:], SIG, KEEP, gated, first, S, GX, dZ[:, :, :r],
                                dZ[:, first:, r:2 * r], dZ[:, :, 2 * r if gated else 0], Tg=Tg)
    return Y, GX, dZ


@pytest.mark.parametrize("kind", ["scan", "pairs", "pairs-blas"])
@pytest.mark.parametrize("gated", [True, False])
@pytest.mark.parametrize("first", [0, 5])
def test_mixer_kernels_equal_the_closed_form(kind, gated, first):
    """The scans, the pairwise form's one-call kernels and, for sequences too large for those
    (``pairs-blas``: ``pairs_small`` is false), its batched products, against the NumPy closed forms."""
    rng = np.random.default_rng(3)
    N, T, D, r = (2, 70, 60, 4) if kind == "pairs-blas" else (3, 8, 5, 4)
    assert mixer.pairs_small(T, D, r) == (kind != "pairs-blas")
    X, Z = _case(rng, N, T, D, r, 2.0)
    if not gated:
        Z = np.ascontiguousarray(Z[:, :, : 2 * r])
    Gy = rng.standard_normal((N, T, D))
    Gy[1] = 0.0  # an inactive sequence
    Gy[:, :first] = 0.0  # the rows a head reading from ``first`` on never reaches
    Y, GX, dZ = _run(kind, X, Z, r, gated, first, Gy)
    Bp, Cp = Z[:, :, :r], Z[:, :, r:2 * r]
    Tg = Z[:, :, 2 * r] if gated else np.zeros((N, T))
    np.testing.assert_allclose(Y[:, first:], mixer.mix_forward_reference(X, Bp, Cp, Tg, gated)[:, first:],
                               rtol=1e-12, atol=1e-13)
    assert not Y[:, :first].any()
    GXr, dBr, dCr, dTr = mixer.mix_adjoint_reference(X, Bp, Cp, Tg, Gy, gated)
    for got, want in ((GX, GXr), (dZ[:, :, :r], dBr), (dZ[:, :, r:2 * r], dCr)) + (((dZ[:, :, 2 * r], dTr),) if gated else ()):
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-12 * np.abs(want).max())


GATES = [Gate("mamba2"), Gate("gret", tau=3.0), Gate("retnet", gamma=0.9)]


@pytest.mark.parametrize("kind", ["scan", "pairs", "pairs-blas"])
@pytest.mark.parametrize("gate", GATES, ids=lambda g: g.kind)
def test_mixer_kernels_take_every_gate_of_the_family(kind, gate):
    """App. E.6's scalar gates (core.gates) through both Numba forms against the closed forms, and the gate
    gradient against central differences of (M2)."""
    rng = np.random.default_rng(4)
    N, T, D, r = (2, 70, 60, 4) if kind == "pairs-blas" else (3, 8, 5, 4)
    X, Z = _case(rng, N, T, D, r, 2.0)
    Gy = rng.standard_normal((N, T, D))
    Y, GX, dZ = _run(kind, X, Z, r, gate, 0, Gy)
    Bp, Cp, Tg = Z[:, :, :r], Z[:, :, r:2 * r], Z[:, :, 2 * r].copy()
    np.testing.assert_allclose(Y, mixer.mix_forward_reference(X, Bp, Cp, Tg, gate), rtol=1e-12, atol=1e-13)
    ref = mixer.mix_adjoint_reference(X, Bp, Cp, Tg, Gy, gate)
    for got, want in zip((GX, dZ[:, :, :r], dZ[:, :, r:2 * r], dZ[:, :, 2 * r]), ref):
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-12 * (np.abs(want).max() + 1e-300))
    if kind != "pairs":
        return
    eps = 1e-6
    for n, t in [(0, 0), (1, 3), (2, 7)]:
        hi, lo = Tg.copy(), Tg.copy()
        hi[n, t] += eps
        lo[n, t] -= eps
        fd = np.sum(Gy * (mixer.mix_forward_reference(X, Bp, Cp, hi, gate)
                          - mixer.mix_forward_reference(X, Bp, Cp, lo, gate))) / (2 * eps)
        assert abs(fd - dZ[n, t, 2 * r]) < 1e-6 * (1 + abs(fd))


def test_mamba_through_the_gate_argument_is_bit_for_bit_the_flag():
    rng = np.random.default_rng(6)
    X, Z = _case(rng, 3, 9, 5, 4, 2.0)
    Gy = rng.standard_normal(X.shape)
    for kind in ("scan", "pairs"):
        a, b = _run(kind, X, Z, 4, True, 0, Gy), _run(kind, X, Z, 4, Gate("mamba"), 0, Gy)
        assert all(np.array_equal(u, v) for u, v in zip(a, b))


def test_gate_gradient_is_the_derivative_of_the_closed_form():
    """(M4)'s regrouping against central differences of (M2) in the gate pre-activations."""
    rng = np.random.default_rng(5)
    X, Z = _case(rng, 2, 6, 3, 2, 1.5)
    Gy = rng.standard_normal(X.shape)
    _, _, dZ = _run("scan", X, Z, 2, True, 0, Gy)
    Bp, Cp, Tg = Z[:, :, :2], Z[:, :, 2:4], Z[:, :, 4].copy()
    eps = 1e-6
    for n, t in [(0, 0), (1, 3), (0, 5)]:
        hi, lo = Tg.copy(), Tg.copy()
        hi[n, t] += eps
        lo[n, t] -= eps
        fd = np.sum(Gy * (mixer.mix_forward_reference(X, Bp, Cp, hi) - mixer.mix_forward_reference(X, Bp, Cp, lo)))
        assert abs(fd / (2 * eps) - dZ[n, t, 4]) < 1e-7


def test_pairs_and_scan_agree_and_the_choice_is_by_length():
    rng = np.random.default_rng(7)
    X, Z = _case(rng, 2, 40, 6, 5, 3.0)
    Gy = rng.standard_normal(X.shape)
    a, b = _run("scan", X, Z, 5, True, 0, Gy), _run("pairs", X, Z, 5, True, 0, Gy)
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, rtol=1e-10, atol=1e-12)
    assert mixer.quadratic_form(21, 31, 31) and not mixer.quadratic_form(10_000, 31, 31)


def test_long_prompts_and_saturated_gates_stay_finite():
    """l = 10^4 with gate pre-activations of +-1000: no NaN or overflow; gates underflow to exactly 0."""
    rng = np.random.default_rng(11)
    N, T, D, r = 1, 10_001, 3, 2
    X, Z = _case(rng, N, T, D, r, 1000.0)
    Gy = np.zeros_like(X)
    Gy[:, -1] = 1.0
    Y, GX, dZ = _run("scan", X, Z, r, True, 0, Gy)
    assert np.isfinite(Y).all() and np.isfinite(GX).all() and np.isfinite(dZ).all()


def _fd_stack(W_B, W_C, w, X, gated, readout, norm, Gout, name, idx, eps=1e-6):
    blocks = {"W_B": W_B, "W_C": W_C, "w": w}
    vals = []
    for sign in (1, -1):
        p = {k: v.copy() for k, v in blocks.items()}
        p[name][idx] += sign * eps
        out, _ = stack_forward(p["W_B"], p["W_C"], p["w"], X, gated, readout, False, norm=norm)
        vals.append(np.sum(Gout * out))
    return (vals[0] - vals[1]) / (2 * eps)


@pytest.mark.parametrize("readout", ["stream", "mixer"])
@pytest.mark.parametrize("norm", ["rms", "none"])
@pytest.mark.parametrize("T", [4, 60])
def test_stack_backward_matches_finite_differences(readout, norm, T):
    """Three blocks, both readouts and normalisations, short (pairwise kernels) and long (scans) prompts: the
    kernel's and the reference's gradients equal, and both equal central differences; the tokens' gradient too."""
    rng = np.random.default_rng(13)
    L, r, D, N = 3, 3, 4, 2
    W_B, W_C = 0.4 * rng.standard_normal((L, r, D)), 0.4 * rng.standard_normal((L, r, D))
    w = rng.standard_normal((L, D))
    X = rng.standard_normal((N, T, D))
    Gout = rng.standard_normal((N, T, D))
    work = Workspace()
    res = {}
    for fast in (True, False):
        _, cache = stack_forward(W_B, W_C, w, X, True, readout, fast, work=work if fast else None, norm=norm)
        dB, dC, dw, dX = stack_backward(W_B, W_C, w, cache, Gout, True, readout, fast, work if fast else None,
                                        want_dx=True)
        res[fast] = (dB.copy(), dC.copy(), dw.copy(), dX.copy())
    for a, b in zip(res[True], res[False]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12 * np.abs(b).max())
    for name, idx, got in (("W_B", (0, 1, 2), res[True][0]), ("W_C", (2, 0, 3), res[True][1]),
                           ("w", (1, 2), res[True][2]), ("w", (0, 0), res[True][2])):
        assert abs(_fd_stack(W_B, W_C, w, X, True, readout, norm, Gout, name, idx) - got[idx]) < 1e-6 * max(1, abs(got[idx]))


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("gated", [True, False])
@pytest.mark.parametrize("readout,last", [("stream", False), ("stream", True), ("mixer", False)])
@pytest.mark.parametrize("norm", ["rms", "none"])
def test_every_form_equals_the_reference(form, gated, readout, last, norm):
    """Each form of :data:`FORMS`, forced on every block (whatever the sizes would choose), against the NumPy
    closed forms: the head's input and every gradient, the tokens' too, with the last block read at its last
    token or not; the factored form's ``dW_B = W_C dQ``, ``dW_C = W_B dQ^T`` included."""
    rng = np.random.default_rng(17)
    L, r, D, N, T = 3, 3, 4, 3, 7
    W_B, W_C = 0.4 * rng.standard_normal((L, r, D)), 0.4 * rng.standard_normal((L, r, D))
    w = 2.0 * rng.standard_normal((L, D))
    X = rng.standard_normal((N, T, D))
    res = {}
    for fast in (True, False):
        out, cache = stack_forward(W_B, W_C, w, X, gated, readout, fast, last, Workspace() if fast else None, norm,
                                   form if fast else None)
        Gout = np.random.default_rng(19).standard_normal(out.shape)
        Gout[1] = 0.0  # an inactive sequence
        grads = stack_backward(W_B, W_C, w, cache, Gout, gated, readout, fast, None, want_dx=True)
        res[fast] = (out.copy(),) + tuple(g.copy() for g in grads)
    assert res[True][0].shape == ((N, 1, D) if last else (N, T, D))
    for a, b in zip(res[True], res[False]):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-12 * max(np.abs(b).max(), 1e-300))


def test_the_form_is_chosen_by_cost():
    assert block_form(21, 31, 31) == "factored"  # Table 1: r = D
    assert block_form(21, 31, 8) == "pairs"  # few projections: b and c are cheaper than Q
    assert block_form(10_000, 31, 31) == "scan"


def test_residual_and_rms_norm_kernel_equals_the_reference():
    rng = np.random.default_rng(23)
    Y, Xprev = rng.standard_normal((3, 5, 7)) * 4, rng.standard_normal((3, 5, 7))
    X, U, rho = Y.copy(), np.empty_like(Y), np.empty((3, 5))
    _residual_rms_kernel(X, Xprev, EPS, U, rho)
    np.testing.assert_allclose(X, Y + Xprev, rtol=1e-15)
    for got, want in zip((U, rho), rms_norm_reference(Y + Xprev)):
        np.testing.assert_allclose(got, want, rtol=1e-14)


def test_rms_norm_scale():
    X = np.random.default_rng(0).standard_normal((2, 3, 5)) * 7
    U, rho = rms_norm_reference(X)
    np.testing.assert_allclose(np.mean(U * U, axis=2), 1.0, rtol=1e-12)
    np.testing.assert_allclose(U * rho[:, :, None], X, rtol=1e-14)


def test_adjoint_formulas_are_sympys_derivative():
    """M3-M4 minus sympy's derivative of the raw recurrence simplifies to 0 (3 tokens, all symbolic)."""
    from mamba_dynamics.core.scan import mixer_adjoint_checks

    assert all(d == 0 for d in mixer_adjoint_checks(3).values())


def test_sequence_chunks_cover_the_batch_in_near_equal_pieces():
    """One piece while an ``(N, T, D)`` array fits in ``CHUNK_ABOVE`` bytes; beyond, contiguous near-equal slices
    that cover every sequence once, each within about ``CHUNK_BYTES``."""
    assert sequence_chunks(64, 21, 31) == [slice(0, 64)]  # Table 1's training batch
    assert sequence_chunks(1000, 12, 10) == [slice(0, 1000)]  # 1000 sequences of 12 tokens, d = 10 (0.96 MB)
    # the feature models pass their head's width m = 40 (3.8 MB): 10 chunks of 100
    assert sequence_chunks(1000, 12, 40) == [slice(i, i + 100) for i in range(0, 1000, 100)]
    for N, T, D in [(1000, 12, 32), (2000, 21, 31), (7, 10000, 31), (3, 5, 1)]:
        chunks = sequence_chunks(N, T, D)
        covered = np.concatenate([np.arange(N)[sl] for sl in chunks])
        np.testing.assert_array_equal(covered, np.arange(N))
        sizes = [sl.stop - sl.start for sl in chunks]
        assert max(sizes) - min(sizes) <= 1 and min(sizes) >= 1
        if N * T * D * 8 > CHUNK_ABOVE:
            assert len(chunks) > 1 and max(sizes) * T * D * 8 <= CHUNK_BYTES * 1.01 + T * D * 8
    assert sequence_chunks(1000, 12, 32) == [slice(i, i + 125) for i in range(0, 1000, 125)]
    assert sequence_chunks(0, 5, 5) == [slice(0, 0)]


@pytest.mark.parametrize("family", ["outliers", "features", "features-one-layer"])
def test_a_step_in_chunks_equals_the_step_in_one_piece(family, monkeypatch):
    """A batch large enough to be chunked gives the one-piece loss, outputs and gradients to rounding, through the
    model objects (the feature models' chunked steps are sized by their head's width,
    :func:`~mamba_dynamics.features.head.head_chunks`: the Table 3 stacks, and the one-layer models where their
    one-call passes do not apply)."""
    if family == "features-one-layer":
        from mamba_dynamics.features import attention, content, head
        from mamba_dynamics.features.config import FeaturesConfig
        from mamba_dynamics.features.data import Sequences, one_layer_point
        from mamba_dynamics.features.models import REGISTRY

        runs, pieces, chunked_in = {}, [], (content, attention)
        for name in ("ssm", "lt-mlp"):
            mdl = REGISTRY.build(FeaturesConfig(model=name, wbc="trained"))
            p, X, y, a = one_layer_point(name, 1000, 12, 10)
            params, batch = mdl.params_from(dict(p, a=a)), Sequences(X, y)
            runs[name] = lambda mdl=mdl, params=params, batch=batch: mdl.loss_and_grad(params, batch)
            pieces.append(len(head.head_chunks(X, params.V, head.ONE_LAYER_CHUNK_BYTES)))
        # the one-call passes (content_pass, attention_pass) take no chunks; their fallback, the chunked path
        # of long sequences, is forced here
        for module in chunked_in:
            monkeypatch.setattr(module, "pairs_small", lambda T, D, r: False)
        assert pieces == [5, 5]  # 200 sequences each (the stacks' budget: 10 of 100)
    elif family == "outliers":
        from mamba_dynamics.outliers import stack
        from mamba_dynamics.outliers.config import OutlierConfig
        from mamba_dynamics.outliers.data import PromptBatch, stack_point
        from mamba_dynamics.outliers.models import REGISTRY

        W_B, W_C, w, P, z = stack_point(300, 20, d=30, layers=2)
        params, batch = stack.StackParams(W_B, W_C, w), PromptBatch(P, z)
        mamba, lt = (REGISTRY.build(OutlierConfig(model=m, layers=2)) for m in ("mamba", "lt"))
        runs = {"mamba": lambda: mamba.loss_and_grad(params, batch), "lt": lambda: lt.loss_and_grad(params, batch),
                "forward": lambda: mamba.predict(params, P)}
        pieces, chunked_in = [len(sequence_chunks(*P.shape))], (stack,)
    else:
        from mamba_dynamics.features import stack
        from mamba_dynamics.features.config import FeaturesConfig
        from mamba_dynamics.features.data import Sequences, stack_point
        from mamba_dynamics.features.models import REGISTRY

        W_B, W_C, w, V, a, X, y = stack_point(32, N=900, layers=2)
        params = stack.StackParams(w, W_B, W_C, V, a)
        mdl = REGISTRY.build(FeaturesConfig(model="ssm", layers=2, wbc="trained"))
        runs = {"step": lambda: mdl.loss_and_grad(params, Sequences(X, y)), "predict": lambda: mdl.predict(params, X)}
        pieces = [len(stack.head_chunks(X, V)), len(sequence_chunks(*X.shape))]  # the step's and predict's
        chunked_in = (stack,)
    assert min(pieces) > 1
    chunked = {k: f() for k, f in runs.items()}
    for module in chunked_in:
        if hasattr(module, "sequence_chunks"):
            monkeypatch.setattr(module, "sequence_chunks", lambda N, T, D: [slice(0, N)])
        if hasattr(module, "head_chunks"):  # the feature models' training steps' chunks follow the head's width
            monkeypatch.setattr(module, "head_chunks", lambda X, V, *budget: [slice(0, len(X))])
    for k, f in runs.items():
        one, many = f(), chunked[k]
        if isinstance(one, np.ndarray):
            np.testing.assert_allclose(many, one, rtol=1e-12, atol=1e-13)
            continue
        assert abs(many.loss - one.loss) <= 1e-14 * max(1.0, abs(one.loss))
        np.testing.assert_allclose(many.F, one.F, rtol=1e-12, atol=1e-13)
        for name, g in one.grads.items():
            np.testing.assert_allclose(many.grads[name], g, rtol=1e-11, atol=1e-14 * max(1.0, np.abs(g).max()))


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("gated", [True, False])
def test_a_zero_head_gradient_gives_exact_zeros_and_a_fitted_batch_skips_the_backward(form, gated):
    """The premise of skipping the backward of a batch whose hinges are all inactive: from a zero head gradient
    every form's backward gives exact zeros.  Then the families' steps on a fitted batch (all margins >= 1)
    return zero block gradients and zero loss."""
    rng = np.random.default_rng(3)
    N, T, D, r, L = 4, 6, 5, 5, 2
    W_B, W_C = rng.standard_normal((L, r, D)) * 0.5, rng.standard_normal((L, r, D)) * 0.5
    w, X = rng.standard_normal((L, D)), rng.standard_normal((N, T, D))
    for readout, last in (("stream", True), ("mixer", False)):
        out, cache = stack_forward(W_B, W_C, w, X, gated, readout, True, last, form=form)
        grads = stack_backward(W_B, W_C, w, cache, np.zeros(out.shape), gated, readout, True)[:3]
        assert all(np.all(g == 0.0) for g in grads)


def test_fitted_batches_skip_the_backward(monkeypatch):
    """A batch whose hinges are all inactive returns zero block gradients without running the backward, the same
    numbers as the NumPy reference (which runs it)."""
    from mamba_dynamics.features import stack as fs
    from mamba_dynamics.features.config import FeaturesConfig
    from mamba_dynamics.features.data import Sequences, stack_point
    from mamba_dynamics.features.models import REGISTRY as FEATURES
    from mamba_dynamics.outliers import stack as ost
    from mamba_dynamics.outliers.config import OutlierConfig
    from mamba_dynamics.outliers.data import PromptBatch, stack_point as outlier_point
    from mamba_dynamics.outliers.models import REGISTRY as OUTLIERS

    W_B, W_C, w, V, a, X, _ = stack_point(6, N=50, L=8, layers=2)
    params = fs.StackParams(w, W_B, W_C, V, a)
    deep = FEATURES.build(FeaturesConfig(d=6, L=8, layers=2, wbc="trained"))
    F = deep.predict(params, X)
    params.a = a * 2.0 / np.abs(F).min()  # every margin y F >= 2 with y = sign(F)
    y = np.sign(F)
    ref = deep.loss_and_grad(params, Sequences(X, y), reference=True)
    W_B2, W_C2, w2, P, z = outlier_point(8, 10, d=6, layers=2)
    params2, batch2 = ost.StackParams(W_B2, W_C2, w2), PromptBatch(P, z)
    mamba = OUTLIERS.build(OutlierConfig(layers=2))
    ref2 = mamba.loss_and_grad(params2, batch2, reference=True)

    def no_backward(*args, **kwargs):
        raise AssertionError("the backward ran on a fitted batch")

    monkeypatch.setattr(fs, "stack_backward", no_backward)  # the feature stack's chunks (features.stack.stack_chunk)
    monkeypatch.setattr(ost, "stack_backward", no_backward)
    r = deep.loss_and_grad(params, Sequences(X, y))
    assert r.loss == 0.0 and all(np.array_equal(r.grads[k], ref.grads[k]) for k in ref.grads)
    assert all(np.all(r.grads[k] == 0.0) for k in ("w", "W_B", "W_C", "V"))
    monkeypatch.setattr(ost, "hinge_slope", lambda F, z: np.zeros_like(F))  # every prompt past its margin
    r2 = mamba.loss_and_grad(params2, batch2)
    assert all(np.all(g == 0.0) for g in r2.grads.values())
    np.testing.assert_allclose(r2.F, ref2.F, rtol=1e-12, atol=1e-14)


def test_a_rows_workspace_serves_every_number_of_rows_from_one_array():
    work = Workspace(rows=True)
    a = work.get("G", (5, 3, 2))
    b = work.get("G", (3, 3, 2))
    assert b.shape == (3, 3, 2) and b.flags.c_contiguous and np.shares_memory(a, b)
    c = work.get("G", (8, 3, 2))  # more rows: a larger array, kept from then on
    assert c.shape == (8, 3, 2) and np.shares_memory(work.get("G", (4, 3, 2)), c)
    assert not np.shares_memory(work.get("G", (4, 2, 3)), c)  # another trailing shape, another array
    plain = Workspace()
    assert plain.get("G", (5, 3)) is plain.get("G", (5, 3)) and not np.shares_memory(plain.get("G", (4, 3)),
                                                                                       plain.get("G", (5, 3)))


def _apply_gates_two_passes(A, SIG, KEEP, gated, first):
    """The gate weighing as it was first written (a pass advancing the running products ``beta``, then a pass
    weighing the whole row): the fused loop of ``core.mixer._apply_gates`` must give its bits, signs of zeros
    included."""
    N, R, T = A.shape
    out = A.copy()
    for n in range(N):
        beta = np.zeros(T)
        for t in range(T):
            if gated:
                beta[:t] *= KEEP[n, t]
                beta[t] = SIG[n, t]
            else:
                beta[t] = 1.0
            if t >= first:
                out[n, t - first] *= beta
    return out


@pytest.mark.parametrize("gated,first", [(True, 0), (True, 5), (False, 0), (False, 3)])
def test_fused_gate_weighing_gives_the_two_pass_bits(gated, first):
    from mamba_dynamics.core.mixer import _apply_gates

    rng = np.random.default_rng(7)
    N, T = 9, 13
    A = rng.standard_normal((N, T - first, T))
    A[0, -1, :3] = 0.0  # zeros keep their signs
    A[1, -1, :3] = -0.0
    SIG = rng.random((N, T))
    KEEP = 1.0 - SIG
    KEEP[2, 4] = 0.0  # a decay of exactly 0
    expect = _apply_gates_two_passes(A, SIG, KEEP, gated, first)
    got = A.copy()
    _apply_gates(got, SIG, KEEP, gated, first)
    assert np.array_equal(got.view(np.int64), expect.view(np.int64))
