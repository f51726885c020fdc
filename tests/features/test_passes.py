"""The one-call training passes of the feature models (``content_pass``, ``attention_pass``, ``head_pass``): against
the NumPy reference and against the shared stack's chunked step, in both forms of the Eq. 5 block, with part of
the hinges inactive, and with the same bits for any block or group size (docs/performance_history.md, "The feature steps
without BLAS")."""

import numpy as np
import pytest

from mamba_dynamics.core.stack import block_form
from mamba_dynamics.features import attention, content as content_path, head, model, models
from mamba_dynamics.features.config import FeaturesConfig
from mamba_dynamics.features.data import Sequences


def _grads(p, X, y, content, window=0, wbc="trained", reference=False):
    """The loss and gradients of the model object: the Eq. 5 SSM (``content``) or linear attention."""
    cfg = FeaturesConfig(model="ssm" if content else "lt-mlp", wbc=wbc, window=window)
    return models.REGISTRY.build(cfg).loss_and_grad(p, Sequences(X, y), reference=reference)


def _case(N, L, d, r, m=7, seed=0, half_active=True, content=True):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, L, d))
    p = model.Params(w=rng.standard_normal(d), W=np.eye(d) + 0.3 * rng.standard_normal((d, d)),
                     V=rng.standard_normal((m, d)), a=model.output_layer_random(m, rng),
                     W_B=rng.standard_normal((d, r)), W_C=rng.standard_normal((d, r)))
    F = _grads(p, X, np.ones(N), content, reference=True).F
    p.V = p.V * 3 / np.median(np.abs(F))  # |F| about 3: y = sign(F) leaves the hinge
    y = np.where(np.arange(N) % 2 == 0, np.sign(F), -np.sign(F)) if half_active else -np.sign(F)
    return p, X, y


def _close(k, r):
    assert k.loss == pytest.approx(r.loss, abs=1e-13) and np.allclose(k.F, r.F, rtol=1e-12, atol=1e-13)
    assert set(k.grads) == set(r.grads)
    for name in r.grads:
        np.testing.assert_allclose(k.grads[name], r.grads[name], rtol=1e-10,
                                   atol=1e-13 * max(1.0, np.abs(r.grads[name]).max()))


def test_both_forms_are_covered():
    assert block_form(12, 8, 8) == "factored" and block_form(12, 8, 3) == "pairs"


@pytest.mark.parametrize("L, d, r", [(12, 8, 8), (12, 8, 3), (5, 6, 6), (1, 4, 2)])
@pytest.mark.parametrize("half_active", [True, False])
def test_content_pass_equals_the_reference_in_both_forms(L, d, r, half_active):
    p, X, y = _case(37, L, d, r, half_active=half_active)
    _close(_grads(p, X, y, True), _grads(p, X, y, True, reference=True))
    frozen = _grads(p, X, y, True, wbc="frozen")
    assert set(frozen.grads) == {"w", "V"}


@pytest.mark.parametrize("window", [0, 3])
def test_attention_pass_equals_the_reference(window):
    p, X, y = _case(29, 9, 6, 6, content=False)
    _close(_grads(p, X, y, False, window), _grads(p, X, y, False, window, reference=True))


def test_block_and_group_sizes_change_no_bit(monkeypatch):
    """Every gradient element is one sum over the tokens in order: blocks of 1, 5 or all sequences and head groups
    of 1, 3 or 8 sequences give the same bits, for the Eq. 5 model and linear attention."""
    cases = [(True, True, _case(41, 12, 8, 8)), (True, True, _case(41, 12, 8, 3)),
             (False, False, _case(41, 9, 6, 6, content=False))]
    base = [_grads(p, X, y, c) for g, c, (p, X, y) in cases]
    for block, group in ((1, 1), (5, 3), (1000, 8)):
        for module in (content_path, attention):
            monkeypatch.setattr(module, "pass_block", lambda T, D, P, block=block: block)
            monkeypatch.setattr(module, "HEAD_GROUP", group)
        for (g, c, (p, X, y)), b in zip(cases, base):
            k = _grads(p, X, y, c)
            assert np.array_equal(k.F, b.F) and k.loss == b.loss
            assert all(np.array_equal(k.grads[n], b.grads[n]) for n in b.grads)


def test_content_pass_equals_the_chunked_stack_step(monkeypatch):
    """The one-call pass and the shared stack's chunked step (``stack_chunk``, the Table 3 stacks' path) compute the
    same model: equal to rounding."""
    p, X, y = _case(64, 12, 8, 8)
    k = _grads(p, X, y, True)
    monkeypatch.setattr(content_path, "pairs_small", lambda T, D, r: False)  # the stack's path
    _close(_grads(p, X, y, True), k)


def test_head_pass_compact_and_full_layouts_agree():
    rng = np.random.default_rng(2)
    N, L, d, m = 23, 7, 5, 9
    Y, V, a = rng.standard_normal((N, L, d)), rng.standard_normal((m, d)), rng.standard_normal(m)
    y = np.where(rng.random(N) < 0.5, 1.0, -1.0) * 0.01 * np.where(np.arange(N) % 3 == 0, 1e6, 1.0)
    out = {}
    for compact in (True, False):
        F, act, Gy, dVt = np.empty(N), np.empty(N, np.int64), np.full((N, L, d), np.nan), np.zeros((d, m))
        na = head.head_pass(Y, V, np.ascontiguousarray(V.T), a, y, F, act, Gy, dVt, compact, 4, N)
        out[compact] = F, act[:na], Gy, dVt
    (F1, a1, G1, V1), (F0, a0, G0, V0) = out[True], out[False]
    assert 0 < len(a1) < N and np.array_equal(a1, a0) and np.array_equal(F1, F0) and np.array_equal(V1, V0)
    assert np.array_equal(G1[:len(a1)], G0[a1])
    inactive = np.setdiff1d(np.arange(N), a1)
    assert np.all(G0[inactive] == 0.0)
    _, Fr, dVr, Gr = head.head_reference(Y, V, a, y)
    np.testing.assert_allclose(F1, Fr, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(V1.T, dVr, rtol=1e-12, atol=1e-15 * np.abs(dVr).max())
    np.testing.assert_allclose(G0, Gr, rtol=1e-12, atol=1e-15 * np.abs(Gr).max())


def test_pass_blocks_are_sized_by_bytes():
    """The one-call steps' blocks fill about ``PASS_BYTES`` (62 sequences of the defaults), at least one sequence
    however wide."""
    from mamba_dynamics.features.head import PASS_BYTES, pass_block

    assert pass_block(12, 10, 11) == 62
    assert pass_block(12, 100, 201) < pass_block(12, 10, 11)
    assert pass_block(400, 80, 161) == 1
    T, D, P = 12, 10, 11
    assert pass_block(T, D, P) * 8 * T * (2 * T + 2 * P + 4 * D + 2) <= PASS_BYTES
